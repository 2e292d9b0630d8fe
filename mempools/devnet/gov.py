"""The devnet's x/gov: proposals, votes, the stake-weighted tally and the events around them.

Proposals enter voting at once (the deposit is always enough). A vote replaces the voter's
earlier one. When a block's time passes a proposal's `voting_end`, EndBlock tallies it the way
x/gov does (validators vote with their bonded tokens minus the delegations of delegators who
voted themselves; quorum 0.334, threshold 0.5, veto 0.334) and emits `active_proposal`.
Two event/JSON dialects: `v1` (SDK 0.50) and `v1beta1` (SDK 0.45, legacy content and shapes).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from msgspec import Struct, field

from core.errors import ValidationError

JsonDict = dict[str, Any]
GovVersion = Literal["v1", "v1beta1"]
OPTIONS = {"yes": 1, "abstain": 2, "no": 3, "no_with_veto": 4}
OPTION_NAMES = {1: "VOTE_OPTION_YES", 2: "VOTE_OPTION_ABSTAIN", 3: "VOTE_OPTION_NO", 4: "VOTE_OPTION_NO_WITH_VETO"}
QUORUM, THRESHOLD, VETO = Decimal("0.334"), Decimal("0.5"), Decimal("0.334")
ONE = "1.000000000000000000"


class Tally(Struct, kw_only=True):
    yes: int = 0
    abstain: int = 0
    no: int = 0
    no_with_veto: int = 0


class DevnetProposal(Struct, kw_only=True):
    id: int
    title: str
    description: str
    proposer: str
    voting_period: float
    deposit: int
    status: str = "PROPOSAL_STATUS_VOTING_PERIOD"
    submit_time: str = ""
    voting_start: float = 0.0
    voting_end: float = 0.0
    votes: dict[str, int] = field(default_factory=dict)  # voter (account) -> option number
    final: Tally | None = None
    submitted: bool = False
    """False until the block carrying the submit tx is made (REST does not show it before)."""


def parse_option(option: str) -> int:
    key = option.lower().removeprefix("vote_option_")
    if key not in OPTIONS:
        raise ValidationError(f"vote option must be one of {', '.join(OPTIONS)}, got {option!r}")
    return OPTIONS[key]


def tally(
    votes: dict[str, int], validator_tokens: dict[str, int], delegations: dict[str, tuple[str, int]]
) -> tuple[Tally, int]:
    """x/gov's tally. `validator_tokens`: bonded validator account -> tokens; `delegations`:
    delegator account -> (validator account, tokens). Returns the tally and the bonded total."""
    result = Tally()
    deductions: dict[str, int] = {}

    def add(option: int, amount: int) -> None:
        name = {1: "yes", 2: "abstain", 3: "no", 4: "no_with_veto"}[option]
        setattr(result, name, getattr(result, name) + amount)

    for voter, option in votes.items():
        if voter in validator_tokens:
            continue
        delegation = delegations.get(voter)
        if delegation is not None and delegation[0] in validator_tokens:
            deductions[delegation[0]] = deductions.get(delegation[0], 0) + delegation[1]
            add(option, delegation[1])
    for val, tokens in validator_tokens.items():
        if val in votes:
            add(votes[val], tokens - deductions.get(val, 0))
    return result, sum(validator_tokens.values())


def outcome(t: Tally, bonded: int) -> bool:
    """Passed? (quorum, then veto, then the yes threshold of the non-abstaining votes)."""
    total = t.yes + t.abstain + t.no + t.no_with_veto
    if bonded == 0 or Decimal(total) / bonded < QUORUM:
        return False
    if total - t.abstain == 0:
        return False
    if Decimal(t.no_with_veto) / total > VETO:
        return False
    return Decimal(t.yes) / (total - t.abstain) > THRESHOLD


def _ev(type_: str, *pairs: tuple[str, str]) -> JsonDict:
    return {"type": type_, "attributes": [{"key": k, "value": v, "index": True} for k, v in pairs]}


def submit_events(p: DevnetProposal, version: GovVersion, denom: str, gov_module: str) -> list[JsonDict]:
    """The message events of a MsgSubmitProposal tx (after the fee events)."""
    coins = f"{p.deposit}{denom}"
    pid = ("proposal_id", str(p.id))
    if version == "v1beta1":  # SDK 0.45
        return [
            _ev("message", ("action", "/cosmos.gov.v1beta1.MsgSubmitProposal")),
            _ev("submit_proposal", pid, ("proposal_type", "Text")),
            _ev("coin_spent", ("spender", p.proposer), ("amount", coins)),
            _ev("coin_received", ("receiver", gov_module), ("amount", coins)),
            _ev("transfer", ("recipient", gov_module), ("sender", p.proposer), ("amount", coins)),
            _ev("message", ("sender", p.proposer)),
            _ev("proposal_deposit", ("amount", coins), pid),
            _ev("message", ("module", "gov"), ("sender", p.proposer)),
            _ev("submit_proposal", ("voting_period_start", str(p.id))),
        ]
    m = ("msg_index", "0")
    return [
        _ev("message", ("action", "/cosmos.gov.v1.MsgSubmitProposal"), ("sender", p.proposer), ("module", "gov"), m),
        _ev(
            "submit_proposal",
            pid,
            ("proposal_proposer", p.proposer),
            ("proposal_messages", ",/cosmos.gov.v1.MsgExecLegacyContent"),
            m,
        ),
        _ev("coin_spent", ("spender", p.proposer), ("amount", coins), m),
        _ev("coin_received", ("receiver", gov_module), ("amount", coins), m),
        _ev("transfer", ("recipient", gov_module), ("sender", p.proposer), ("amount", coins), m),
        _ev("proposal_deposit", ("amount", coins), pid, ("depositor", p.proposer), m),
        _ev("submit_proposal", ("voting_period_start", str(p.id)), m),
    ]


def vote_events(pid: int, voter: str, option: int, version: GovVersion) -> list[JsonDict]:
    """The message events of a MsgVote tx: SDK 0.50 names the voter and lists weighted options;
    SDK 0.45 has one weighted option object and the voter only in `message.sender`."""
    if version == "v1beta1":
        return [
            _ev("message", ("action", "/cosmos.gov.v1beta1.MsgVote")),
            _ev("proposal_vote", ("option", f'{{"option":{option},"weight":"{ONE}"}}'), ("proposal_id", str(pid))),
            _ev("message", ("module", "gov"), ("sender", voter)),
        ]
    m = ("msg_index", "0")
    return [
        _ev("message", ("action", "/cosmos.gov.v1.MsgVote"), ("sender", voter), ("module", "gov"), m),
        _ev(
            "proposal_vote",
            ("voter", voter),
            ("option", f'[{{"option":{option},"weight":"{ONE}"}}]'),
            ("proposal_id", str(pid)),
            m,
        ),
    ]


def end_event(p: DevnetProposal, passed: bool) -> JsonDict:
    result = "proposal_passed" if passed else "proposal_rejected"
    return _ev("active_proposal", ("proposal_id", str(p.id)), ("proposal_result", result))

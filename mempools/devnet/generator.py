"""Deterministic content for generated devnet blocks, in the v0.38 / Cosmos SDK 0.50 shape.

Every height's txs are a pure function of (seed, height), plus whatever was injected for that
height, so two devnets with the same seed serve byte-identical blocks (apart from times when no
genesis time is fixed). Events follow what the SDK emits: fee events then message events per tx
(bank transfer, CosmWasm execute, staking delegate, gov submit/vote, and failed txs that still
pay fees), and `finalize_block_events` with the SDK's `mode` attribute (mint, distribution,
slashing, gov `active_proposal`).
"""

from __future__ import annotations

import random
from typing import Any, Literal

import msgspec
from msgspec import Struct

from mempools.devnet.addresses import AddressBook

#: A proposal submitted at height H ends (active_proposal event) at H + VOTING_PERIOD.
VOTING_PERIOD = 10
#: Every SLASH_EVERY heights a validator is slashed for downtime (slash + liveness events).
SLASH_EVERY = 25

TxKind = Literal["transfer", "failed_transfer", "wasm", "delegate", "gov_submit", "gov_vote"]
_KINDS: tuple[TxKind, ...] = ("transfer", "failed_transfer", "wasm", "delegate", "gov_submit", "gov_vote")
_WEIGHTS = (55, 8, 15, 10, 4, 8)

JsonDict = dict[str, Any]


class TxSpec(Struct, frozen=True):
    """What one tx does; rendering it into events is `render_tx`'s job."""

    kind: TxKind
    sender: str
    recipient: str = ""
    amount: int = 0
    denom: str = ""
    contract: str = ""
    proposal_id: int = 0
    option: str = ""
    memo: str = ""
    nonce: int = 0  # makes otherwise identical txs hash differently


def attr(key: str, value: str) -> JsonDict:
    return {"key": key, "value": value, "index": True}


def event(type_: str, *pairs: tuple[str, str]) -> JsonDict:
    return {"type": type_, "attributes": [attr(k, v) for k, v in pairs]}


def random_specs(rng: random.Random, book: AddressBook, denom: str, count: int, height: int) -> list[TxSpec]:
    """The generated txs of one height (before injections)."""
    specs: list[TxSpec] = []
    for i in range(count):
        kind = rng.choices(_KINDS, _WEIGHTS)[0]
        sender, recipient = rng.sample(book.accounts, 2)
        amount = rng.randrange(1, 5_000) * 1000
        if kind == "transfer":
            specs.append(TxSpec(kind, sender, recipient, amount, denom, nonce=i))
        elif kind == "failed_transfer":
            specs.append(TxSpec(kind, sender, recipient, amount * 1_000_000, denom, nonce=i))
        elif kind == "wasm":
            specs.append(TxSpec(kind, sender, recipient, amount, "", contract=rng.choice(book.contracts), nonce=i))
        elif kind == "delegate":
            specs.append(TxSpec(kind, sender, rng.choice(book.validators), amount, denom, nonce=i))
        elif kind == "gov_submit":
            specs.append(TxSpec(kind, sender, amount=10_000_000, denom=denom, proposal_id=height, nonce=i))
        else:
            proposal = max(1, height - rng.randrange(1, VOTING_PERIOD))
            option = rng.choice(("VOTE_OPTION_YES", "VOTE_OPTION_NO", "VOTE_OPTION_ABSTAIN"))
            specs.append(TxSpec(kind, sender, proposal_id=proposal, option=option, nonce=i))
    return specs


def tx_bytes(chain_id: str, height: int, index: int, spec: TxSpec) -> bytes:
    """The raw tx: stable bytes, so its hash (SHA-256) is stable too."""
    return b"devnet-tx:" + msgspec.json.encode([chain_id, height, index, spec])


def _fee_events(spec: TxSpec, book: AddressBook, fee: str, sequence: int) -> list[JsonDict]:
    return [
        event("coin_spent", ("spender", spec.sender), ("amount", fee)),
        event("coin_received", ("receiver", book.fee_collector), ("amount", fee)),
        event("transfer", ("recipient", book.fee_collector), ("sender", spec.sender), ("amount", fee)),
        event("message", ("sender", spec.sender)),
        event("tx", ("fee", fee), ("fee_payer", spec.sender)),
        event("tx", ("acc_seq", f"{spec.sender}/{sequence}")),
        event("tx", ("signature", "ZGV2bmV0LXNpZ25hdHVyZQ==")),
    ]


def _message_events(spec: TxSpec, book: AddressBook) -> list[JsonDict]:
    m = ("msg_index", "0")
    coins = f"{spec.amount}{spec.denom}"
    if spec.kind == "transfer":
        return [
            event(
                "message", ("action", "/cosmos.bank.v1beta1.MsgSend"), ("sender", spec.sender), ("module", "bank"), m
            ),
            event("coin_spent", ("spender", spec.sender), ("amount", coins), m),
            event("coin_received", ("receiver", spec.recipient), ("amount", coins), m),
            event("transfer", ("recipient", spec.recipient), ("sender", spec.sender), ("amount", coins), m),
            event("message", ("sender", spec.sender), m),
        ]
    if spec.kind == "wasm":
        c = ("_contract_address", spec.contract)
        return [
            event(
                "message",
                ("action", "/cosmwasm.wasm.v1.MsgExecuteContract"),
                ("sender", spec.sender),
                ("module", "wasm"),
                m,
            ),
            event("execute", c, m),
            event(
                "wasm",
                c,
                ("action", "transfer"),
                ("from", spec.sender),
                ("to", spec.recipient),
                ("amount", str(spec.amount)),
                m,
            ),
            event("wasm-transfer", c, ("from", spec.sender), ("to", spec.recipient), ("amount", str(spec.amount)), m),
        ]
    if spec.kind == "delegate":
        return [
            event(
                "message",
                ("action", "/cosmos.staking.v1beta1.MsgDelegate"),
                ("sender", spec.sender),
                ("module", "staking"),
                m,
            ),
            event("coin_spent", ("spender", spec.sender), ("amount", coins), m),
            event("coin_received", ("receiver", book.bonded_pool), ("amount", coins), m),
            event(
                "delegate",
                ("validator", spec.recipient),
                ("delegator", spec.sender),
                ("amount", coins),
                ("new_shares", f"{spec.amount}.000000000000000000"),
                m,
            ),
        ]
    if spec.kind == "gov_submit":
        pid = ("proposal_id", str(spec.proposal_id))
        return [
            event(
                "message", ("action", "/cosmos.gov.v1.MsgSubmitProposal"), ("sender", spec.sender), ("module", "gov"), m
            ),
            event("coin_spent", ("spender", spec.sender), ("amount", coins), m),
            event("coin_received", ("receiver", book.gov_module), ("amount", coins), m),
            event("proposal_deposit", ("amount", coins), pid, m),
            event(
                "submit_proposal",
                pid,
                ("proposal_messages", ",/cosmos.gov.v1.MsgExecLegacyContent"),
                ("voting_period_start", str(spec.proposal_id)),
                m,
            ),
        ]
    if spec.kind == "gov_vote":
        return [
            event("message", ("action", "/cosmos.gov.v1.MsgVote"), ("sender", spec.sender), ("module", "gov"), m),
            event(
                "proposal_vote",
                ("option", f'[{{"option":"{spec.option}","weight":"1.000000000000000000"}}]'),
                ("proposal_id", str(spec.proposal_id)),
                ("voter", spec.sender),
                m,
            ),
        ]
    return []  # failed_transfer: no message events, the fee is still paid


def render_tx(rng: random.Random, spec: TxSpec, book: AddressBook, fee_denom: str, height: int) -> JsonDict:
    """One `txs_results` entry (v0.38 JSON shape)."""
    fee = f"{rng.randrange(2, 50) * 100}{fee_denom}"
    gas_wanted = rng.randrange(100, 400) * 1000
    events = _fee_events(spec, book, fee, sequence=height)
    code, codespace, log = 0, "", ""
    if spec.kind == "failed_transfer":
        code, codespace = 5, "sdk"
        log = (
            f"failed to execute message; message index: 0: spendable balance is smaller than "
            f"{spec.amount}{spec.denom}: insufficient funds"
        )
        gas_used = gas_wanted // 2
    else:
        events += _message_events(spec, book)
        gas_used = gas_wanted - rng.randrange(1, 50_000)
    return {
        "code": code,
        "data": "",
        "log": log,
        "info": "",
        "gas_wanted": str(gas_wanted),
        "gas_used": str(gas_used),
        "events": events,
        "codespace": codespace,
    }


def _mode(evs: list[JsonDict], mode: str) -> list[JsonDict]:
    for ev in evs:
        ev["attributes"].append(attr("mode", mode))
    return evs


def block_events(
    rng: random.Random, book: AddressBook, denom: str, height: int, ended_proposal: int | None
) -> list[JsonDict]:
    """`finalize_block_events`: BeginBlock (mint, distribution, slashing) then EndBlock (gov)."""
    minted = rng.randrange(1_000_000, 9_000_000)
    coins = f"{minted}{denom}"
    begin = [
        event("coin_received", ("receiver", book.fee_collector), ("amount", coins)),
        event("coinbase", ("minter", book.fee_collector), ("amount", coins)),
        event(
            "mint",
            ("bonded_ratio", "0.650000000000000000"),
            ("inflation", "0.100000000000000000"),
            ("annual_provisions", "1000000000000.000000000000000000"),
            ("amount", str(minted)),
        ),
        event("coin_spent", ("spender", book.fee_collector), ("amount", coins)),
        event("coin_received", ("receiver", book.distribution), ("amount", coins)),
        event("transfer", ("recipient", book.distribution), ("sender", book.fee_collector), ("amount", coins)),
        event(
            "proposer_reward",
            ("amount", f"{minted // 100}.000000000000000000{denom}"),
            ("validator", book.validators[height % len(book.validators)]),
        ),
    ]
    for val in book.validators:
        share = minted // (len(book.validators) * 10)
        begin.append(event("commission", ("amount", f"{share}.000000000000000000{denom}"), ("validator", val)))
        begin.append(event("rewards", ("amount", f"{share * 9}.000000000000000000{denom}"), ("validator", val)))
    if height % SLASH_EVERY == 0:
        i = (height // SLASH_EVERY) % len(book.consensus)
        cons = book.consensus[i]
        begin.append(event("liveness", ("address", cons), ("missed_blocks", "500"), ("height", str(height))))
        begin.append(
            event(
                "slash",
                ("address", cons),
                ("power", str(rng.randrange(100, 10_000))),
                ("reason", "missing_signature"),
                ("jailed", cons),
            )
        )
    end: list[JsonDict] = []
    if ended_proposal is not None:
        result = "proposal_passed" if rng.random() < 0.7 else "proposal_rejected"
        end.append(event("active_proposal", ("proposal_id", str(ended_proposal)), ("proposal_result", result)))
    return _mode(begin, "BeginBlock") + _mode(end, "EndBlock")

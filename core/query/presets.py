"""Presets: friendly generators of CometBFT queries for the common questions people ask.

A preset has a stable `name`, a title and description for humans, a parameter schema, and
`build(params, chain) -> list[str]` returning one or more queries (a subscription fires once if
any matches). Some presets also return a post-filter (`core.query.filters`) for what the query
language cannot express: a minimum amount of a denom, or "sender and recipient in the same
transfer". The exact queries of every preset are listed in docs/QUERIES.md.

Parameters are validated (bech32 checksum and, when the chain is given, prefix; safe characters;
amounts) and raise `core.errors.ValidationError` naming the parameter. Generated text never
contains a quote from user input: the query language has no escapes, so a value holding `'` is
refused rather than mangled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal, Protocol

from msgspec import Struct

from core.errors import ValidationError
from core.monitor.index import address_bytes
from core.monitor.models import (
    DEFAULT_CONSECUTIVE,
    DEFAULT_REMIND_BEFORE,
    DEFAULT_STALL_MINUTES,
    DEFAULT_WINDOW_THRESHOLDS,
    GovernanceWatch,
    ValidatorWatch,
    VoterWatch,
    Watch,
)
from core.monitor.params import (
    format_durations,
    parse_counts,
    parse_durations,
    parse_minutes,
    parse_percentages,
)
from core.query.addresses import module_address, validate_address
from core.query.errors import QuerySyntaxError
from core.query.filters import PostFilter, TransferFilter
from core.query.numbers import _to_int
from core.query.parser import parse

ParamType = Literal[
    "address", "valoper", "valcons", "validator", "amount", "denom", "name", "attributes", "integer", "choice", "text"
]


class DenomLike(Protocol):
    base: str
    display: str
    exponent: int


class ChainLike(Protocol):
    """What presets need from a chain (`core.models.Chain` fits)."""

    @property
    def bech32_prefix(self) -> str: ...

    @property
    def denoms(self) -> Sequence[Any]: ...


class ParamSpec(Struct, frozen=True, kw_only=True):
    name: str
    type: ParamType
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] | None = None
    default: str | None = None


PresetKind = Literal["query", "monitor"]


class PresetSpec(Struct, frozen=True, kw_only=True):
    """The serialisable description of a preset (what the API and the bots list).

    `kind` "monitor": the preset makes a watch that keeps state across blocks (core/monitor)
    instead of queries; its validator is resolved through the chain when it is made."""

    name: str
    title: str
    description: str
    params: tuple[ParamSpec, ...]
    kind: PresetKind = "query"


class PresetResult(Struct, frozen=True, kw_only=True):
    queries: list[str]
    post_filter: TransferFilter | None = None
    monitor: Watch | None = None


Builder = Callable[[dict[str, Any], "ChainLike | None"], PresetResult]


class Preset:
    """A registry entry: the spec plus the function that turns valid params into queries."""

    __slots__ = ("_builder", "spec")

    def __init__(self, spec: PresetSpec, builder: Builder) -> None:
        self.spec = spec
        self._builder = builder

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def params(self) -> tuple[ParamSpec, ...]:
        return self.spec.params

    def validate(self, params: Mapping[str, Any], chain: ChainLike | None = None) -> dict[str, Any]:
        """Check and normalise params (unknown names, missing required ones, formats)."""
        known = {p.name: p for p in self.spec.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValidationError(f"{self.name}: unknown parameter(s) {', '.join(unknown)}")
        out: dict[str, Any] = {}
        for p in self.spec.params:
            raw = params.get(p.name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if p.required:
                    raise ValidationError(f"{p.name}: required")
                out[p.name] = p.default
                continue
            out[p.name] = _check(p, raw, chain)
        return out

    def compile(self, params: Mapping[str, Any], chain: ChainLike | None = None) -> PresetResult:
        """Validate params and produce the queries and the optional post-filter."""
        result = self._builder(self.validate(params, chain), chain)
        for q in result.queries:
            try:
                parse(q)
            except QuerySyntaxError as exc:  # e.g. too long with many attributes
                raise ValidationError(f"{self.name}: the generated query is not valid: {exc}") from None
        return result

    def build(self, params: Mapping[str, Any], chain: ChainLike | None = None) -> list[str]:
        return self.compile(params, chain).queries

    def post_filter(self, params: Mapping[str, Any], chain: ChainLike | None = None) -> PostFilter | None:
        return self.compile(params, chain).post_filter


# -- parameter checks ---------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_DENOM = re.compile(r"[A-Za-z][A-Za-z0-9/:._\-]{1,127}")
_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_MAX_VALUE = 256


def _safe_value(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field}: must be text")
    if "'" in value:
        raise ValidationError(f"{field}: cannot contain a single quote (queries have no escapes)")
    if len(value) > _MAX_VALUE or not value.isprintable():
        raise ValidationError(f"{field}: must be printable text of at most {_MAX_VALUE} characters")
    return value


def _check_name(field: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value.strip()):
        raise ValidationError(f"{field}: use letters, digits, '_', '.', '-' (at most 64)")
    return value.strip()


def _check(p: ParamSpec, raw: Any, chain: ChainLike | None) -> Any:
    prefix = chain.bech32_prefix if chain is not None and chain.bech32_prefix else None
    if p.type == "address":
        return validate_address(raw, prefix=prefix, field=p.name)
    if p.type == "valoper":
        return validate_address(raw, prefix=prefix and prefix + "valoper", field=p.name)
    if p.type == "valcons":
        refuse_operator_address(p.name, raw)
        return validate_address(raw, prefix=prefix and prefix + "valcons", field=p.name)
    if p.type == "validator":
        return check_validator_address(p.name, raw, prefix)
    if p.type == "text":
        text = _safe_value(p.name, str(raw).strip())
        if len(text) > 200:
            raise ValidationError(f"{p.name}: at most 200 characters")
        return text
    if p.type == "amount":
        text = str(raw).strip()
        if not _AMOUNT.fullmatch(text) or Decimal(text) <= 0:
            raise ValidationError(f"{p.name}: a positive decimal number such as 1.5 is required")
        return text
    if p.type == "denom":
        text = str(raw).strip()
        if not _DENOM.fullmatch(text):
            raise ValidationError(f"{p.name}: {text!r} is not a denom")
        return text
    if p.type == "name":
        return _check_name(p.name, raw)
    if p.type == "integer":
        text = str(raw).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 20:
            raise ValidationError(f"{p.name}: a non-negative integer is required")
        return str(int(text))
    if p.type == "choice":
        text = str(raw).strip().lower()
        if p.choices is None or text not in p.choices:
            raise ValidationError(f"{p.name}: one of {', '.join(p.choices or ())}")
        return text
    if p.type == "attributes":
        return _check_attributes(p.name, raw)
    raise AssertionError(p.type)  # pragma: no cover


def check_validator_address(field: str, raw: object, prefix: str | None) -> str:
    """A validator named by its operator (`...valoper1...`) or consensus (`...valcons1...`)
    address; an account address is refused with what to give instead."""
    text = validate_address(raw, field=field)
    hrp = text.rpartition("1")[0]
    if prefix is not None and hrp in (prefix + "valoper", prefix + "valcons"):
        return text
    if prefix is None and hrp.endswith(("valoper", "valcons")):
        return text
    base = prefix or hrp.removesuffix("valoper").removesuffix("valcons")
    if (prefix is not None and hrp == prefix) or prefix is None:
        raise ValidationError(
            f"{field}: {hrp}1... is an account address; give the validator's operator address "
            f"({base}valoper1...) or its consensus address ({base}valcons1...)"
        )
    raise ValidationError(f"{field}: expected a validator address starting with {prefix}valoper1 or {prefix}valcons1")


def refuse_operator_address(field: str, raw: object) -> None:
    """Refuse an operator address (`...valoper1...`) where a consensus address is needed.

    Slashing events (`slash`, `liveness`) name validators by consensus address; a query on an
    operator address is valid but can never match, so it would be a subscription that silently
    never fires. Checked with or without a chain (the CLI may have none), on the prefix alone.
    """
    text = raw.strip().lower() if isinstance(raw, str) else ""
    hrp = text.rpartition("1")[0]
    if not hrp.endswith("valoper"):
        return
    valcons = hrp.removesuffix("valoper") + "valcons"
    # At most ~250 characters: the API bounds a problem's detail (api/problems.py MAX_ECHO).
    raise ValidationError(
        f"{field}: {hrp}1... is an operator address; use the consensus address ({valcons}1...): "
        "`<binary> tendermint show-address` on the validator, an explorer (Mintscan: "
        "'Consensus address'), or the consensus pubkey in `query staking validator`"
    )


def _check_attributes(field: str, raw: Any) -> tuple[tuple[str, str], ...]:
    """A mapping, or text `key=value,key=value`, of attribute equalities."""
    if isinstance(raw, str):
        pairs = []
        for part in raw.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise ValidationError(f"{field}: expected key=value pairs separated by commas")
            pairs.append((key.strip(), value.strip()))
    elif isinstance(raw, Mapping):
        pairs = list(raw.items())
    else:
        raise ValidationError(f"{field}: expected key=value pairs")
    return tuple((_check_name(f"{field}.{k}", k), _safe_value(f"{field}.{k}", v)) for k, v in pairs)


def _base_amount(
    params: dict[str, Any], chain: ChainLike | None, amount_field: str = "min_amount"
) -> tuple[str, int] | None:
    """(base denom, minimum in base units) from `min_amount` + `denom`, or None without amount."""
    amount = params.get(amount_field)
    if amount is None:
        return None
    return resolve_min_amount(amount, params.get("denom"), chain)


def resolve_min_amount(amount: str, denom: str | None, chain: ChainLike | None) -> tuple[str, int]:
    """(base denom, at least this many base units) for "at least `amount` `denom`", exactly.

    `denom` may be a base denom (`uatom`, `ibc/...`: the amount is in base units) or a display
    denom of the chain (`ATOM`, case-insensitive: the amount is scaled by its exponent); None
    means the chain's first denom, in display units. The amount is never rounded: "1.5 ATOM" is
    1500000 uatom, and an amount finer than the denom's smallest unit (`2.5 uatom`, or `1.5 ATOM`
    when ATOM is not a display denom of the chain, so is read as a base denom) is refused, since
    any rounding would notify for an amount the user did not ask for. Raises `ValidationError`.
    """
    text = str(amount).strip()
    if not _AMOUNT.fullmatch(text) or Decimal(text) <= 0:
        raise ValidationError("min_amount: a positive decimal number such as 1.5 is required")
    denoms = list(chain.denoms) if chain is not None else []
    if denom is None:
        if not denoms:
            raise ValidationError("denom: required with min_amount when the chain has no known denom")
        d = denoms[0]
        return d.base, _scale(text, d.exponent, d.display)
    for d in denoms:
        if d.base == denom:
            return d.base, _scale(text, 0, denom)
    for d in denoms:
        if d.display.lower() == denom.lower():
            return d.base, _scale(text, d.exponent, d.display)
    known = ", ".join(f"{d.display} ({d.exponent} decimals, base {d.base})" for d in denoms)
    hint = f"display denoms of this chain: {known}" if known else "no chain is given, so no display denom is known"
    return denom, _scale(text, 0, denom, f" ({denom} is read as a base denom: {hint})")


def _scale(amount: str, exponent: int, unit: str, hint: str = "") -> int:
    """`amount` (validated decimal text) times 10**exponent, in integers: exact at any size."""
    whole, _, frac = amount.partition(".")
    frac = frac.rstrip("0")
    if len(frac) > exponent:
        places = "no decimals" if exponent == 0 else f"at most {exponent} decimals"
        raise ValidationError(f"min_amount: {amount} {unit} is finer than its smallest unit: {unit} has {places}{hint}")
    return _to_int(whole + frac.ljust(exponent, "0"))


# -- the presets ----------------------------------------------------------------------------------

_ADDRESS = ParamSpec(name="address", type="address", required=True, help="Account address (bech32).")
_MIN = ParamSpec(
    name="min_amount",
    type="amount",
    help="Only notify for at least this amount (in units of `denom`); checked on every coin.",
)
_FEES = ParamSpec(
    name="include_fees",
    type="choice",
    choices=("false", "true"),
    default="false",
    help="Also notify for the transaction fee (a transfer to the fee collector), which every tx pays.",
)
_DENOM_P = ParamSpec(
    name="denom",
    type="denom",
    help="Denom of min_amount: a display denom of the chain (ATOM) or a base denom (uatom, ibc/...).",
)


def _q(tag: str, value: str) -> str:
    return f"{tag} = '{value}'"


_PACKET_KEYS = {
    "received": ("fungible_token_packet.receiver",),
    "sent": ("ibc_transfer.sender",),
    "either": ("fungible_token_packet.receiver", "ibc_transfer.sender"),
}


def _funds(direction: str) -> Builder:
    def build(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
        a = p["address"]
        received = [_q("transfer.recipient", a), _q("fungible_token_packet.receiver", a)]
        sent = [_q("transfer.sender", a), _q("ibc_transfer.sender", a)]
        queries = {"received": received, "sent": sent, "either": received + sent}[direction]
        amount = _base_amount(p, chain)
        include_fees = p["include_fees"] == "true"
        if amount is None and include_fees:
            return PresetResult(queries=queries)
        who = {"received": {"recipient": a}, "sent": {"sender": a}, "either": {"party": a}}[direction]
        pf = TransferFilter(
            denom=amount[0] if amount else None,
            min_amount=amount[1] if amount else None,
            # The address's own prefix is the chain's: this works without a chain (the CLI).
            exclude_recipient=None if include_fees else module_address("fee_collector", a.rpartition("1")[0]),
            also_keys=() if amount else _PACKET_KEYS[direction],
            **who,
        )
        return PresetResult(queries=queries, post_filter=pf)

    return build


def _funds_from_to(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    s, r = p["sender"], p["recipient"]
    amount = _base_amount(p, chain)
    pf = TransferFilter(
        sender=s,
        recipient=r,
        denom=amount[0] if amount else None,
        min_amount=amount[1] if amount else None,
    )
    return PresetResult(queries=[f"{_q('transfer.sender', s)} AND {_q('transfer.recipient', r)}"], post_filter=pf)


def _contract(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    etype = f"wasm-{p['event']}" if p.get("event") else "wasm"
    conds = [_q(f"{etype}._contract_address", p["contract"])]
    conds += [_q(f"{etype}.{k}", v) for k, v in p.get("attributes") or ()]
    return PresetResult(queries=[" AND ".join(conds)])


_OUTCOME = {"succeeded": " AND tx.code = 0", "failed": " AND tx.code > 0", "any": ""}


def _tx_outcome(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    a, code = p["signer"], _OUTCOME[p["outcome"]]
    return PresetResult(
        queries=[f"tm.event = 'Tx'{code} AND {_q(tag, a)}" for tag in ("message.sender", "tx.fee_payer")]
    )


def _proposal_submitted(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    return PresetResult(queries=["tm.event = 'Tx' AND submit_proposal.proposal_id EXISTS"])


_RESULTS = {"passed": "proposal_passed", "rejected": "proposal_rejected", "failed": "proposal_failed"}


def _voting_ended(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    pid = p.get("proposal_id")
    q = "tm.event = 'NewBlock' AND " + (
        _q("active_proposal.proposal_id", pid) if pid else "active_proposal.proposal_id EXISTS"
    )
    if p.get("result") and p["result"] != "any":
        q += " AND " + _q("active_proposal.proposal_result", _RESULTS[p["result"]])
    return PresetResult(queries=[q])


def _slash_tag(attr: str) -> Builder:
    def build(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
        v = p.get("validator")
        return PresetResult(queries=[_q(f"slash.{attr}", v) if v else f"slash.{attr} EXISTS"])

    return build


def _missed_blocks(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    q = _q("liveness.address", p["validator"])
    if p.get("min_missed"):
        q += f" AND liveness.missed_blocks >= {p['min_missed']}"
    return PresetResult(queries=[q])


def _delegation(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    q = _q("delegate.validator", p["validator"])
    amount = _base_amount(p, chain)
    if amount is not None:
        q += f" AND delegate.amount >= {amount[1]}"
    return PresetResult(queries=[q])


def _validator_watch(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    """The watch's settings; its identity (operator, consensus address, moniker) is resolved
    through the chain by the subscription service (core/services/validators.py)."""
    address = p["validator"]
    is_consensus = address.rpartition("1")[0].endswith("valcons")
    watch = ValidatorWatch(
        operator="" if is_consensus else address,
        consensus=address if is_consensus else "",
        consensus_hex=(address_bytes(address) or "") if is_consensus else "",
        window_thresholds=parse_percentages(p["thresholds"]) if p.get("thresholds") else DEFAULT_WINDOW_THRESHOLDS,
        consecutive=parse_counts(p["consecutive"]) if p.get("consecutive") else DEFAULT_CONSECUTIVE,
        stall_minutes=parse_minutes(p["stall_minutes"]) if p.get("stall_minutes") else DEFAULT_STALL_MINUTES,
    )
    return PresetResult(queries=[], monitor=watch)


def _remind(p: dict[str, Any]) -> tuple[int, ...]:
    return parse_durations(p["remind"]) if p.get("remind") else DEFAULT_REMIND_BEFORE


def _voter_watch(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    return PresetResult(queries=[], monitor=VoterWatch(voter=p["voter"], remind_before=_remind(p)))


def _governance_watch(p: dict[str, Any], chain: ChainLike | None) -> PresetResult:
    return PresetResult(queries=[], monitor=GovernanceWatch(remind_before=_remind(p)))


_THRESHOLDS_HELP = (
    "Percentages of the slashing window, e.g. 1, 5, 10 (default: "
    + ", ".join(f"{t:g}" for t in DEFAULT_WINDOW_THRESHOLDS)
    + ")."
)
_REMIND = ParamSpec(
    name="remind",
    type="text",
    default=format_durations(DEFAULT_REMIND_BEFORE),
    help="How long before voting ends to remind, e.g. 24h, 1h, 30m; 'off' for none.",
)


def _preset(
    name: str,
    title: str,
    description: str,
    params: Sequence[ParamSpec],
    builder: Builder,
    kind: PresetKind = "query",
) -> Preset:
    spec = PresetSpec(name=name, title=title, description=description, params=tuple(params), kind=kind)
    return Preset(spec, builder)


_ALL = (
    _preset(
        "funds_received",
        "Funds received",
        "Any token an address receives: bank transfers (also module and IBC payouts, which end in a "
        "transfer) and IBC packets received for it. Fees (transfers to the fee collector) are left out "
        "unless include_fees=true.",
        [_ADDRESS, _MIN, _DENOM_P, _FEES],
        _funds("received"),
    ),
    _preset(
        "funds_sent",
        "Funds sent",
        "Any token an address sends: bank transfers and IBC transfers it starts. Fees are left out "
        "(transfers to the fee collector) unless include_fees=true.",
        [_ADDRESS, _MIN, _DENOM_P, _FEES],
        _funds("sent"),
    ),
    _preset(
        "funds_either",
        "Funds received or sent",
        "Both of the above in one subscription: one notification per transaction.",
        [_ADDRESS, _MIN, _DENOM_P, _FEES],
        _funds("either"),
    ),
    _preset(
        "funds_from_to",
        "Funds sent from one address to another",
        "A bank transfer from `sender` to `recipient` (checked in the same transfer event).",
        [
            ParamSpec(name="sender", type="address", required=True, help="Sending address."),
            ParamSpec(name="recipient", type="address", required=True, help="Receiving address."),
            _MIN,
            _DENOM_P,
        ],
        _funds_from_to,
    ),
    _preset(
        "contract_events",
        "CosmWasm contract events",
        "Events a CosmWasm contract emits: its `wasm` event, or the custom event `wasm-<event>`, "
        "optionally with attribute equalities.",
        [
            ParamSpec(name="contract", type="address", required=True, help="Contract address (bech32)."),
            ParamSpec(name="event", type="name", help="Custom event name, e.g. `transfer` for `wasm-transfer`."),
            ParamSpec(name="attributes", type="attributes", help="Attribute equalities, e.g. action=swap,pair=x."),
        ],
        _contract,
    ),
    _preset(
        "tx_outcome",
        "Transaction outcome for a signer",
        "Transactions signed (sent or fee-paid) by an address that succeeded or failed. Uses the "
        "Mempools reserved key `tx.code`.",
        [
            ParamSpec(name="signer", type="address", required=True, help="Signer address."),
            ParamSpec(
                name="outcome",
                type="choice",
                choices=("any", "succeeded", "failed"),
                default="any",
                help="Which outcome to notify.",
            ),
        ],
        _tx_outcome,
    ),
    _preset(
        "gov_proposal_submitted",
        "Governance proposal submitted",
        "A transaction submitted a governance proposal.",
        [],
        _proposal_submitted,
    ),
    _preset(
        "gov_voting_ended",
        "Governance voting ended",
        "A proposal's voting period ended (end-block event), optionally for one proposal or result.",
        [
            ParamSpec(name="proposal_id", type="integer", help="Only this proposal."),
            ParamSpec(
                name="result",
                type="choice",
                choices=("any", "passed", "rejected", "failed"),
                default="any",
                help="Only this result.",
            ),
        ],
        _voting_ended,
    ),
    _preset(
        "validator_jailed",
        "Validator jailed",
        "A validator was jailed (downtime or double sign). Takes the consensus address (valcons).",
        [ParamSpec(name="validator", type="valcons", help="Consensus address; all validators if omitted.")],
        _slash_tag("jailed"),
    ),
    _preset(
        "validator_slashed",
        "Validator slashed",
        "A validator was slashed. Takes the consensus address (valcons).",
        [ParamSpec(name="validator", type="valcons", help="Consensus address; all validators if omitted.")],
        _slash_tag("address"),
    ),
    _preset(
        "validator_missed_blocks",
        "Validator missing blocks",
        "The slashing module reported missed blocks (`liveness` event) for a validator.",
        [
            ParamSpec(name="validator", type="valcons", required=True, help="Consensus address (valcons)."),
            ParamSpec(name="min_missed", type="integer", help="Only when the missed-block counter is at least this."),
        ],
        _missed_blocks,
    ),
    _preset(
        "delegation_to_validator",
        "Delegation to a validator",
        "Someone delegated to a validator, optionally at least an amount (of the staking denom).",
        [
            ParamSpec(name="validator", type="valoper", required=True, help="Operator address (valoper)."),
            _MIN,
            ParamSpec(
                name="denom",
                type="denom",
                help="Denom of min_amount (default: the chain's first denom, its staking denom).",
            ),
        ],
        _delegation,
    ),
    _preset(
        "validator",
        "Validator health",
        "Everything an operator or delegator watches about one validator, with state: missed blocks "
        "(in a row, and as a share of the slashing window, told once when a threshold is crossed and "
        "once when it recovers), jailed, unjailed, tombstoned, out of or back in the active set, "
        "commission or moniker changed, and the chain stalled. Takes the operator or consensus address.",
        [
            ParamSpec(
                name="validator",
                type="validator",
                required=True,
                help="Operator address (valoper) or consensus address (valcons).",
            ),
            ParamSpec(name="thresholds", type="text", help=_THRESHOLDS_HELP),
            ParamSpec(
                name="consecutive",
                type="text",
                default=", ".join(map(str, DEFAULT_CONSECUTIVE)),
                help="Alert after this many missed blocks in a row, e.g. 5 or 3, 20; 'off' for none.",
            ),
            ParamSpec(
                name="stall_minutes",
                type="text",
                default=str(DEFAULT_STALL_MINUTES),
                help="Alert when the chain makes no block for this many minutes; 'off' for none.",
            ),
        ],
        _validator_watch,
        "monitor",
    ),
    _preset(
        "voter",
        "Governance voter",
        "Proposals for an address that votes: each new proposal with its link, a reminder before "
        "voting ends if it has not voted yet, its votes, and each result with the tally.",
        [ParamSpec(name="voter", type="address", required=True, help="The voting account address."), _REMIND],
        _voter_watch,
        "monitor",
    ),
    _preset(
        "governance",
        "Governance proposals",
        "Every proposal of the chain: new, a reminder before voting ends, and the result with the tally.",
        [_REMIND],
        _governance_watch,
        "monitor",
    ),
)

#: The presets that make watches (state across blocks) rather than queries.
MONITOR_PRESETS = frozenset({"validator", "voter", "governance"})

#: name -> preset, in display order.
PRESETS: Mapping[str, Preset] = MappingProxyType({p.name: p for p in _ALL})


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValidationError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None

"""The one renderer: a notification's events turned into words, for every channel alike.

Telegram (HTML), Discord (embeds) and webhooks (`summary`) all format the same neutral
`Rendered` struct, so a transfer reads "1.5 ATOM received by cosmos1…" everywhere, and the
watcher fills `Notification.summary` through `summarize()` with that same sentence. Amounts are
shown in the chain's display denom (1500000uatom -> 1.5 ATOM); denoms the chain does not describe
(including `ibc/<hash>`) are shown raw, shortened so that a 64-character hash does not swamp a
chat message.

Two things a reader must never be misled by (#15.1):
- A failed tx (code != 0) leads with the failure and why ("❌ MsgSend failed: insufficient funds
  (fee 0.0019 ATOM)"). Its message events were reverted and only the fee payment is left, so
  telling its events as usual would present the fee as a transfer to the fee collector.
- SDK module accounts (the fee collector, the staking pools, ...) are named, not shown as bare
  addresses nobody recognises; their addresses are derived per chain prefix.

One message per event, short (#15.2): every field value over `MAX_VALUE` characters is cut with
its length noted ("… (5000 characters)"), and a channel that still cannot fit the whole asks
`fit()` to show fewer attributes, ending with "… and K more attributes". Nothing is ever split
into several messages: a contract event once arrived as five, the first holding only a title.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import msgspec

from core.chain.blocks import Event, TxMessage
from core.chain.txbody import MSG_SEND
from core.models import Chain, Notification
from core.query.addresses import module_address
from core.support.text import ellipsize

#: Subscription id of the notices Mempools itself sends (a destination was disabled, ...).
SYSTEM_SUBSCRIPTION_ID = "system"
SYSTEM_EVENT_PREFIX = "mempools."

_COIN = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z][a-zA-Z0-9/:._-]{1,127})\s*$")
_MAX_SUMMARY = 280
#: The longest field value shown whole; longer ones are cut with their length noted.
MAX_VALUE = 200
#: The longest headline shown whole (a contract's `action` can be any length).
MAX_HEADLINE = 300


class Field(msgspec.Struct, kw_only=True, frozen=True):
    """One labelled value; `code` asks for monospace (addresses, hashes), `url` makes it a link.
    `attribute` marks an event attribute told as is: those are what `fit()` may leave out."""

    name: str
    value: str
    url: str | None = None
    code: bool = False
    attribute: bool = False


class Rendered(msgspec.Struct, kw_only=True, frozen=True):
    """A notification in neutral form: each channel decides how it looks."""

    title: str
    headline: str
    fields: tuple[Field, ...]
    url: str | None
    summary: str
    chain_name: str
    height: int
    time: datetime
    tx_hash: str | None
    failed: bool = False
    system: bool = False


# -- amounts ----------------------------------------------------------------------------------
def short_denom(denom: str) -> str:
    """`ibc/27394FB0…` keeps 6 hash characters; `factory/osmo1…/uion` keeps its last part."""
    if denom.startswith("ibc/") and len(denom) > 14:
        return f"ibc/{denom[4:10]}…"
    if denom.startswith("factory/"):
        parts = denom.split("/")
        if len(parts) >= 3:
            return f"factory/{short_address(parts[1])}/{'/'.join(parts[2:])}"
    if len(denom) > 32:
        return denom[:20] + "…" + denom[-6:]
    return denom


def _format_decimal(value: Decimal) -> str:
    text = f"{value:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_coin(amount: str, denom: str, chain: Chain | None) -> str:
    """`1500000`, `uatom` -> `1.5 ATOM` when the chain knows uatom, else `1,500,000 uatom`."""
    meta = chain.denom(denom) if chain is not None else None
    value = Decimal(amount)
    if meta is None:
        return f"{_format_decimal(value)} {short_denom(denom)}"
    return f"{_format_decimal(value.scaleb(-meta.exponent))} {meta.display}"


def format_amount(coins: str, chain: Chain | None) -> str:
    """A Cosmos coins string (`100uatom,5uosmo`) for people; unparseable text is returned as is."""
    out: list[str] = []
    for part in coins.split(","):
        if not part.strip():
            continue
        match = _COIN.match(part)
        if match is None:
            return coins
        out.append(format_coin(match.group(1), match.group(2), chain))
    return ", ".join(out) if out else coins


def short_address(address: str) -> str:
    """`cosmos1qypq…x9ab`: enough to recognise, short enough for a sentence."""
    if len(address) <= 20 or "1" not in address:
        return address
    hrp, _, rest = address.rpartition("1")
    return f"{hrp}1{rest[:4]}…{rest[-4:]}"


def short_hash(tx_hash: str) -> str:
    return tx_hash if len(tx_hash) <= 16 else f"{tx_hash[:8]}…{tx_hash[-6:]}"


#: SDK module accounts people meet in events, by module name, and what to call them.
MODULE_ACCOUNTS = {
    "fee_collector": "the fee collector",
    "bonded_tokens_pool": "the staking pool (bonded)",
    "not_bonded_tokens_pool": "the staking pool (not bonded)",
    "distribution": "the distribution module",
    "gov": "the governance module",
    "mint": "the mint module",
}


@functools.lru_cache(maxsize=64)
def _module_names(prefix: str) -> dict[str, str]:
    return {module_address(module, prefix): name for module, name in MODULE_ACCOUNTS.items()}


def account_name(address: str, chain: Chain | None) -> str | None:
    """ "the fee collector" for the chain's fee-collector address; None for any other address."""
    if chain is None or not address:
        return None
    return _module_names(chain.bech32_prefix).get(address)


def who(address: str, chain: Chain | None, labels: Mapping[str, str] | None = None) -> str:
    """An address as a sentence shows it: the owner's label for it (address book), a module
    account's name, else the short address."""
    label = labels.get(address) if labels else None
    return label or account_name(address, chain) or short_address(address)


def _address_field(name: str, address: str, chain: Chain | None) -> Field:
    known = account_name(address, chain)
    if known is not None:
        return Field(name=name, value=f"{known} ({address})")
    return Field(name=name, value=address, code=True)


# -- failed transactions ----------------------------------------------------------------------
#: Plain words for the common result codes of codespace `sdk` (cosmos-sdk types/errors/errors.go).
SDK_CODES = {
    2: "the tx could not be parsed",
    3: "invalid sequence",
    4: "unauthorized",
    5: "insufficient funds",
    6: "unknown request",
    7: "invalid address",
    8: "invalid public key",
    9: "unknown address",
    10: "invalid coins",
    11: "out of gas",
    12: "memo too large",
    13: "insufficient fee",
    14: "too many signatures",
    18: "invalid request",
    19: "tx already in mempool cache",
    21: "tx too large",
    22: "key not found",
    32: "wrong sequence",
    41: "invalid height",
}
_MAX_LOG = 200


def failure_reason(code: int, codespace: str | None) -> str | None:
    """Plain words for a result code, when it is a common one of the SDK (codespace `sdk` or unset)."""
    if codespace not in (None, "", "sdk"):
        return None
    return SDK_CODES.get(code)


def _fee(events: Sequence[Event], chain: Chain | None) -> str | None:
    fees = [t["fee"] for t in _find(events, "tx") if t.get("fee")]
    return format_amount(fees[0], chain) if fees else None


def _attempted(
    messages: Sequence[TxMessage],
    actions: Sequence[str],
    chain: Chain | None,
    labels: Mapping[str, str] | None = None,
) -> str | None:
    """ "Send of 9,000 ATOM to cosmos1…" from the tx body, else the message type from the events."""
    if messages:
        first = messages[0]
        if first.type_url == MSG_SEND and first.amount and first.recipient:
            text = f"Send of {format_amount(first.amount, chain)} to {who(first.recipient, chain, labels)}"
        else:
            text = first.type_url.rsplit(".", 1)[-1]
        return text + (f" (+{len(messages) - 1} more)" if len(messages) > 1 else "")
    return actions[0].rsplit(".", 1)[-1] if actions else None


def _story_failed(
    events: Sequence[Event],
    chain: Chain | None,
    code: int,
    codespace: str | None,
    log: str | None,
    messages: Sequence[TxMessage] = (),
    labels: Mapping[str, str] | None = None,
) -> _Story:
    """What was attempted, why it failed, and the fee as a fee: never the fee as a transfer."""
    reason = failure_reason(code, codespace)
    fee = _fee(events, chain)
    actions = [a["action"] for a in _find(events, "message") if a.get("action")]
    attempted = _attempted(messages, actions, chain, labels)
    cut_log = ellipsize(log.strip(), _MAX_LOG) if log and log.strip() else None
    if attempted and (reason or cut_log):
        headline = f"❌ {attempted} failed: {reason or cut_log}"
        if fee:
            headline += f" (fee {fee})"
    else:
        space = f"{codespace} " if codespace and codespace != "sdk" else ""
        headline = f"❌ Transaction failed (code {space}{code}{': ' + reason if reason else ''})"
        if cut_log:
            headline += f": {cut_log}"
        if fee:
            headline += f"; fee {fee}"
    fields = [Field(name="Error", value=f"code {code}" + (f" ({codespace})" if codespace else ""))]
    if reason:
        fields.append(Field(name="Reason", value=reason))
    if cut_log:
        fields.append(Field(name="Log", value=cut_log, code=True))
    if messages and messages[0].amount:
        fields.append(Field(name="Amount", value=f"{format_amount(messages[0].amount, chain)} (not sent)"))
    if messages and messages[0].recipient:
        fields.append(_address_field("To", messages[0].recipient, chain))
    if messages or actions:
        fields.append(Field(name="Message", value=messages[0].type_url if messages else actions[0], code=True))
    if fee:
        fields.append(Field(name="Fee", value=fee))
    return _Story(headline=headline, fields=fields)


# -- events -----------------------------------------------------------------------------------
def _attrs(event: Event) -> dict[str, str]:
    """Attributes as a dict (first value of a key wins, as a person reading the event would)."""
    out: dict[str, str] = {}
    for attribute in event.attributes:
        out.setdefault(attribute.key, attribute.value)
    return out


def _find(events: Sequence[Event], type_: str) -> list[dict[str, str]]:
    return [_attrs(e) for e in events if e.type == type_]


class _Story(msgspec.Struct, kw_only=True):
    """What happened, in a sentence and a few fields, before the chain/height/tx fields are added."""

    headline: str
    fields: list[Field] = msgspec.field(default_factory=list)


def _transfers(events: Sequence[Event], chain: Chain | None) -> list[dict[str, str]]:
    """Transfers other than the fee payment (which every tx has and nobody subscribes to read)."""
    transfers = [t for t in _find(events, "transfer") if t.get("amount")]
    fee_sinks = {module_address("fee_collector", chain.bech32_prefix)} if chain is not None else set()
    fees = [t["fee"] for t in _find(events, "tx") if t.get("fee")]
    kept: list[dict[str, str]] = []
    for transfer in transfers:
        if transfer.get("recipient") in fee_sinks:
            continue
        if fees and transfer["amount"] == fees[0]:
            fees.pop(0)  # the first transfer of exactly the fee is the fee payment
            continue
        kept.append(transfer)
    return kept or transfers


def _story_transfer(
    events: Sequence[Event],
    chain: Chain | None,
    focus: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> _Story | None:
    transfers = _transfers(events, chain)
    if not transfers:
        return None
    if focus:  # the address the subscription watches: tell its transfer, from its side
        transfers.sort(key=lambda t: focus not in (t.get("sender"), t.get("recipient")))
    first = transfers[0]
    amount = format_amount(first["amount"], chain)
    recipient, sender = first.get("recipient", ""), first.get("sender", "")
    if focus and sender == focus and recipient:
        headline = f"{amount} sent by {who(sender, chain, labels)} to {who(recipient, chain, labels)}"
    else:
        headline = f"{amount} received by {who(recipient, chain, labels)}" if recipient else f"{amount} transferred"
        if sender:
            headline += f" from {who(sender, chain, labels)}"
    if len(transfers) > 1:
        headline += f" (+{len(transfers) - 1} more transfer{'s' if len(transfers) > 2 else ''})"
    fields = [Field(name="Amount", value=amount)]
    if sender:
        fields.append(_address_field("From", sender, chain))
    if recipient:
        fields.append(_address_field("To", recipient, chain))
    return _Story(headline=headline, fields=fields)


_PROPOSAL_RESULTS = {
    "proposal_passed": "passed",
    "proposal_rejected": "rejected",
    "proposal_failed": "failed",
    "proposal_dropped": "dropped",
    "expedited_proposal_rejected": "rejected as expedited (now a regular proposal)",
}


def _story_governance(events: Sequence[Event], chain: Chain | None) -> _Story | None:
    for type_ in ("active_proposal", "inactive_proposal"):
        for attrs in _find(events, type_):
            pid = attrs.get("proposal_id", "?")
            result = attrs.get("proposal_result", "")
            verb = _PROPOSAL_RESULTS.get(result, result.removeprefix("proposal_") or "ended")
            return _Story(headline=f"Proposal #{pid} {verb}", fields=[Field(name="Proposal", value=f"#{pid}")])
    for attrs in _find(events, "submit_proposal"):
        pid = attrs.get("proposal_id", "?")
        fields = [Field(name="Proposal", value=f"#{pid}")]
        if attrs.get("voting_period_start"):
            return _Story(headline=f"Proposal #{pid} submitted and in voting period", fields=fields)
        return _Story(headline=f"Proposal #{pid} submitted", fields=fields)
    for attrs in _find(events, "proposal_deposit"):
        pid = attrs.get("proposal_id", "?")
        amount = format_amount(attrs["amount"], chain) if attrs.get("amount") else "a deposit"
        return _Story(
            headline=f"{amount} deposited on proposal #{pid}", fields=[Field(name="Proposal", value=f"#{pid}")]
        )
    for attrs in _find(events, "proposal_vote"):
        pid = attrs.get("proposal_id", "?")
        voter = attrs.get("voter", "")
        by = f" by {short_address(voter)}" if voter else ""
        return _Story(headline=f"Vote on proposal #{pid}{by}", fields=[Field(name="Proposal", value=f"#{pid}")])
    return None


def _story_validator(events: Sequence[Event], chain: Chain | None) -> _Story | None:
    for attrs in _find(events, "slash"):
        validator = attrs.get("address") or attrs.get("validator") or "a validator"
        reason = attrs.get("reason", "").replace("_", " ")
        jailed = bool(attrs.get("jailed"))
        headline = f"Validator {short_address(validator)} {'jailed and ' if jailed else ''}slashed"
        if reason:
            headline += f" ({reason})"
        fields = [Field(name="Validator", value=validator, code=True)]
        if reason:
            fields.append(Field(name="Reason", value=reason))
        return _Story(headline=headline, fields=fields)
    for attrs in _find(events, "jail") or _find(events, "liveness"):
        validator = attrs.get("address") or attrs.get("jailed") or attrs.get("validator") or "a validator"
        verb = "jailed" if any(e.type == "jail" for e in events) else "is missing blocks"
        return _Story(
            headline=f"Validator {short_address(validator)} {verb}",
            fields=[Field(name="Validator", value=validator, code=True)],
        )
    for type_, verb, key in (
        ("delegate", "delegated to", "validator"),
        ("unbond", "undelegated from", "validator"),
        ("redelegate", "redelegated from", "source_validator"),
    ):
        for attrs in _find(events, type_):
            amount = format_amount(attrs["amount"], chain) if attrs.get("amount") else "Stake"
            validator = attrs.get(key, "")
            headline = f"{amount} {verb} {short_address(validator)}"
            fields = [Field(name="Amount", value=amount), Field(name="Validator", value=validator, code=True)]
            if type_ == "redelegate" and attrs.get("destination_validator"):
                headline += f" to {short_address(attrs['destination_validator'])}"
            delegator = attrs.get("delegator", "")
            if delegator:
                headline += f" by {short_address(delegator)}"
                fields.append(Field(name="Delegator", value=delegator, code=True))
            return _Story(headline=headline, fields=fields)
    return None


def _story_wasm(events: Sequence[Event], chain: Chain | None) -> _Story | None:
    for attrs in _find(events, "wasm"):
        contract = attrs.get("_contract_address", "")
        action = attrs.get("action") or attrs.get("method")
        headline = f"Contract {short_address(contract)} executed" if contract else "Contract executed"
        if action:
            headline += f": {ellipsize(action, MAX_VALUE, counted=True)}"
        fields = [Field(name="Contract", value=contract, code=True)] if contract else []
        if action:
            fields.append(Field(name="Action", value=action))
        told = {"_contract_address", "action", "method"}
        fields += [Field(name=k, value=v, attribute=True) for k, v in attrs.items() if k not in told]
        return _Story(headline=headline, fields=fields)
    return None


def _story_system(events: Sequence[Event], chain: Chain | None) -> _Story | None:
    for event in events:
        if event.type.startswith(SYSTEM_EVENT_PREFIX):
            attrs = _attrs(event)
            return _Story(
                headline=attrs.get("message", event.type.removeprefix(SYSTEM_EVENT_PREFIX)),
                fields=[
                    Field(name=k.replace("_", " ").capitalize(), value=v) for k, v in attrs.items() if k != "message"
                ],
            )
    return None


def _story_generic(events: Sequence[Event], chain: Chain | None) -> _Story:
    actions = [a["action"] for a in _find(events, "message") if a.get("action")]
    if actions:
        name = actions[0].rsplit(".", 1)[-1]
        more = f" (+{len(actions) - 1} more)" if len(actions) > 1 else ""
        return _Story(headline=f"{name}{more}", fields=[Field(name="Message", value=actions[0], code=True)])
    types: list[str] = []
    for event in events:
        if event.type not in types and event.type not in ("tx", "message", "coin_spent", "coin_received"):
            types.append(event.type)
    if not types:
        return _Story(headline="New block" if not events else "Matched events")
    shown = ", ".join(types[:4]) + (f" +{len(types) - 4}" if len(types) > 4 else "")
    return _Story(headline=f"Events: {shown}")


_STORIES = (_story_system, _story_governance, _story_validator, _story_wasm, _story_transfer)


def _story(
    events: Sequence[Event],
    chain: Chain | None,
    focus: str | None = None,
    *,
    tx_code: int | None = None,
    codespace: str | None = None,
    log: str | None = None,
    messages: Sequence[TxMessage] = (),
    labels: Mapping[str, str] | None = None,
) -> _Story:
    if tx_code:
        return _story_failed(events, chain, tx_code, codespace, log, messages, labels)
    for teller in _STORIES:
        story = _story_transfer(events, chain, focus, labels) if teller is _story_transfer else teller(events, chain)
        if story is not None:
            return story
    return _story_generic(events, chain)


def summarize(
    events: Iterable[Event],
    chain: Chain | None,
    *,
    tx_code: int | None = None,
    codespace: str | None = None,
    log: str | None = None,
    messages: Sequence[TxMessage] = (),
    focus: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """One plain sentence for `Notification.summary` ("1.5 ATOM received by cosmos1…").

    `focus` is the address the subscription watches, when it watches one: its transfer is told
    first, from its side ("1.5 ATOM sent by <focus> to …"). A non-zero `tx_code` tells the
    failure instead: `messages` (the tx body) what was attempted, `codespace` and `log` why.
    `labels` (address -> the owner's label, from the address book) name the addresses it knows."""
    story = _story(
        tuple(events), chain, focus, tx_code=tx_code, codespace=codespace, log=log, messages=messages, labels=labels
    )
    return ellipsize(story.headline, _MAX_SUMMARY)


def render(notification: Notification, chain: Chain | None) -> Rendered:
    """Everything a channel needs to show `notification`; `chain` None if it is not configured."""
    system = notification.subscription_id == SYSTEM_SUBSCRIPTION_ID
    story = _story(
        notification.events,
        chain,
        notification.focus,
        tx_code=notification.tx_code,
        codespace=notification.tx_codespace,
        log=notification.tx_log,
        messages=notification.tx_messages,
        labels=notification.labels,
    )
    headline = ellipsize(story.headline, MAX_HEADLINE, counted=True)
    chain_name = chain.name if chain is not None else notification.chain_id
    url = chain.tx_url(notification.tx_hash) if chain is not None and notification.tx_hash else None
    fields = [msgspec.structs.replace(f, value=ellipsize(f.value, MAX_VALUE, counted=True)) for f in story.fields]
    if not system:
        fields.append(Field(name="Chain", value=chain_name))
        fields.append(Field(name="Height", value=str(notification.height)))
        fields.append(Field(name="Time", value=notification.time.strftime("%Y-%m-%d %H:%M:%S UTC")))
        if notification.tx_hash:
            fields.append(Field(name="Tx", value=short_hash(notification.tx_hash), url=url, code=url is None))
    return Rendered(
        title=ellipsize(notification.subscription_name or "Mempools", 200),
        headline=headline,
        fields=tuple(fields),
        url=url,
        summary=notification.summary or ellipsize(headline, _MAX_SUMMARY),
        chain_name=chain_name,
        height=notification.height,
        time=notification.time,
        tx_hash=notification.tx_hash,
        failed=bool(notification.tx_code),
        system=system,
    )


def more_attributes(count: int) -> Field:
    """The line that stands for the attributes `fit()` left out."""
    return Field(name="", value=f"… and {count} more attribute{'s' if count != 1 else ''}")


def fit(rendered: Rendered, fits: Callable[[Rendered], bool]) -> Rendered:
    """`rendered` with as many of its attribute fields as `fits` (a channel's own measure of
    its one message) allows, the rest replaced by "… and K more attributes"; the other fields
    (chain, height, tx, ...) are always kept. Returned unchanged when it fits as it is."""
    if fits(rendered):
        return rendered
    positions = [i for i, f in enumerate(rendered.fields) if f.attribute]
    candidate = rendered
    for keep in range(len(positions) - 1, -1, -1):
        dropped = set(positions[keep:])
        fields = [f for i, f in enumerate(rendered.fields) if i not in dropped]
        fields.insert(positions[keep], more_attributes(len(dropped)))
        candidate = msgspec.structs.replace(rendered, fields=tuple(fields))
        if fits(candidate):
            return candidate
    return candidate

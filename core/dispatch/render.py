"""The one renderer: a notification's events turned into words, for every channel alike.

Telegram (HTML), Discord (embeds) and webhooks (`summary`) all format the same neutral
`Rendered` struct, and the watcher fills `Notification.summary` through `summarize()` with the
same headline. Amounts are shown in the chain's display denom (1500000uatom -> 1.5 ATOM); denoms
the chain does not describe (including `ibc/<hash>`) are shown raw, shortened so that a
64-character hash does not swamp a chat message.

A compact template per kind (#15.1): the headline leads with what happened, one emoji per kind
("📥 +1.5 ATOM from cosmos1ab…cd", "📤 -2 ATOM to …" with a minus sign, "❌ Send of 9,000 ATOM failed: insufficient
funds", "📜", "🏛", "⛓", "🥩", "🔔"), and the few fields below it only say what the headline does
not: the full address to copy, the log, the fee. Chain, height, time and the tx link are not
fields: each channel puts them on one short line of its own (`Rendered.chain_name`, ...), so
nothing is said twice. The subscription name stays (`title`): with ten subscriptions a reader
must know which one fired.

Things a reader must never be misled by:
- A failed tx (code != 0) leads with the failure and why. Its message events were reverted and
  only the fee payment is left, so telling its events as usual would present the fee as a
  transfer to the fee collector; the fee is shown as a fee ("0.0019 ATOM (paid)").
- SDK module accounts (the fee collector, the staking pools, ...) are named, not shown as bare
  addresses nobody recognises; their addresses are derived per chain prefix. An address the
  owner gave a label in their address book (`Notification.labels`) shows that label.
- Chain data is hostile: zero-width, bidi-override and control characters could make one address
  look like another or reverse the text around them, so `visible()` turns them into "�".

One message per event, short (#15.2): every field value over `MAX_VALUE` characters is cut with
its length noted ("… (5000 characters)"), and a channel that still cannot fit the whole asks
`fit()` to show fewer attributes, ending with "… and K more attributes". Nothing is ever split
into several messages: a contract event once arrived as five, the first holding only a title.
"""

from __future__ import annotations

import bisect
import decimal
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
#: What money out is written with ("📤 \u22122 ATOM"): the minus sign (U+2212), not a hyphen.
MINUS = "\u2212"
#: The longest field value shown whole; longer ones are cut with their length noted.
MAX_VALUE = 200
#: The longest field name (an attribute key can be any length).
MAX_NAME = 100
#: The most event attributes a notification shows: a few, then "… and K more attributes".
MAX_ATTRIBUTES = 12
#: The longest failure log shown whole (in its own code block).
MAX_LOG = 1000
#: The longest headline shown whole (a contract's `action` can be any length).
MAX_HEADLINE = 300
#: The longest address-book label shown.
MAX_LABEL = 60
#: Amounts with more digits than this are not real amounts: shown cut, not formatted.
_MAX_DIGITS = 80

#: Zero-width, bidi-control and control characters (and lone surrogates, which no channel can
#: encode): invisible or reordering text in a chat, so shown as "�" instead.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]"
)


def visible(text: str) -> str:
    """`text` with every invisible or text-reordering character replaced by "�"."""
    return _INVISIBLE.sub("\ufffd", text)


class Field(msgspec.Struct, kw_only=True, frozen=True):
    """One labelled value. `code` asks for monospace (an address or hash to copy), `url` makes it
    a link, `block` a code block of its own (a failure log), `label` names the value (an address
    book label, a module account's name) shown with it. `attribute` marks an event attribute told
    as is: those are what `fit()` may leave out."""

    name: str
    value: str
    url: str | None = None
    code: bool = False
    block: bool = False
    label: str | None = None
    attribute: bool = False


class Rendered(msgspec.Struct, kw_only=True, frozen=True):
    """A notification in neutral form: each channel decides how it looks. Chain, height, time and
    tx are not in `fields`: each channel shows them once, on a line of its own."""

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
    if len(amount) > _MAX_DIGITS:
        return f"{ellipsize(amount, 24, counted=True)} {short_denom(denom)}"
    meta = chain.denom(denom) if chain is not None else None
    value = Decimal(amount)
    if meta is None:
        return f"{_format_decimal(value)} {short_denom(denom)}"
    # Exact for any amount a chain can hold (the default context would round past 28 digits).
    exact = decimal.Context(prec=_MAX_DIGITS + 40)
    return f"{_format_decimal(value.scaleb(-meta.exponent, exact))} {meta.display}"


def format_amount(coins: str, chain: Chain | None) -> str:
    """A Cosmos coins string (`100uatom,5uosmo`) for people; unparseable text is returned as is."""
    out: list[str] = []
    for part in coins.split(","):
        if not part.strip():
            continue
        match = _COIN.match(part)
        if match is None:
            return ellipsize(coins, MAX_VALUE, counted=True)
        out.append(format_coin(match.group(1), match.group(2), chain))
    return ", ".join(out) if out else coins


def _signed(sign: str, amount: str) -> str:
    """ "+1.5 ATOM": a sign only before a number the chain gave (not before "abcuatom" or "-5")."""
    return f"{sign}{amount}" if amount[:1].isdigit() else amount


def short_address(address: str) -> str:
    """`cosmos1qypq…x9ab`: enough to recognise, short enough for a sentence."""
    if len(address) <= 20 or "1" not in address:
        return address if len(address) <= 40 else ellipsize(address, 40)
    hrp, _, rest = address.rpartition("1")
    return f"{ellipsize(hrp, 20)}1{rest[:4]}…{rest[-4:]}"


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


Labels = Mapping[str, str]
_NO_LABELS: Labels = {}


def label_of(address: str, chain: Chain | None, labels: Labels = _NO_LABELS) -> str | None:
    """What the owner calls `address` (their address book), else a module account's name."""
    label = labels.get(address)
    if label:
        return ellipsize(visible(label), MAX_LABEL)
    return account_name(address, chain)


def who(address: str, chain: Chain | None, labels: Labels = _NO_LABELS) -> str:
    """An address as a sentence shows it: "Treasury (cosmos1ab…cd)" when the owner labelled it,
    a module account's name, else the short address."""
    if labels.get(address):
        return f"{label_of(address, chain, labels)} ({short_address(address)})"
    return account_name(address, chain) or short_address(address)


def _address_field(name: str, address: str, chain: Chain | None, labels: Labels) -> Field:
    """The whole address, to copy, with its label when it has one."""
    return Field(name=name, value=address, code=True, label=label_of(address, chain, labels))


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
#: What people call the messages they send most, by the message's type name.
MESSAGE_NAMES = {
    "MsgSend": "Send",
    "MsgMultiSend": "Multi-send",
    "MsgTransfer": "IBC transfer",
    "MsgDelegate": "Delegation",
    "MsgUndelegate": "Undelegation",
    "MsgBeginRedelegate": "Redelegation",
    "MsgWithdrawDelegatorReward": "Reward withdrawal",
    "MsgVote": "Vote",
    "MsgDeposit": "Deposit",
    "MsgSubmitProposal": "Proposal submission",
    "MsgExecuteContract": "Contract call",
}
# The last part of an SDK log is its error's own words ("…: insufficient funds"); taken as the
# reason only when it reads like words, not like "gasUsed: 200417".
_PLAIN_REASON = re.compile(r"[A-Za-z][A-Za-z' -]*[a-z]")
_MAX_REASON = 80


def failure_reason(code: int, codespace: str | None) -> str | None:
    """Plain words for a result code, when it is a common one of the SDK (codespace `sdk` or unset)."""
    if codespace not in (None, "", "sdk"):
        return None
    return SDK_CODES.get(code)


def _log_reason(log: str | None) -> str | None:
    tail = log.rsplit(": ", 1)[-1].strip() if log else ""
    if " " in tail and len(tail) <= _MAX_REASON and _PLAIN_REASON.fullmatch(tail):
        return tail
    return None


def _fee(events: Sequence[Event], chain: Chain | None) -> str | None:
    fees = [t["fee"] for t in _find(events, "tx") if t.get("fee")]
    return format_amount(fees[0], chain) if fees else None


def message_name(type_url: str) -> str:
    """ "/cosmos.staking.v1beta1.MsgDelegate" -> "Delegation" (unknown types: "MsgFoo")."""
    name = visible(type_url).rsplit(".", 1)[-1]
    return MESSAGE_NAMES.get(name, ellipsize(name, 80))


def _attempted(messages: Sequence[TxMessage], actions: Sequence[str], chain: Chain | None) -> str:
    """ "Send of 9,000 ATOM" from the tx body, else the message's name from the events."""
    if messages:
        first = messages[0]
        text = message_name(first.type_url)
        if first.type_url == MSG_SEND and first.amount:
            text = f"Send of {format_amount(visible(first.amount), chain)}"
        return text + (f" (+{len(messages) - 1} more)" if len(messages) > 1 else "")
    return message_name(actions[0]) if actions else "Transaction"


def _story_failed(
    events: Sequence[Event],
    chain: Chain | None,
    code: int,
    codespace: str | None,
    log: str | None,
    messages: Sequence[TxMessage],
    labels: Labels,
) -> _Story:
    """What was attempted, why it failed in plain words, the log as is, and the fee as a fee:
    never the fee as a transfer."""
    log = visible(log.strip()) if log and log.strip() else None
    reason = failure_reason(code, codespace) or _log_reason(log)
    attempted = _attempted(messages, [a["action"] for a in _find(events, "message") if a.get("action")], chain)
    space = f"{visible(codespace)} " if codespace and codespace != "sdk" else ""
    why = f": {reason}" if reason else f" (code {space}{code})"
    recipient = visible(messages[0].recipient) if messages and messages[0].recipient else None
    fee = _fee(events, chain)
    fields: list[Field] = []
    if recipient:
        fields.append(_address_field("To", recipient, chain, labels))
    if log and log != reason:
        fields.append(Field(name="Log", value=ellipsize(log, MAX_LOG, counted=True), block=True))
    if fee:
        fields.append(Field(name="Fee", value=f"{fee} (paid)"))
    # Webhooks and /history have no fields: their one line also says to whom, the log, the fee.
    to = f" to {who(recipient, chain, labels)}" if recipient else ""
    summary = f"❌ {attempted}{to} failed{why}" + (f": {ellipsize(log, 160)}" if log and not reason else "")
    summary += f" (fee {fee} paid)" if fee else ""
    headline = f"❌ {attempted} failed{why}"
    return _Story(headline=headline, fields=fields, summary=summary)


# -- events -----------------------------------------------------------------------------------
def _attrs(event: Event) -> dict[str, str]:
    """Attributes as a dict (first value of a key wins, as a person reading the event would),
    with invisible characters made visible."""
    out: dict[str, str] = {}
    for attribute in event.attributes:
        out.setdefault(visible(attribute.key), visible(attribute.value))
    return out


def _find(events: Sequence[Event], type_: str) -> list[dict[str, str]]:
    return [_attrs(e) for e in events if e.type == type_]


class _Story(msgspec.Struct, kw_only=True):
    """What happened: the headline and the few fields that say what it does not. `summary` is
    the one-line text for webhooks and history when it must say more than the headline."""

    headline: str
    fields: list[Field] = msgspec.field(default_factory=list)
    summary: str | None = None


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


def _story_transfer(events: Sequence[Event], chain: Chain | None, focus: str | None, labels: Labels) -> _Story | None:
    """Told from the watched address's side: 📥 +amount from who, 📤 -amount to who (a minus
    sign, not a hyphen), "to Treasury" / "from Treasury" when the watched address has a label;
    without a watched address, 💸 amount from who to who."""
    transfers = _transfers(events, chain)
    if not transfers:
        return None
    if focus:  # the address the subscription watches: tell its transfer, from its side
        transfers.sort(key=lambda t: focus not in (t.get("sender"), t.get("recipient")))
    first = transfers[0]
    amount = format_amount(first["amount"], chain)
    recipient, sender = first.get("recipient", ""), first.get("sender", "")
    fields: list[Field] = []
    # The watched address is the subscription's own (its name says it); a label the owner gave
    # it is named, though: with several labelled wallets, which one moved is the news.
    own = label_of(focus, chain, labels) if focus and labels.get(focus) else None
    if focus and sender == focus and recipient:
        headline = f"📤 {_signed(MINUS, amount)}" + (f" from {own}" if own else "")
        headline += f" to {who(recipient, chain, labels)}"
        fields.append(_address_field("To", recipient, chain, labels))
    elif focus and recipient == focus:
        headline = f"📥 {_signed('+', amount)}" + (f" to {own}" if own else "")
        headline += f" from {who(sender, chain, labels)}" if sender else ""
        if sender:
            fields.append(_address_field("From", sender, chain, labels))
    else:
        headline = f"💸 {amount}"
        if sender:
            headline += f" from {who(sender, chain, labels)}"
            fields.append(_address_field("From", sender, chain, labels))
        if recipient:
            headline += f" to {who(recipient, chain, labels)}"
            fields.append(_address_field("To", recipient, chain, labels))
    if len(transfers) > 1:
        headline += f" (+{len(transfers) - 1} more transfer{'s' if len(transfers) > 2 else ''})"
    return _Story(headline=headline, fields=fields)


_PROPOSAL_RESULTS = {
    "proposal_passed": "passed",
    "proposal_rejected": "rejected",
    "proposal_failed": "failed",
    "proposal_dropped": "dropped",
    "expedited_proposal_rejected": "rejected as expedited (now a regular proposal)",
}


def _proposal(attrs: Mapping[str, str], what: str) -> _Story:
    """ "🏛 Proposal #42 passed: <title>", the title when the event carries one."""
    title = attrs.get("title") or attrs.get("proposal_title")
    return _Story(headline=f"🏛 Proposal #{attrs.get('proposal_id', '?')} {what}" + (f": {title}" if title else ""))


def _story_governance(events: Sequence[Event], chain: Chain | None, labels: Labels) -> _Story | None:
    for type_ in ("active_proposal", "inactive_proposal"):
        for attrs in _find(events, type_):
            result = attrs.get("proposal_result", "")
            return _proposal(attrs, _PROPOSAL_RESULTS.get(result, result.removeprefix("proposal_") or "ended"))
    for attrs in _find(events, "submit_proposal"):
        return _proposal(attrs, "submitted, voting started" if attrs.get("voting_period_start") else "submitted")
    for attrs in _find(events, "proposal_deposit"):
        if attrs.get("voting_period_start"):
            return _proposal(attrs, "voting started")
        amount = format_amount(attrs["amount"], chain) if attrs.get("amount") else "a deposit"
        return _proposal(attrs, f"received {amount}")
    for attrs in _find(events, "proposal_vote"):
        voter = attrs.get("voter", "")
        story = _proposal(attrs, "vote" + (f" by {who(voter, chain, labels)}" if voter else ""))
        story.fields = [_address_field("Voter", voter, chain, labels)] if voter else []
        return story
    return None


def _story_validator(events: Sequence[Event], chain: Chain | None, labels: Labels) -> _Story | None:
    for attrs in _find(events, "slash"):
        validator = attrs.get("address") or attrs.get("validator") or ""
        reason = attrs.get("reason", "").replace("_", " ")
        what = "jailed and slashed" if attrs.get("jailed") else "slashed"
        headline = f"⛓ {who(validator, chain, labels) or 'A validator'} {what}" + (f": {reason}" if reason else "")
        return _Story(headline=headline, fields=[_address_field("Validator", validator, chain, labels)])
    for attrs in _find(events, "jail") or _find(events, "liveness"):
        validator = attrs.get("address") or attrs.get("jailed") or attrs.get("validator") or ""
        verb = "jailed" if any(e.type == "jail" for e in events) else "is missing blocks"
        return _Story(
            headline=f"⛓ {who(validator, chain, labels) or 'A validator'} {verb}",
            fields=[_address_field("Validator", validator, chain, labels)],
        )
    for type_, verb, key in (
        ("delegate", "delegated to", "validator"),
        ("unbond", "undelegated from", "validator"),
        ("redelegate", "redelegated from", "source_validator"),
    ):
        for attrs in _find(events, type_):
            amount = format_amount(attrs["amount"], chain) if attrs.get("amount") else "Stake"
            validator = attrs.get(key, "")
            headline = f"🥩 {amount} {verb} {who(validator, chain, labels)}"
            fields = [_address_field("Validator", validator, chain, labels)]
            if type_ == "redelegate" and attrs.get("destination_validator"):
                headline += f" to {who(attrs['destination_validator'], chain, labels)}"
            delegator = attrs.get("delegator", "")
            if delegator:
                headline += f" by {who(delegator, chain, labels)}"
                fields.append(_address_field("Delegator", delegator, chain, labels))
            return _Story(headline=headline, fields=fields)
    return None


def _story_wasm(events: Sequence[Event], chain: Chain | None, labels: Labels) -> _Story | None:
    """ "📜 Vault (osmo1zacx…qtc9): swap", then the contract to copy and its other attributes."""
    for attrs in _find(events, "wasm"):
        contract = attrs.get("_contract_address", "")
        action = attrs.get("action") or attrs.get("method")
        name = who(contract, chain, labels) if contract else "A contract"
        headline = f"📜 {name}: {ellipsize(action, MAX_VALUE, counted=True)}" if action else f"📜 {name} executed"
        fields = [_address_field("Contract", contract, chain, labels)] if contract else []
        if action and len(action) > MAX_VALUE:
            fields.append(Field(name="Action", value=action))  # cut in the headline: its start, at least
        told = {"_contract_address", "action", "method"}
        fields += [Field(name=k, value=v, attribute=True) for k, v in attrs.items() if k not in told]
        return _Story(headline=headline, fields=fields)
    return None


def _story_system(events: Sequence[Event], chain: Chain | None, labels: Labels) -> _Story | None:
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


def _story_generic(events: Sequence[Event], chain: Chain | None, labels: Labels) -> _Story:
    actions = [a["action"] for a in _find(events, "message") if a.get("action")]
    if actions:
        more = f" (+{len(actions) - 1} more)" if len(actions) > 1 else ""
        return _Story(headline=f"🔔 {message_name(actions[0])}{more}")
    types: list[str] = []
    for event in events:
        type_ = visible(event.type)
        if type_ not in types and type_ not in ("tx", "message", "coin_spent", "coin_received"):
            types.append(type_)
    if not types:
        return _Story(headline="🔔 New block" if not events else "🔔 Matched events")
    shown = ", ".join(ellipsize(t, 60) for t in types[:4]) + (f" +{len(types) - 4}" if len(types) > 4 else "")
    return _Story(headline=f"🔔 Events: {shown}")


_STORIES = (_story_system, _story_governance, _story_validator, _story_wasm)


def _story(
    events: Sequence[Event],
    chain: Chain | None,
    focus: str | None = None,
    *,
    tx_code: int | None = None,
    codespace: str | None = None,
    log: str | None = None,
    messages: Sequence[TxMessage] = (),
    labels: Labels = _NO_LABELS,
) -> _Story:
    if tx_code:
        return _story_failed(events, chain, tx_code, codespace, log, messages, labels)
    for teller in _STORIES:
        story = teller(events, chain, labels)
        if story is not None:
            return story
    return _story_transfer(events, chain, focus, labels) or _story_generic(events, chain, labels)


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
    """One line for `Notification.summary`: the headline ("📥 +1.5 ATOM from cosmos1…").

    `focus` is the address the subscription watches, when it watches one: its transfer is told
    first, from its side. A non-zero `tx_code` tells the failure instead: `messages` (the tx
    body) what was attempted, `codespace` and `log` why. `labels`: the owner's names for
    addresses (address book), shown where those addresses are."""
    story = _story(
        tuple(events),
        chain,
        focus,
        tx_code=tx_code,
        codespace=codespace,
        log=log,
        messages=messages,
        labels=labels or _NO_LABELS,
    )
    return ellipsize(story.summary or story.headline, _MAX_SUMMARY)


def _cut(field: Field) -> Field:
    limit = MAX_LOG if field.block else MAX_VALUE
    return msgspec.structs.replace(
        field, name=ellipsize(field.name, MAX_NAME), value=ellipsize(field.value, limit, counted=True)
    )


def render(notification: Notification, chain: Chain | None) -> Rendered:
    """Everything a channel needs to show `notification`; `chain` None if it is not configured."""
    system = notification.subscription_id == SYSTEM_SUBSCRIPTION_ID
    url = chain.tx_url(notification.tx_hash) if chain is not None and notification.tx_hash else None
    if notification.alert is not None:
        # Imported here: alerts are told with this module's helpers (core/dispatch/alerts.py).
        from core.dispatch.alerts import alert_story

        told = alert_story(notification.alert, chain, notification.labels)
        said, summary, fields, url = told.headline, "", told.fields, told.url or url
    else:
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
        said, summary, fields = story.headline, story.summary or "", tuple(story.fields)
    headline = ellipsize(said, MAX_HEADLINE, counted=True)
    return Rendered(
        title=ellipsize(visible(notification.subscription_name) or "Mempools", 200),
        headline=headline,
        fields=tuple(_cut(f) for f in fields),
        url=url,
        summary=notification.summary or ellipsize(summary or headline, _MAX_SUMMARY),
        chain_name=chain.name if chain is not None else notification.chain_id,
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
    """`rendered` with at most `MAX_ATTRIBUTES` of its attribute fields, and only as many as
    `fits` (a channel's own measure of its one message) allows, the rest replaced by "… and K
    more attributes"; the other fields (contract, fee, ...) are always kept. Returned unchanged
    when it fits as it is. If even without attributes it does not fit (hostile text that escapes
    to six times its length), every text is cut shorter until it does.

    Fewer attributes never make a message longer, so the count is found by bisection: an event
    with 10,000 attributes costs ~14 measurements, not 10,000."""
    positions = [i for i, f in enumerate(rendered.fields) if f.attribute]
    most = min(len(positions), MAX_ATTRIBUTES)

    def keeping(keep: int) -> Rendered:
        if keep == len(positions):
            return rendered
        dropped = set(positions[keep:])
        fields = [f for i, f in enumerate(rendered.fields) if i not in dropped]
        fields.insert(positions[keep], more_attributes(len(dropped)))
        return msgspec.structs.replace(rendered, fields=tuple(fields))

    # The largest keep in [0, most] whose message fits (0 when none does).
    too_many = bisect.bisect_left(range(most + 1), True, key=lambda keep: not fits(keeping(keep)))
    candidate = keeping(max(0, too_many - 1))
    for cap in _TIGHTER:  # still too long (values that escape to many times their length): cut all
        if fits(candidate):
            break
        candidate = msgspec.structs.replace(
            candidate,
            title=ellipsize(candidate.title, cap),
            headline=_shorter(candidate.headline, cap),
            fields=tuple(
                msgspec.structs.replace(f, name=ellipsize(f.name, cap), value=_shorter(f.value, cap))
                for f in candidate.fields
            ),
        )
    return candidate


_COUNTED = re.compile(r"… \(\d+ characters\)$")


def _shorter(text: str, cap: int) -> str:
    """`text` cut to `cap`, keeping the length an earlier cut noted (the whole's, not the cut's)."""
    noted = _COUNTED.search(text)
    if noted is None or len(text) <= cap:
        return ellipsize(text, cap, counted=True)
    return text[: max(0, cap - len(noted.group()))] + noted.group()


#: The ever shorter caps `fit()` cuts every text to when leaving out attributes was not enough.
_TIGHTER = (100, 50, 30)

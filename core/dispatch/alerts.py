"""How an alert reads: the headline people see first, the figures under it, and whether it rings.

An alert (core/monitor) has no events to tell; its story is told from what the monitor knew: the
validator's moniker and address, the share of the slashing window missed and the share at which
x/slashing jails, the proposal's title (untrusted text: cut, invisible characters shown, and
escaped by each channel like every other value) and its link.

Which alerts ring: those that need someone to act (missing blocks, jailed, tombstoned, out of the
active set, chain stalled, voting about to end, a watched voter who has not voted). Good news and
governance news (a new proposal, a result, a vote cast, recovering, back in the set) arrive
silently, so nobody is woken at 3 a.m. for a proposal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import msgspec

from core.dispatch.render import Field, short_address, visible, who
from core.models import Chain
from core.monitor.models import Alert
from core.monitor.window import format_percent
from core.support.text import ellipsize

_LOUD = frozenset(
    {
        "missed_blocks",
        "consecutive_missed",
        "jailed",
        "tombstoned",
        "left_active_set",
        "chain_stalled",
        "proposal_ending",
        "not_voted",
    }
)

_RESULT_WORDS = {"passed": "✅ passed", "rejected": "❌ was rejected", "failed": "⚠️ failed"}
_OPTION_WORDS = {"yes": "Yes", "no": "No", "abstain": "Abstain", "no_with_veto": "No with veto"}


class AlertStory(msgspec.Struct, frozen=True, kw_only=True):
    headline: str
    fields: tuple[Field, ...]
    url: str | None = None


def is_quiet(alert: Alert) -> bool:
    """Whether `alert` is delivered without a sound (see the module docstring)."""
    return alert.kind not in _LOUD


def _int(text: str | None) -> str:
    try:
        return f"{int(text or '0'):,}"
    except ValueError:
        return text or "?"


def _pct(text: str | None) -> str:
    try:
        value = float(text or "0")
    except ValueError:
        return text or "?"
    return format_percent(value)


def _when(text: str | None) -> str:
    if not text:
        return "?"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return text
    return at.strftime("%b %-d, %H:%M UTC")


def _option(text: str | None) -> str:
    return ", ".join(_OPTION_WORDS.get(part.strip().split(" ")[0], part.strip()) for part in (text or "?").split(","))


def _validator_name(alert: Alert) -> str:
    if alert.moniker:
        return ellipsize(visible(alert.moniker), 60)
    return short_address(alert.validator) if alert.validator else "A validator"


def _proposal_name(alert: Alert) -> str:
    title = ellipsize(visible(alert.title or ""), 120)
    if title == f"Proposal #{alert.proposal_id}":
        title = ""  # what is said when x/gov could not be asked: the number alone says it
    return f"#{alert.proposal_id}" + (f" “{title}”" if title else "")


def _validator_fields(alert: Alert, d: Mapping[str, str]) -> list[Field]:
    fields = []
    if alert.moniker:
        fields.append(Field(name="Validator", value=ellipsize(visible(alert.moniker), 100)))
    if alert.validator:
        fields.append(Field(name="Operator", value=alert.validator, code=True))
    if d.get("window") and d.get("window") != "0" and "missed" in d:
        fields.append(
            Field(
                name="Missed in window", value=f"{_int(d['missed'])} of {_int(d['window'])} ({_pct(d.get('percent'))})"
            )
        )
    if d.get("consecutive") and d.get("consecutive") != "0":
        fields.append(Field(name="In a row", value=_int(d["consecutive"])))
    if d.get("jail_percent"):
        fields.append(Field(name="Jailed at", value=f"{_pct(d['jail_percent'])} missed"))
    return fields


def alert_story(alert: Alert, chain: Chain | None, labels: Mapping[str, str] | None = None) -> AlertStory:
    """Headline and fields of `alert` (`labels`: the owner's address book names)."""
    labels = labels or {}
    d = alert.details
    chain_name = chain.name if chain is not None else "The chain"
    name = _validator_name(alert)
    kind = alert.kind
    fields: list[Field] = []
    if kind in ("missed_blocks", "missed_blocks_recovered", "consecutive_missed", "signing_again"):
        fields = _validator_fields(alert, d)
        threshold = _pct(d.get("threshold"))
        share = f"{_int(d.get('missed'))} of {_int(d.get('window'))}"
        if kind == "missed_blocks":
            level = float(d.get("threshold") or 0)
            mark = "🔴" if level >= 50 else "🟠" if level >= 5 else "🟡"
            headline = f"{mark} {name} is missing blocks: over {threshold} of the window ({share})"
        elif kind == "missed_blocks_recovered":
            headline = f"🟢 {name} is recovering: under {threshold} of the window missed ({share})"
        elif kind == "consecutive_missed":
            headline = f"🔴 {name} missed {_int(d.get('threshold'))} blocks in a row"
        else:
            headline = f"🟢 {name} is signing again after {_int(d.get('streak'))} missed blocks"
    elif kind == "jailed":
        reason = d.get("reason", "").replace("_", " ")
        headline = f"⛔ {name} was jailed" + (f" ({reason})" if reason else "")
        fields = _validator_fields(alert, d)
    elif kind == "tombstoned":
        headline = f"☠️ {name} was tombstoned for double signing: it can never be unjailed"
        fields = _validator_fields(alert, {})
    elif kind == "unjailed":
        headline = f"✅ {name} was unjailed"
        fields = _validator_fields(alert, {})
    elif kind == "left_active_set":
        headline = f"⚠️ {name} left the active set: it no longer signs or earns rewards"
        fields = _validator_fields(alert, {})
    elif kind == "joined_active_set":
        size = d.get("set_size")
        headline = f"✅ {name} is in the active set" + (f" ({size} validators)" if size else "")
        fields = _validator_fields(alert, {})
    elif kind == "commission_changed":
        headline = f"💼 {name} changed its commission: {_rate(d.get('old'))} → {_rate(d.get('new'))}"
        fields = _validator_fields(alert, {})
    elif kind == "moniker_changed":
        old, new = (ellipsize(visible(d.get(k, "")), 60) for k in ("old", "new"))
        headline = f"🏷 {old or 'A validator'} is now called {new}"
        fields = _validator_fields(alert, {})
    elif kind == "chain_stalled":
        headline = (
            f"🧊 {chain_name} has made no new block for {d.get('minutes', '?')} min "
            f"(last: height {_int(d.get('height'))} at {_when(d.get('last_block_time'))})"
        )
    elif kind == "chain_resumed":
        after = f", after {d['minutes']} min" if d.get("minutes") else ""
        headline = f"▶️ {chain_name} is making blocks again (height {_int(d.get('height'))}{after})"
    else:
        return _governance(alert, chain, labels)
    return AlertStory(headline=headline, fields=tuple(fields))


def _rate(text: str | None) -> str:
    try:
        return _pct(str(float(text or "") * 100))
    except ValueError:
        return text or "?"


def _governance(alert: Alert, chain: Chain | None, labels: Mapping[str, str]) -> AlertStory:
    d = alert.details
    proposal = _proposal_name(alert)
    voter = who(alert.voter, chain, labels) if alert.voter else ""
    fields: list[Field] = []
    if alert.title:
        fields.append(Field(name="Proposal", value=f"#{alert.proposal_id} {visible(alert.title)}", url=alert.url))
    if alert.voter:
        fields.append(Field(name="Voter", value=alert.voter, code=True, label=labels.get(alert.voter)))
    if d.get("voting_end"):
        fields.append(Field(name="Voting ends", value=_when(d["voting_end"])))
    kind = alert.kind
    if kind == "proposal_new":
        if d.get("voting_end"):
            status = "voting until " + _when(d["voting_end"])
        elif d.get("status") == "unknown":
            status = "its title and dates could not be read from the chain (its REST API did not answer)"
        else:
            status = "in its deposit period"
        headline = f"🗳 New proposal {proposal}: {status}"
    elif kind == "proposal_voting":
        headline = f"🗳 Voting opened on proposal {proposal} until {_when(d.get('voting_end'))}"
    elif kind == "proposal_ending":
        headline = f"⏰ Voting on proposal {proposal} ends in {d.get('left', '?')}"
    elif kind == "not_voted":
        headline = f"⏰ {voter} has not voted on proposal {proposal}: voting ends in {d.get('left', '?')}"
    elif kind == "vote_cast":
        headline = f"🗳 {voter} voted {_option(d.get('option'))} on proposal {proposal}"
        fields.append(Field(name="Vote", value=_option(d.get("option"))))
    else:  # proposal_result
        result = d.get("result", "ended")
        headline = f"🏛 Proposal {proposal} {_RESULT_WORDS.get(result, result)}"
        tally = _tally(d)
        if tally:
            fields.append(Field(name="Tally", value=tally))
        if alert.voter:
            voted = d.get("voted", "did not vote")
            fields.append(Field(name="Voted", value=_option(voted) if voted != "did not vote" else "did not vote"))
    return AlertStory(headline=headline, fields=tuple(fields), url=alert.url)


def _tally(d: Mapping[str, str]) -> str:
    names = (("yes", "Yes"), ("no", "No"), ("no_with_veto", "Veto"), ("abstain", "Abstain"))
    try:
        counts = [(label, int(d[key])) for key, label in names if key in d]
    except ValueError:
        return ""
    total = sum(c for _, c in counts)
    if not counts or total <= 0:
        return ""
    return " · ".join(f"{label} {100 * c / total:.1f}%" for label, c in counts)


def alert_summary(alert: Alert, chain: Chain | None, labels: Mapping[str, str] | None = None) -> str:
    """The one line stored as `Notification.summary` (what lists and webhooks show)."""
    return ellipsize(alert_story(alert, chain, labels).headline, 280)

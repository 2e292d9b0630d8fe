"""A monitoring watch (`Subscription.monitor`) in a reader's words, the same everywhere.

The bots' /list, a subscription's card, the answer to /validator and /voter, and the console's
subscription pages must say what a watch will tell, with its own settings (thresholds set
through the REST API read differently from the defaults). The words live here once, as plain
text next to how alerts read (alerts.py); each front door escapes them for its own markup
(Telegram HTML, Discord markdown, Jinja), because monikers and labels come from chains and users.
"""

from __future__ import annotations

import msgspec

from core.dispatch.render import short_address
from core.monitor.models import GovernanceWatch, ValidatorWatch, VoterWatch, Watch
from core.monitor.params import format_duration


class WatchSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a listing: `emoji`, the address it is about (shortened; "" for a whole-chain
    watch) and its settings ("missed blocks 0.5…90% of window, 5 in a row, stall 10 min")."""

    emoji: str
    address: str
    settings: str


def _percent(value: float) -> str:
    return f"{value:g}"


def window_text(watch: ValidatorWatch) -> str:
    """ "missed blocks 0.5…90% of window" (one threshold: "missed blocks 5% of window")."""
    values = watch.window_thresholds
    if not values:
        return "no missed-block thresholds"
    if len(values) == 1:
        return f"missed blocks {_percent(values[0])}% of window"
    return f"missed blocks {_percent(values[0])}…{_percent(values[-1])}% of window"


def streak_text(watch: ValidatorWatch) -> str:
    if not watch.consecutive:
        return "no streak alerts"
    return f"{', '.join(map(str, watch.consecutive))} in a row"


def stall_text(watch: ValidatorWatch) -> str:
    return f"stall {watch.stall_minutes} min" if watch.stall_minutes else "no stall alerts"


def reminders_text(remind_before: tuple[int, ...]) -> str:
    """ "reminders 24 h, 1 h", or "no reminders"."""
    if not remind_before:
        return "no reminders"
    return "reminders " + ", ".join(format_duration(s) for s in remind_before)


def validator_address(watch: ValidatorWatch) -> str:
    """The address people know it by: the operator's, or the consensus address when that is all
    that could be had (no REST endpoint)."""
    return watch.operator or watch.consensus


def summary(watch: Watch) -> WatchSummary:
    if isinstance(watch, ValidatorWatch):
        settings = f"{window_text(watch)}, {streak_text(watch)}, {stall_text(watch)}"
        return WatchSummary(emoji="🛡", address=short_address(validator_address(watch)), settings=settings)
    if isinstance(watch, VoterWatch):
        return WatchSummary(emoji="🗳", address=short_address(watch.voter), settings=reminders_text(watch.remind_before))
    assert isinstance(watch, GovernanceWatch)
    return WatchSummary(emoji="🏛", address="", settings=reminders_text(watch.remind_before))


def told(watch: Watch) -> list[str]:
    """What the watch will tell, one item per line, for the answer that creates it."""
    if isinstance(watch, ValidatorWatch):
        lines = []
        if watch.window_thresholds:
            shown = ", ".join(_percent(t) for t in watch.window_thresholds)
            lines.append(
                f"missed blocks: once when it crosses {shown}% of the slashing window, and once when it "
                "drops back below each (never once per block)"
            )
        if watch.consecutive:
            lines.append(f"{' and '.join(map(str, watch.consecutive))} blocks missed in a row, and when it signs again")
        lines.append("jailed, unjailed, tombstoned, out of or back in the active set, commission or moniker changed")
        if watch.stall_minutes:
            lines.append(f"the chain stalled: no new block for {watch.stall_minutes} min")
        return lines
    times = [format_duration(s) for s in watch.remind_before]
    remind = (", ".join(times[:-1]) + " and " + times[-1]) if len(times) > 1 else "".join(times)
    reminders = "reminders" if len(times) > 1 else "a reminder"
    if isinstance(watch, VoterWatch):
        lines = ["each new proposal, with its link"]
        if remind:
            lines.append(f"{reminders} {remind} before voting ends while it has not voted")
        return [*lines, "each vote it casts, and each result with the tally"]
    lines = ["each new proposal, with its link"]
    if remind:
        lines.append(f"{reminders} {remind} before voting ends")
    return [*lines, "each result with the tally"]


def other_settings(watch: Watch) -> str:
    """What else can be set, for "other settings: /subscribe with the preset"."""
    return "thresholds, streak, stall minutes" if isinstance(watch, ValidatorWatch) else "reminder times"


def quiet_note(watch: Watch) -> str:
    """Which of its alerts arrive without a sound (core/dispatch/alerts.py `is_quiet`)."""
    if isinstance(watch, ValidatorWatch):
        return (
            "Good news (recovered, signing again, unjailed, back in the set) and changes of commission or "
            "moniker arrive silently; trouble rings."
        )
    return "Governance news (new proposals, votes, results) arrives silently; only the reminders ring."

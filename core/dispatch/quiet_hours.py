"""Quiet hours: a chat's nightly window in which notifications arrive without a sound.

Nothing is held back or lost during quiet hours: a message is delivered as always, only silently
(Telegram `disable_notification`, Discord's SUPPRESS_NOTIFICATIONS flag). Holding messages until
morning would make an alert about a drained wallet useless, and a delivery that waits hours would
tie up the outbox; a silent message costs nothing and is there when the reader looks.

The window is wall-clock time in the chat's IANA timezone, so it follows the chat through daylight
saving changes: "23:00-07:00 Europe/Berlin" ends at 07:00 Berlin time in winter and in summer.
A window whose start is after its end wraps past midnight; start == end is no window at all.
"""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, time

from core.errors import ValidationError
from core.models import Notification, QuietHours

#: No IANA name is longer (the longest is 32); a longer one is refused before any lookup.
MAX_TIMEZONE = 64
USAGE = "give quiet hours as HH:MM-HH:MM and a timezone, e.g. 23:00-07:00 Europe/Berlin"
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_WINDOW = re.compile(r"(\S+?)\s*-\s*(\S+)")


@functools.cache
def _zone_names() -> dict[str, str]:
    """Every IANA name the tz database offers, by its lower-cased form (names are typed on phones).

    Read once: `available_timezones` walks the tz database on disk."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def parse_time(text: str) -> str:
    """ "7:00" or "07:00" as "07:00"; ValidationError in plain words for "25:00" or "7"."""
    match = _CLOCK.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        shown = text.strip()[:20]
        raise ValidationError(f"'{shown}' is not a time of day: use HH:MM, from 00:00 to 23:59")
    return f"{int(match[1]):02d}:{match[2]}"


def parse_timezone(text: str) -> str:
    """The canonical IANA name ("europe/berlin" gives "Europe/Berlin"); an unknown one is refused
    with the closest real name, when there is one."""
    name = text.strip()
    if not name:
        raise ValidationError(f"timezone: required; {USAGE}")
    if len(name) > MAX_TIMEZONE:
        raise ValidationError(f"timezone: at most {MAX_TIMEZONE} characters, e.g. Europe/Berlin")
    names = _zone_names()
    found = names.get(name.lower())
    if found is not None:
        return found
    close = difflib.get_close_matches(name.lower(), list(names), n=1)
    hint = f" Did you mean {names[close[0]]}?" if close else " Use an IANA name such as Europe/Berlin or UTC."
    raise ValidationError(f"I don't know the timezone '{name}'.{hint}")


def quiet_hours(start: str, end: str, timezone: str) -> QuietHours | None:
    """Checked and normalised quiet hours; None when start == end (no window: quiet hours off)."""
    window = QuietHours(start=parse_time(start), end=parse_time(end), timezone=parse_timezone(timezone))
    return None if window.start == window.end else window


def parse_quiet_hours(text: str) -> QuietHours | None:
    """ "23:00-07:00 Europe/Berlin" (as typed in a chat) as QuietHours; "off" (or "HH:MM-HH:MM" with
    the same start and end) as None."""
    words = text.split()
    if len(words) == 1 and words[0].lower() == "off":
        return None
    if len(words) < 2:
        raise ValidationError(USAGE)
    window = _WINDOW.fullmatch(" ".join(words[:-1]))
    if window is None:
        raise ValidationError(USAGE)
    return quiet_hours(window[1], window[2], words[-1])


def _clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def is_quiet(window: QuietHours | None, now: datetime) -> bool:
    """Whether `now` (timezone-aware) falls inside the window, in the window's own timezone.

    A timezone the tz database no longer has (it was checked when set; a later tzdata may drop
    or rename a zone) counts as not quiet: a message with a sound beats one never delivered."""
    if window is None or window.start == window.end:
        return False
    try:
        zone = zoneinfo.ZoneInfo(window.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    local = now.astimezone(zone).time().replace(tzinfo=None)
    start, end = _clock_time(window.start), _clock_time(window.end)
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps past midnight


def bundle_is_silent(notifications: Iterable[Notification]) -> bool:
    """One message for several notifications (core/dispatch/bundle.py) makes a sound if any of
    them would: bundled with a silent subscription's match, a loud one must still be heard."""
    return all(n.silent for n in notifications)


def describe(window: QuietHours | None) -> str:
    """For a chat: "23:00-07:00 (Europe/Berlin)" or "off"."""
    return "off" if window is None else f"{window.start}-{window.end} ({window.timezone})"

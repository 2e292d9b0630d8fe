"""Reading the settings people type for a watch: thresholds, streaks, reminder times.

The same texts come from a chat command, the console's form and the REST API's `params`, so one
reader with one set of error messages serves all three (each names the parameter).
"""

from __future__ import annotations

import re

from core.errors import ValidationError

_DURATION = re.compile(r"(?i)^\s*(\d{1,5})\s*(d|h|m|min|s)?\s*$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}


def parse_percentages(text: str, *, field: str = "thresholds") -> tuple[float, ...]:
    """ "0.5, 1, 5%" -> (0.5, 1.0, 5.0): ascending, distinct, each above 0 and at most 100."""
    values: list[float] = []
    for part in text.replace("%", " ").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise ValidationError(f"{field}: {part!r} is not a percentage (write e.g. 1, 5, 10)") from None
        if not 0 < value <= 100:
            raise ValidationError(f"{field}: {part}% is not above 0 and at most 100")
        values.append(value)
    if not values:
        raise ValidationError(f"{field}: give at least one percentage, e.g. 1, 5, 10")
    if len(values) > 20:
        raise ValidationError(f"{field}: at most 20 thresholds")
    return tuple(sorted(set(values)))


def parse_counts(text: str, *, field: str = "consecutive", maximum: int = 1_000_000) -> tuple[int, ...]:
    """ "5, 50" -> (5, 50): ascending, distinct, each at least 1 ("0" or "off": none)."""
    if text.strip().lower() in ("0", "off", "none", "no"):
        return ()
    values: list[int] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 1 <= int(part) <= maximum:
            raise ValidationError(f"{field}: {part!r} is not a whole number from 1 to {maximum}")
        values.append(int(part))
    if not values:
        raise ValidationError(f"{field}: give a number of blocks, e.g. 5, or 'off'")
    if len(values) > 20:
        raise ValidationError(f"{field}: at most 20 thresholds")
    return tuple(sorted(set(values)))


def parse_minutes(text: str, *, field: str = "stall_minutes") -> int:
    """ "10" -> 10; "0" or "off" -> 0 (no alert). At most a week."""
    if text.strip().lower() in ("0", "off", "none", "no"):
        return 0
    if not text.strip().isdigit() or not 1 <= int(text) <= 7 * 24 * 60:
        raise ValidationError(f"{field}: {text!r} is not a number of minutes from 1 to 10080, or 'off'")
    return int(text)


def parse_durations(text: str, *, field: str = "remind") -> tuple[int, ...]:
    """ "24h, 1h" -> (86400, 3600) seconds, longest first; "off" -> no reminders. Up to 30 days."""
    if text.strip().lower() in ("0", "off", "none", "no"):
        return ()
    values: list[int] = []
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        match = _DURATION.match(part)
        if match is None:
            raise ValidationError(f"{field}: {part.strip()!r} is not a duration (write e.g. 24h, 1h, 30m)")
        seconds = int(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "h").lower()]
        if not 60 <= seconds <= 30 * 86400:
            raise ValidationError(f"{field}: {part.strip()} is not between 1 minute and 30 days")
        values.append(seconds)
    if not values:
        raise ValidationError(f"{field}: give a time before the end of voting, e.g. 24h, 1h")
    if len(values) > 10:
        raise ValidationError(f"{field}: at most 10 reminders")
    return tuple(sorted(set(values), reverse=True))


def format_duration(seconds: int) -> str:
    """86400 -> "24 h", 5400 -> "1 h 30 min", 600 -> "10 min"."""
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    if hours and minutes:
        return f"{hours} h {minutes} min"
    if hours:
        return f"{hours} h"
    return f"{max(minutes, 1)} min"


def format_durations(values: tuple[int, ...]) -> str:
    """The inverse of `parse_durations` as people write it: "24h, 1h"."""
    parts = []
    for seconds in values:
        if seconds % 3600 == 0:
            parts.append(f"{seconds // 3600}h")
        else:
            parts.append(f"{seconds // 60}m")
    return ", ".join(parts) or "off"

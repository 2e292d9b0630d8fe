"""DATE and TIME values parsed exactly as Go's `time.Parse` does for CometBFT.

CometBFT parses a DATE operand and every value under a DATE condition with the layout
`2006-01-02`, and a TIME operand and every value under a TIME condition with `time.RFC3339`, then
compares instants. We reproduce Go's (lenient) generic parser rather than a strict RFC 3339 one,
because "the same answer as a node" is the point:

- year: exactly 4 digits; month, day, minute, second: exactly 2 digits; hour: 1 or 2 digits;
- fractional seconds (`.` or `,` then digits) are accepted after the seconds, nanoseconds kept;
- zone: `Z`, or `+hh:mm` / `-hh:mm` with hh <= 24 and mm <= 60 (Go's own range test);
- ranges: month 1-12, day valid for the month (leap years included), hour < 24, minute and
  second < 60; nothing may follow.

Instants are integers (nanoseconds since the Unix epoch, UTC): exact, and comparable across zones.
"""

from __future__ import annotations

_NS = 1_000_000_000
_DAY_NS = 86_400 * _NS


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in(month: int, year: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _digits(s: str, i: int, n: int) -> int | None:
    """The int of exactly `n` ASCII digits at `s[i:]`, or None."""
    part = s[i : i + n]
    if len(part) != n or not all("0" <= c <= "9" for c in part):
        return None
    return int(part)


class _Parsed:
    __slots__ = ("day", "instant_ns", "year")

    def __init__(self, year: int, day: int, instant_ns: int) -> None:
        self.year = year
        self.day = day
        self.instant_ns = instant_ns


def _parse_date_prefix(s: str) -> tuple[int, int, int, int] | None:
    """`YYYY-MM-DD` at the start of `s`: (year, month, day, end offset); day range not checked."""
    year = _digits(s, 0, 4)
    if year is None or s[4:5] != "-":
        return None
    month = _digits(s, 5, 2)
    if month is None or not 1 <= month <= 12 or s[7:8] != "-":
        return None
    day = _digits(s, 8, 2)
    if day is None:
        return None
    return year, month, day, 10


def parse_date(s: str) -> int | None:
    """Go `time.Parse("2006-01-02", s)` as an instant in ns (UTC midnight), or None."""
    head = _parse_date_prefix(s)
    if head is None:
        return None
    year, month, day, end = head
    if end != len(s) or not 1 <= day <= _days_in(month, year):
        return None
    return _days_from_civil(year, month, day) * _DAY_NS


def date_year(s: str) -> int:
    """The year of a date/time text already accepted by `parse_date` / `parse_time`."""
    return int(s[:4])


def parse_time(s: str) -> int | None:
    """Go `time.Parse(time.RFC3339, s)` as an instant in ns since the epoch, or None."""
    head = _parse_date_prefix(s)
    if head is None:
        return None
    year, month, day, i = head
    if s[i : i + 1] != "T":
        return None
    i += 1
    # Hour: Go reads "15" with a non-fixed width, so one digit is accepted.
    if i >= len(s) or not "0" <= s[i] <= "9":
        return None
    if len(s) > i + 1 and "0" <= s[i + 1] <= "9":
        hour, i = int(s[i : i + 2]), i + 2
    else:
        hour, i = int(s[i]), i + 1
    if hour >= 24 or s[i : i + 1] != ":":
        return None
    minute = _digits(s, i + 1, 2)
    if minute is None or minute >= 60 or s[i + 3 : i + 4] != ":":
        return None
    second = _digits(s, i + 4, 2)
    if second is None or second >= 60:
        return None
    i += 6
    nanos = 0
    if len(s) >= i + 2 and s[i] in ".," and "0" <= s[i + 1] <= "9":
        j = i + 1
        while j < len(s) and "0" <= s[j] <= "9":
            j += 1
        frac = s[i + 1 : j][:9]
        nanos = int(frac) * 10 ** (9 - len(frac))
        i = j
    zone = s[i:]
    if zone == "Z":
        offset = 0
    else:
        if len(zone) != 6 or zone[3] != ":" or zone[0] not in "+-":
            return None
        zh, zm = _digits(zone, 1, 2), _digits(zone, 4, 2)
        if zh is None or zm is None or zh > 24 or zm > 60:
            return None
        offset = (zh * 60 + zm) * 60 * (1 if zone[0] == "+" else -1)
    if not 1 <= day <= _days_in(month, year):
        return None
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
    return seconds * _NS + nanos

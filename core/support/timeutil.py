"""Time helpers: everything is timezone-aware UTC; indexes order by integer milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_millis(moment: datetime) -> int:
    """Milliseconds since the epoch, clamped at 0 so it can be a key part."""
    return max(0, int(moment.timestamp() * 1000))


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


def parse_rfc3339(value: str) -> datetime:
    """CometBFT block times carry nanoseconds (`2023-07-21T10:21:02.123456789Z`); keep microseconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, rest = text.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)

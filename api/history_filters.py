"""The history's filter values as text (`GET /v1/notifications` and the console's history page).

Both front doors take these filters as text and check them here, so that a bad value is a 422
problem naming the parameter (the API) or a message beside the field (the console), with one
wording for both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

from core.errors import ValidationError
from core.services.history import Outcome

#: Heights are CometBFT int64s; past this a value is a typo, not a height.
MAX_HEIGHT = 2**63 - 1
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
_HEX = frozenset("0123456789abcdefABCDEF")


def parse_height(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= MAX_HEIGHT:
        raise ValidationError(f"{name}: a block height, a whole number from 1 to {MAX_HEIGHT}")
    return int(raw)


def parse_tx_hash(raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw) != 64 or not _HEX.issuperset(raw):
        raise ValidationError("tx_hash: 64 hex digits")
    return raw


def parse_outcome(raw: str | None) -> Outcome | None:
    if raw is None:
        return None
    for outcome in OUTCOMES:
        if raw == outcome:
            return outcome
    raise ValidationError(f"outcome: one of {', '.join(OUTCOMES)}")


def as_utc(moment: datetime | None) -> datetime | None:
    """A time without an offset is read as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)

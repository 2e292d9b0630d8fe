"""Cursor pagination: `?cursor=&limit=`, and the page bodies.

A cursor is opaque (base64url of the last index key suffix); resuming from it is a seek within
the caller's own index range, so a forged cursor can at worst skip the caller's own records. A
malformed one is a 422, never a 500.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import QueryParameter

from core.models import DeadLetter, Gap, Notification
from core.services.history import MAX_PAGE

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description=f"Page size, 1 to {MAX_PAGE}.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=512, description="`next_cursor` of the previous page; omit for the first.")
]


class NotificationPage(msgspec.Struct, kw_only=True):
    items: list[Notification]
    next_cursor: str | None


class DeadLetterPage(msgspec.Struct, kw_only=True):
    items: list[DeadLetter]
    next_cursor: str | None


class GapList(msgspec.Struct, kw_only=True):
    items: list[Gap]

"""Cursor pagination: `?cursor=&limit=`, and the page bodies.

Every list the API answers is one of these pages, `{"items": [...], "next_cursor": ...}`, so a
client follows `next_cursor` the same way everywhere and a list may grow paging later without
changing shape. Chains, presets, subscriptions, destinations, API keys and the address book come
whole (they are bounded by the code, the configuration and the account's quotas): their
`next_cursor` is always null.

A cursor is opaque (base64url of the last index key suffix); resuming from it is a seek within
the caller's own index range, so a forged cursor can at worst skip the caller's own records. A
malformed one is a 422, never a 500.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import QueryParameter

from api.schemas import AddressLabelOut, ApiKeyOut, DestinationOut, PresetOut, SubscriptionOut
from core.models import DeadLetter, Gap, Notification
from core.services.chains import ChainInfo
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


class GapPage(msgspec.Struct, kw_only=True):
    items: list[Gap]
    next_cursor: str | None


class ChainPage(msgspec.Struct, kw_only=True):
    items: list[ChainInfo]
    next_cursor: str | None


class PresetPage(msgspec.Struct, kw_only=True):
    items: list[PresetOut]
    next_cursor: str | None


class SubscriptionPage(msgspec.Struct, kw_only=True):
    items: list[SubscriptionOut]
    next_cursor: str | None


class DestinationPage(msgspec.Struct, kw_only=True):
    items: list[DestinationOut]
    next_cursor: str | None


class ApiKeyPage(msgspec.Struct, kw_only=True):
    items: list[ApiKeyOut]
    next_cursor: str | None


class AddressLabelPage(msgspec.Struct, kw_only=True):
    items: list[AddressLabelOut]
    next_cursor: str | None

"""The few API settings handlers need at request time."""

from __future__ import annotations

import msgspec


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True):
    public_url: str | None = None

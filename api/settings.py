"""The few API settings handlers need at request time."""

from __future__ import annotations

import msgspec


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True):
    public_url: str | None = None
    # Seconds between comment lines on an idle `GET /v1/stream`, so proxies keep it open and a
    # client notices a dead connection (tests pass a shorter one).
    stream_heartbeat: float = 15.0

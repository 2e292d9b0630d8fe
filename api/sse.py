"""An account's `ActivityFeed` served as server-sent events: `GET /v1/stream` (JSON) and the
console's `/console/stream` (HTML rows) differ only in how one event is written.

The listener is opened before the answer starts, so a caller over its stream limit gets a 429
rather than a stream that ends at once; it is closed when the client goes away (Litestar
cancels the stream on disconnect), when the stream is dropped without ever being started, and
when the feed cuts a client off for not reading. A comment every `heartbeat` seconds keeps
proxies from closing an idle stream.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Request
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.methods import HEAD_AS_GET
from core.services.activity import ActivityEvent, ActivityFeed, ActivityListener

#: The reconnection delay a client is asked to use (the SSE `retry:` field), in milliseconds.
RETRY_MS = 3_000
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

#: One event as SSE, or None to send nothing for it.
Frame = Callable[[ActivityEvent], ServerSentEventMessage | None]


async def _nothing() -> AsyncIterator[ServerSentEventMessage]:
    return
    yield  # an async generator that ends at once


async def _frames(
    feed: ActivityFeed, listener: ActivityListener, heartbeat: float, frame: Frame
) -> AsyncIterator[ServerSentEventMessage]:
    try:
        yield ServerSentEventMessage(comment="connected", data=None, retry=RETRY_MS)
        while True:
            try:
                event = await listener.next(timeout=heartbeat)
            except StopAsyncIteration:
                return
            if event is None:
                yield ServerSentEventMessage(comment="heartbeat", data=None)
                continue
            framed = frame(event)
            if framed is not None:
                yield framed
    finally:
        feed.close(listener)


def activity_stream(
    request: Request[Any, Any, Any], feed: ActivityFeed, account_id: str, *, heartbeat: float, frame: Frame
) -> ServerSentEvent:
    """The account's events from now on, each written by `frame` (HEAD: the headers, no stream)."""
    listener = feed.open(account_id)
    if request.scope.get(HEAD_AS_GET):
        feed.close(listener)
        return ServerSentEvent(_nothing(), headers=HEADERS)
    events = _frames(feed, listener, heartbeat, frame)
    weakref.finalize(events, feed.close, listener)  # never started (the client left first)
    return ServerSentEvent(events, headers=HEADERS)

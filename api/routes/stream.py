"""`GET /v1/stream`: the caller's new notifications and delivery attempts as server-sent events.

The events come from `core.services.activity.ActivityFeed` (the web console reads the same
feed). The listener is opened before the answer starts, so a caller over its stream limit gets
a 429 problem rather than a stream that ends at once; it is closed when the client goes away
(Litestar cancels the stream on disconnect), when the generator is dropped without ever being
started, and when the feed cuts a client off for not reading.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.deps import CallerDep
from api.docs import UNCOMPRESSED
from api.methods import HEAD_AS_GET
from api.problems import problems
from api.settings import ApiSettings
from core.models import Notification
from core.services.activity import (
    ActivityEvent,
    ActivityFeed,
    ActivityListener,
    AttemptEvent,
    AttemptOutcome,
    LaggedEvent,
    NotificationEvent,
)

TAGS = ["stream"]

#: The reconnection delay a client is asked to use (the SSE `retry:` field), in milliseconds.
RETRY_MS = 3_000

_encode = msgspec.json.encode


class StreamLagged(msgspec.Struct, kw_only=True):
    """`data` of the one `lagged` event a stream gets before it is closed for not reading."""

    dropped: int


class _Frame(msgspec.Struct, kw_only=True, tag_field="event"):
    """One server-sent event, for the OpenAPI document: on the wire each is the lines `id: <id>`,
    `event: <event>` and `data: <data as one line of JSON>` (comment lines are heartbeats)."""

    id: int


class NotificationFrame(_Frame, tag="notification"):
    data: Notification


class AttemptFrame(_Frame, tag="attempt"):
    data: AttemptOutcome


class LaggedFrame(_Frame, tag="lagged"):
    data: StreamLagged


_STREAM_DOC = ResponseSpec(
    data_container=NotificationFrame | AttemptFrame | LaggedFrame,
    generate_examples=False,
    media_type="text/event-stream",
    description="Server-sent events: `notification` (a Notification), `attempt` (an AttemptOutcome) and, "
    "before a client that stopped reading is closed, one `lagged`; a comment heartbeat while idle",
)


def message(event: ActivityEvent) -> ServerSentEventMessage:
    """One event as SSE: `event:` its kind, `id:` its number, `data:` one line of JSON."""
    if isinstance(event, NotificationEvent):
        return ServerSentEventMessage(event="notification", id=event.id, data=_encode(event.notification).decode())
    if isinstance(event, AttemptEvent):
        return ServerSentEventMessage(event="attempt", id=event.id, data=_encode(event.attempt).decode())
    assert isinstance(event, LaggedEvent)
    return ServerSentEventMessage(
        event="lagged", id=event.id, data=_encode(StreamLagged(dropped=event.dropped)).decode()
    )


_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


async def _nothing() -> AsyncIterator[ServerSentEventMessage]:
    return
    yield  # an async generator that ends at once


async def _events(
    feed: ActivityFeed, listener: ActivityListener, heartbeat: float
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
            else:
                yield message(event)
    finally:
        feed.close(listener)


@get(
    "/v1/stream",
    tags=TAGS,
    responses={200: _STREAM_DOC, **problems(401, 429, 503)},
    opt={UNCOMPRESSED: True},  # each event must leave as it comes, not wait in a compressor
)
async def stream(
    request: Request[Any, Any, Any],
    caller: CallerDep,
    activity: NamedDependency[ActivityFeed],
    api_settings: NamedDependency[ApiSettings],
) -> ServerSentEvent:
    """Server-sent events of the account's new notifications (`event: notification`, the same
    record `GET /v1/notifications` lists) and delivery attempts (`event: attempt`, with
    `next_attempt_at` for a retry), as they are recorded. At most 5 streams per account."""
    listener = activity.open(caller.account_id)
    if request.scope.get(HEAD_AS_GET):  # HEAD: the GET's status and headers, and no stream
        activity.close(listener)
        return ServerSentEvent(_nothing(), headers=_HEADERS)
    events = _events(activity, listener, api_settings.stream_heartbeat)
    weakref.finalize(events, activity.close, listener)  # never started (the client left first)
    return ServerSentEvent(events, headers=_HEADERS)


HANDLERS = [stream]

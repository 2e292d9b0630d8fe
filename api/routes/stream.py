"""`GET /v1/stream`: the caller's new notifications and delivery attempts as server-sent events.

The events come from `core.services.activity.ActivityFeed` (the web console reads the same
feed); api/sse.py serves it, this module says how each event is written as JSON.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.deps import CallerDep
from api.docs import UNCOMPRESSED
from api.problems import problems
from api.settings import ApiSettings
from api.sse import activity_stream
from core.models import Notification
from core.services.activity import (
    ActivityEvent,
    ActivityFeed,
    AttemptEvent,
    AttemptOutcome,
    LaggedEvent,
    NotificationEvent,
)

TAGS = ["stream"]

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
    return activity_stream(request, activity, caller.account_id, heartbeat=api_settings.stream_heartbeat, frame=message)


HANDLERS = [stream]

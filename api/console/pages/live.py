"""`/console/stream`: the viewer's new notifications and attempt outcomes as server-sent events
whose data is HTML, the same row fragment the history and overview tables render.

htmx's SSE extension swaps them in: `event: notification` is a new row (the tables prepend
it), `event: attempt-<notification id>` the row of that notification again, showing the
attempt (each row listens for its own). The events come from the core `ActivityFeed`, as for
`GET /v1/stream`; the listener is closed when the client goes away (Litestar cancels the
stream), when the stream is dropped before it starts, and when the feed cuts a client off
for not reading (then one `lagged` row asks for a reload). A comment every `stream_heartbeat`
seconds keeps proxies from closing an idle stream.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.console.session import ViewerDep
from api.deps import HistoryDep, SettingsDep
from api.docs import UNCOMPRESSED
from api.methods import HEAD_AS_GET
from api.routes.stream import RETRY_MS
from core.services.activity import ActivityEvent, ActivityFeed, ActivityListener, AttemptEvent, NotificationEvent
from core.services.history import HistoryService

_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
ROW = "history/_row.html"
LAGGED = "history/_lagged.html"

Render = Callable[[str, dict[str, Any]], str]


def _message(
    event: ActivityEvent, account_id: str, history: HistoryService, render: Render
) -> ServerSentEventMessage | None:
    """The row an event shows, or None (an attempt of a notification no longer kept)."""
    if isinstance(event, NotificationEvent):
        html = render(ROW, {"n": event.notification, "latest": None, "fresh": True})
        return ServerSentEventMessage(event="notification", id=event.id, data=html)
    if isinstance(event, AttemptEvent):
        nid = event.attempt.notification_id
        notification = history.of_ids(account_id, [nid]).get(nid)
        if notification is None:
            return None
        html = render(ROW, {"n": notification, "latest": event.attempt, "fresh": True})
        return ServerSentEventMessage(event=f"attempt-{nid}", id=event.id, data=html)
    return ServerSentEventMessage(event="lagged", id=event.id, data=render(LAGGED, {}))


async def _nothing() -> AsyncIterator[ServerSentEventMessage]:
    return
    yield  # an async generator that ends at once


async def _rows(
    feed: ActivityFeed,
    listener: ActivityListener,
    heartbeat: float,
    message: Callable[[ActivityEvent], ServerSentEventMessage | None],
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
            framed = message(event)
            if framed is not None:
                yield framed
    finally:
        feed.close(listener)


@get("/stream", opt={UNCOMPRESSED: True})  # each event must leave as it comes
async def console_stream(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    activity: NamedDependency[ActivityFeed],
    history: HistoryDep,
    api_settings: SettingsDep,
) -> ServerSentEvent:
    listener = activity.open(viewer.account_id)  # over the per-account limit: a 429, not a stream
    if request.scope.get(HEAD_AS_GET):
        activity.close(listener)
        return ServerSentEvent(_nothing(), headers=_HEADERS)
    engine = request.app.template_engine
    assert engine is not None

    def render(template: str, context: dict[str, Any]) -> str:
        return engine.get_template(template).render(**context)

    def message(event: ActivityEvent) -> ServerSentEventMessage | None:
        return _message(event, viewer.account_id, history, render)

    events = _rows(activity, listener, api_settings.stream_heartbeat, message)
    weakref.finalize(events, activity.close, listener)  # never started (the client left first)
    return ServerSentEvent(events, headers=_HEADERS)


HANDLERS = [console_stream]

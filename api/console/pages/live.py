"""`/console/stream`: the viewer's new notifications and attempt outcomes as server-sent events
whose data is HTML, the same row fragment the history and overview tables render.

htmx's SSE extension swaps them in: `event: notification` is a new row (the tables prepend
it), `event: attempt-<notification id>` the row of that notification again, showing the
attempt (each row listens for its own). The events come from the core `ActivityFeed`, as for
`GET /v1/stream` (api/sse.py serves both); a client cut off for not reading gets one `lagged`
row that asks for a reload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from api.console.session import ViewerDep
from api.deps import HistoryDep, SettingsDep
from api.docs import UNCOMPRESSED
from api.sse import activity_stream
from core.services.activity import ActivityEvent, ActivityFeed, AttemptEvent, NotificationEvent
from core.services.history import HistoryService

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


@get("/stream", opt={UNCOMPRESSED: True})  # each event must leave as it comes
async def console_stream(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    activity: NamedDependency[ActivityFeed],
    history: HistoryDep,
    api_settings: SettingsDep,
) -> ServerSentEvent:
    engine = request.app.template_engine
    assert engine is not None

    def render(template: str, context: dict[str, Any]) -> str:
        return engine.get_template(template).render(**context)

    def message(event: ActivityEvent) -> ServerSentEventMessage | None:
        return _message(event, viewer.account_id, history, render)

    return activity_stream(request, activity, viewer.account_id, heartbeat=api_settings.stream_heartbeat, frame=message)


HANDLERS = [console_stream]

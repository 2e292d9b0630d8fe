"""Dead letters: deliveries whose retries ran out, newest first; redeliver one, or recover
everything of one destination since a time (the call behind `POST /v1/destinations/{id}/recover`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from api.console.forms import read_form
from api.console.render import page
from api.console.session import ViewerDep
from api.deps import DestinationsDep, HistoryDep
from api.history_filters import as_utc
from core.errors import ValidationError
from core.models import DeadLetter, Destination
from core.support.timeutil import utcnow

PAGE_SIZE = 50
#: What the recover form's "since" says at first: the last day.
RECOVER_DEFAULT = timedelta(hours=24)


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def _field(form: dict[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip()[:128] if isinstance(value, str) else ""


def _local(moment: datetime) -> str:
    """A time as a `datetime-local` input shows it (UTC, to the minute)."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def _recover_form(
    viewer: ViewerDep,
    owned: list[Destination],
    *,
    destination_id: str = "",
    since: str | None = None,
    error: str | None = None,
    result: str | None = None,
    more: bool = False,
    status_code: int = 200,
) -> Template:
    return page(
        "dead_letters/_recover.html",
        viewer,
        title="Recover",
        status_code=status_code,
        owned=owned,
        destination_id=destination_id,
        since=since or _local(utcnow() - RECOVER_DEFAULT),
        error=error,
        result=result,
        more=more,
    )


def _rows_context(
    history: HistoryDep, viewer: ViewerDep, letters: list[DeadLetter], owned: list[Destination]
) -> dict[str, Any]:
    return {
        "letters": letters,
        "notifications": history.of_ids(viewer.account_id, [d.notification_id for d in letters]),
        "destination_names": {d.id: d.name for d in owned},
    }


def _list_page(
    viewer: ViewerDep,
    history: HistoryDep,
    owned: list[Destination],
    *,
    cursor: str | None = None,
    status_code: int = 200,
    **form_state: Any,
) -> Template:
    found = history.dead_letters(viewer.account_id, limit=PAGE_SIZE, cursor=cursor)
    state = {"destination_id": "", "since": _local(utcnow() - RECOVER_DEFAULT), "error": None, "result": None}
    return page(
        "dead_letters/list.html",
        viewer,
        section="dead-letters",
        title="Dead letters",
        status_code=status_code,
        owned=owned,
        more=False,
        older_url=f"/console/dead-letters?{urlencode({'cursor': found.next_cursor})}" if found.next_cursor else None,
        first_url="/console/dead-letters" if cursor else None,
        **(state | form_state),
        **_rows_context(history, viewer, found.items, owned),
    )


@get("/dead-letters")
async def dead_letters_page(
    viewer: ViewerDep,
    history: HistoryDep,
    destinations: DestinationsDep,
    cursor: str | None = None,
    recovered: int | None = None,
) -> Template:
    result = f"Queued {recovered} dead letter{'' if recovered == 1 else 's'} again." if recovered is not None else None
    return _list_page(viewer, history, destinations.list(viewer.account_id), cursor=cursor or None, result=result)


@post("/dead-letters/redeliver")
async def redeliver_dead_letter(
    request: Request[Any, Any, Any], viewer: ViewerDep, history: HistoryDep, destinations: DestinationsDep
) -> Template | Response[Any]:
    """One dead letter queued again (its notification, to its destination); the row says so."""
    form = await read_form(request)
    notification_id, destination_id = _field(form, "notification_id"), _field(form, "destination_id")
    if not notification_id or not destination_id:
        raise ValidationError("notification_id and destination_id: both are required")
    queued = await history.redeliver(viewer.account_id, notification_id, destination_id)
    if not _is_htmx(request):
        return Redirect("/console/dead-letters", status_code=303)
    names = {d.id: d.name for d in destinations.list(viewer.account_id)}
    return page(
        "dead_letters/_requeued.html",
        viewer,
        title="Queued again",
        notification_id=notification_id,
        destination_id=destination_id,
        destination=names.get(destination_id, destination_id),
        queued=bool(queued),
    )


def _since(raw: str) -> datetime:
    if not raw:
        raise ValidationError("since: required (e.g. 2026-01-31T12:00, UTC)")
    try:
        moment = as_utc(datetime.fromisoformat(raw))
    except ValueError:
        raise ValidationError("since: not a time (e.g. 2026-01-31T12:00, UTC)") from None
    assert moment is not None
    return moment


@post("/dead-letters/recover")
async def recover(
    request: Request[Any, Any, Any], viewer: ViewerDep, history: HistoryDep, destinations: DestinationsDep
) -> Template | Response[Any]:
    """Every dead letter of one destination since a time, queued again (500 a press: `more`
    says to press again). A bad time or a disabled destination is said on the form (422);
    another account's destination is the same 404 as an unknown one."""
    form = await read_form(request)
    destination_id, since_raw = _field(form, "destination_id"), _field(form, "since")
    owned = destinations.list(viewer.account_id)
    try:
        if not destination_id:
            raise ValidationError("destination: choose one")
        done = await history.recover(viewer.account_id, destination_id, _since(since_raw))
    except ValidationError as exc:  # said on the form; the rest of the page as it was
        if not _is_htmx(request):
            return _list_page(
                viewer, history, owned, status_code=422, destination_id=destination_id, since=since_raw, error=str(exc)
            )
        return _recover_form(
            viewer, owned, destination_id=destination_id, since=since_raw, error=str(exc), status_code=422
        )
    if not _is_htmx(request):
        return Redirect(f"/console/dead-letters?recovered={done.queued}", status_code=303)
    name = next((d.name for d in owned if d.id == destination_id), destination_id)
    result = f"Queued {done.queued} dead letter{'' if done.queued == 1 else 's'} of {name} again."
    return _recover_form(viewer, owned, destination_id=destination_id, since=since_raw, result=result, more=done.more)


HANDLERS = [dead_letters_page, redeliver_dead_letter, recover]

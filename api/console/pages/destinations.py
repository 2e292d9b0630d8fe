"""Destinations: webhooks made here; Telegram chats and Discord channels, made through the bots.

A webhook's signing secret is shown once: after creation and after a rotation (api/console/once.py
carries it across the redirect of a plain form post; an htmx rotation shows it in the answer), with
snippets that verify a Standard Webhooks signature. "Send a test" shows the endpoint's answer in
place; the recent attempts are read from the account's history.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from api.auth import is_secure
from api.console.forms import read_form, text
from api.console.labels import kind_of, target_of
from api.console.once import forget_once, reveal_once, take_once
from api.console.render import is_htmx, page
from api.console.session import ViewerDep
from api.deps import DestinationsDep, HistoryDep, PathId, SettingsDep, SubscriptionsDep
from api.problems import problem_of
from core.dispatch.webhook import TestEventResult
from core.errors import ServiceError, UserError
from core.models import Destination, WebhookDestination

_LIST = "destinations/list.html"
_DETAIL = "destinations/detail.html"
_STATE = "destinations/_state.html"
_SECRET = "destinations/_secret.html"
_TEST = "destinations/_test.html"
_BASE = "/console/destinations"

#: How much of a test answer's body the page shows.
BODY_EXCERPT = 500


def _list_page(
    viewer: ViewerDep,
    destinations: DestinationsDep,
    *,
    status_code: int = 200,
    error: str | None = None,
    url: str = "",
    name: str = "",
) -> Template:
    owned = destinations.list(viewer.account_id)
    return page(
        _LIST,
        viewer,
        section="destinations",
        title="Destinations",
        status_code=status_code,
        destinations=owned,
        kinds={d.id: kind_of(d) for d in owned},
        targets={d.id: target_of(d) for d in owned},
        error=error,
        url=url,
        name=name,
    )


@get("/destinations", sync_to_thread=False)
def destination_list(viewer: ViewerDep, destinations: DestinationsDep) -> Template:
    return _list_page(viewer, destinations)


@post("/destinations/new")
async def create_webhook(
    request: Request[Any, Any, Any], viewer: ViewerDep, destinations: DestinationsDep, api_settings: SettingsDep
) -> Response[Any] | Template:
    """A webhook; its page shows the signing secret on the next view only."""
    form = await read_form(request)
    url, name = text(form, "url", 4096), text(form, "name", 200)
    try:
        dest = await destinations.create_webhook(viewer.account_id, url, name=name or None)
    except UserError as exc:  # an SSRF refusal, a bad URL or name, the quota: next to the field
        problem, _ = problem_of(request, exc)
        return _list_page(viewer, destinations, status_code=problem.status, error=str(exc), url=url, name=name)
    path = f"{_BASE}/{dest.id}"
    answer = Redirect(path, status_code=303)
    reveal_once(
        answer, path=path, object_id=dest.id, secret=dest.secret, secure=is_secure(request, api_settings.public_url)
    )
    return answer


def _detail(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    dest: Destination,
    destinations: DestinationsDep,
    subscriptions: SubscriptionsDep,
    history: HistoryDep,
    *,
    secret: str | None = None,
    tested: TestEventResult | None = None,
    test_error: str | None = None,
    status_code: int = 200,
) -> Template:
    using = [s for s in subscriptions.list(viewer.account_id) if dest.id in s.destination_ids]
    return page(
        _DETAIL,
        viewer,
        section="destinations",
        title=dest.name,
        status_code=status_code,
        dest=dest,
        kind=kind_of(dest),
        target=target_of(dest),
        subscriptions=using,
        attempts=history.destination_attempts(viewer.account_id, dest.id),
        secret=secret,
        tested=tested,
        test_error=test_error,
        body_excerpt=BODY_EXCERPT,
    )


@get("/destinations/{destination_id:str}", sync_to_thread=False)
def destination_detail(
    destination_id: PathId,
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    destinations: DestinationsDep,
    subscriptions: SubscriptionsDep,
    history: HistoryDep,
) -> Template:
    dest = destinations.get(viewer.account_id, destination_id)
    secret = take_once(request, dest.id) if isinstance(dest, WebhookDestination) else None
    shown = _detail(request, viewer, dest, destinations, subscriptions, history, secret=secret)
    if secret is not None:
        forget_once(shown, path=f"{_BASE}/{dest.id}")
    return shown


async def _set_enabled(
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    destination_id: str,
    destinations: DestinationsDep,
    enabled: bool,
) -> Response[Any] | Template:
    await read_form(request)
    dest = await destinations.update(viewer.account_id, destination_id, enabled=enabled)
    if not is_htmx(request):
        return Redirect(f"{_BASE}/{dest.id}", status_code=303)
    return page(_STATE, viewer, title=dest.name, d=dest)


@post("/destinations/{destination_id:str}/enable")
async def enable_destination(
    destination_id: PathId, request: Request[Any, Any, Any], viewer: ViewerDep, destinations: DestinationsDep
) -> Response[Any] | Template:
    return await _set_enabled(request, viewer, destination_id, destinations, True)


@post("/destinations/{destination_id:str}/disable")
async def disable_destination(
    destination_id: PathId, request: Request[Any, Any, Any], viewer: ViewerDep, destinations: DestinationsDep
) -> Response[Any] | Template:
    return await _set_enabled(request, viewer, destination_id, destinations, False)


@post("/destinations/{destination_id:str}/rotate")
async def rotate_secret(
    destination_id: PathId,
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    destinations: DestinationsDep,
    api_settings: SettingsDep,
) -> Response[Any] | Template:
    """A new secret, shown this once; the previous one keeps signing until the time shown."""
    await read_form(request)
    dest = await destinations.rotate_secret(viewer.account_id, destination_id)
    if is_htmx(request):
        return page(_SECRET, viewer, title=dest.name, dest=dest, secret=dest.secret, rotated=True)
    path = f"{_BASE}/{dest.id}"
    answer = Redirect(path, status_code=303)
    reveal_once(
        answer, path=path, object_id=dest.id, secret=dest.secret, secure=is_secure(request, api_settings.public_url)
    )
    return answer


@post("/destinations/{destination_id:str}/test")
async def send_test(
    destination_id: PathId,
    request: Request[Any, Any, Any],
    viewer: ViewerDep,
    destinations: DestinationsDep,
    subscriptions: SubscriptionsDep,
    history: HistoryDep,
) -> Template:
    """One signed test event now; the endpoint's answer (or why there was none) in place."""
    await read_form(request)
    dest = destinations.get(viewer.account_id, destination_id)
    tested, test_error, status = None, None, 200
    try:
        tested = await destinations.send_test(viewer.account_id, destination_id)
    except (UserError, ServiceError) as exc:  # not a webhook; no tester in this process
        problem, _ = problem_of(request, exc)
        test_error, status = problem.detail or problem.title, problem.status
    if is_htmx(request):
        return page(
            _TEST, viewer, title=dest.name, tested=tested, test_error=test_error,
            body_excerpt=BODY_EXCERPT, status_code=status,
        )  # fmt: skip
    return _detail(
        request, viewer, dest, destinations, subscriptions, history,
        tested=tested, test_error=test_error, status_code=status,
    )  # fmt: skip


@post("/destinations/{destination_id:str}/delete")
async def delete_destination(
    destination_id: PathId, request: Request[Any, Any, Any], viewer: ViewerDep, destinations: DestinationsDep
) -> Response[Any]:
    """Gone; the subscriptions that used it keep their other destinations."""
    await read_form(request)
    await destinations.delete(viewer.account_id, destination_id)
    if is_htmx(request):
        return Response(content="", status_code=200, headers={"HX-Redirect": _BASE})
    return Redirect(_BASE, status_code=303)


HANDLERS = [
    destination_list,
    create_webhook,
    destination_detail,
    enable_destination,
    disable_destination,
    rotate_secret,
    send_test,
    delete_destination,
]

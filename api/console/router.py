"""The `/console` router: its own request hook and its own error pages.

The app's hook insists on JSON bodies; console forms are urlencoded, so this router's hook
(which Litestar runs instead of the app's) checks the query parameters as the API does and
the form's origin and token (forms.py). Errors are the API's problems (api/problems.py, one
wording for both) rendered as a page, or, for an htmx request, as a message in the page's
flash area; a missing session is a redirect to the login page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from litestar import Request, Response, Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.di import Provide
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.types import ExceptionHandlersMap
from litestar_htmx import HTMXRequest

from api.console.forms import check_form
from api.console.pages import api_keys, auth, dead_letters, destinations, history, link, live, overview, subscriptions
from api.console.render import page
from api.console.session import SignInRequired, resolve_viewer
from api.csrf import OriginPolicy
from api.problems import EXCEPTION_HANDLERS, problem_of
from api.query_params import QueryParameterCheck

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"

#: This origin only, no inline script, no framing: a name with markup in it that escaped the
#: templates' escaping still could not run.
CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

PAGE_MODULES = (auth, overview, subscriptions, destinations, history, dead_letters, api_keys, link, live)


def _before_request(
    check_query: QueryParameterCheck, origin_policy: OriginPolicy
) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    async def before_request(request: Request[Any, Any, Any]) -> None:
        check_query(request)
        await check_form(request, origin_policy)

    return before_request


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def _sign_in(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, SignInRequired)
    if _is_htmx(request):  # a fragment request: the whole page goes to the login
        return Response(content=b"", status_code=200, headers={"HX-Redirect": exc.login_url})
    return Redirect(exc.login_url, status_code=303)


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any] | Template:
    """The problem as the console shows it (also the app's answer to a console URL no route has)."""
    problem, headers = problem_of(request, exc)
    headers = {k: v for k, v in headers.items() if k.lower() != "www-authenticate"}
    if _is_htmx(request):  # shown in the flash area of the page the request came from
        headers |= {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        template = page("flash.html", None, title=problem.title, problem=problem, status_code=problem.status)
    else:
        template = page("error.html", None, title=problem.title, problem=problem, status_code=problem.status)
    template.headers.update(headers)
    return template


def _exception_handlers() -> ExceptionHandlersMap:
    handlers: ExceptionHandlersMap = dict.fromkeys(EXCEPTION_HANDLERS, error_page)
    handlers[SignInRequired] = _sign_in
    return handlers


def console_router(check_query: QueryParameterCheck, origin_policy: OriginPolicy) -> Router:
    static = create_static_files_router(
        path="/static",
        directories=[STATIC_DIR],
        cache_control=CacheControlHeader(max_age=300),
        name="console-static",
        include_in_schema=False,
    )
    handlers: list[Any] = [static]
    for module in PAGE_MODULES:
        handlers.extend(module.HANDLERS)
    return Router(
        path="/console",
        route_handlers=handlers,
        dependencies={"viewer": Provide(resolve_viewer)},
        before_request=_before_request(check_query, origin_policy),
        exception_handlers=_exception_handlers(),
        request_class=HTMXRequest,
        include_in_schema=False,
        response_headers=[
            ResponseHeader(name="Content-Security-Policy", value=CONSOLE_CSP),
            ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
            ResponseHeader(name="Referrer-Policy", value="same-origin"),
        ],
    )

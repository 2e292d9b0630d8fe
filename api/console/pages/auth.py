"""Sign up, log in, log out: the API's accounts and sessions, through forms.

The same throttles as `POST /v1/sessions` and `POST /v1/accounts` apply (they are the app's
instances), and the same session cookie is set, so a console login is also an API session.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from api.auth import CLEAR_SESSION, SESSION_COOKIE, client_address, is_secure, session_cookie
from api.console.forms import PRE_SESSION_COOKIE, form_secret, new_pre_session_cookie, read_form, text, token_for
from api.console.render import page
from api.console.session import safe_next
from api.deps import AccountsDep, SettingsDep, SignupThrottleDep, ThrottleDep
from api.problems import problem_of
from core.errors import UserError

_LOGIN = "auth/login.html"
_SIGNUP = "auth/signup.html"


def _anonymous_form(
    request: Request[Any, Any, Any], template: str, *, title: str, secure: bool, status_code: int = 200, **context: Any
) -> Template:
    """A login or sign-up page, with a pre-session cookie to tie its token to this browser."""
    secret = form_secret(request)
    cookie = None
    if secret is None:
        cookie = new_pre_session_cookie(secure=secure)
        secret = cookie.value or ""
    template_response = page(
        template, None, title=title, csrf_token=token_for(secret), status_code=status_code, **context
    )
    if cookie is not None:
        template_response.cookies.append(cookie)
    return template_response


@get("/login", sync_to_thread=False)
def login_page(
    request: Request[Any, Any, Any], api_settings: SettingsDep, next: FromQuery[str | None] = None
) -> Template:
    return _anonymous_form(
        request, _LOGIN, title="Log in", secure=is_secure(request, api_settings.public_url), next=safe_next(next)
    )


@post("/login")
async def login(
    request: Request[Any, Any, Any], accounts: AccountsDep, throttle: ThrottleDep, api_settings: SettingsDep
) -> Response[Any] | Template:
    form = await read_form(request)
    email, password, next_path = text(form, "email"), text(form, "password", 1024), safe_next(text(form, "next"))
    secure = is_secure(request, api_settings.public_url)
    address = client_address(request)
    try:
        throttle.attempt(email, address)
        account = await accounts.authenticate(email, password)
    except UserError as exc:  # wrong password (401), throttled (429): said on the form, email kept
        problem, headers = problem_of(request, exc)
        answer = _anonymous_form(
            request, _LOGIN, title="Log in", secure=secure, status_code=problem.status,
            next=next_path, email=email, error=problem.detail,
        )  # fmt: skip
        answer.headers.update(headers)
        return answer
    throttle.success(email, address)
    session, token = await accounts.create_session(account.id)
    cookie = session_cookie(token, session.expires_at, session.created_at, secure=secure)
    return Redirect(next_path, status_code=303, cookies=[cookie])


@get("/signup", sync_to_thread=False)
def signup_page(request: Request[Any, Any, Any], api_settings: SettingsDep) -> Template:
    return _anonymous_form(request, _SIGNUP, title="Sign up", secure=is_secure(request, api_settings.public_url))


@post("/signup")
async def signup(
    request: Request[Any, Any, Any], accounts: AccountsDep, signups: SignupThrottleDep, api_settings: SettingsDep
) -> Response[Any] | Template:
    form = await read_form(request)
    email, password, name = text(form, "email"), text(form, "password", 1024), text(form, "display_name", 100)
    secure = is_secure(request, api_settings.public_url)
    try:
        signups.attempt(client_address(request))
        account = await accounts.register(email, password, display_name=name or None)
    except UserError as exc:  # taken, too short, throttled: said on the form
        problem, headers = problem_of(request, exc)
        answer = _anonymous_form(
            request, _SIGNUP, title="Sign up", secure=secure, status_code=problem.status,
            email=email, display_name=name, error=problem.detail,
        )  # fmt: skip
        answer.headers.update(headers)
        return answer
    session, token = await accounts.create_session(account.id)
    cookie = session_cookie(token, session.expires_at, session.created_at, secure=secure)
    return Redirect("/console", status_code=303, cookies=[cookie])


@post("/logout")
async def logout(request: Request[Any, Any, Any], accounts: AccountsDep) -> Response[Any]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await accounts.end_session(token)
    gone = Response(content=b"", status_code=303, headers={"Location": "/console/login"}, cookies=[CLEAR_SESSION])
    gone.delete_cookie(PRE_SESSION_COOKIE, path="/console")
    return gone


HANDLERS = [login_page, login, signup_page, signup, logout]

"""Who is looking at the console: the account of the API's session cookie.

A page asks for `viewer: Viewer`; without a valid session the request ends in `SignInRequired`,
which the router turns into a redirect to the login page (for htmx requests, an `HX-Redirect`),
coming back to the page asked for afterwards.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request
from litestar.di import NamedDependency

from api.auth import SESSION_COOKIE
from api.console.forms import token_for
from core.services.accounts import AccountService
from core.services.errors import AuthenticationError

LOGIN_PATH = "/console/login"


class Viewer(msgspec.Struct, frozen=True):
    account_id: str
    email: str | None
    name: str  # what the header shows: the display name, the email, or the account id
    csrf_token: str


ViewerDep = NamedDependency[Viewer]


class SignInRequired(AuthenticationError):
    """No session, or an expired one: the login page, then back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to see this page")
        self.next_path = next_path

    @property
    def login_url(self) -> str:
        return f"{LOGIN_PATH}?next={quote(self.next_path, safe='/')}"


def safe_next(value: str | None) -> str:
    """Where to go after login: a console path of ours, never another host (`//evil`, `/\\evil`)."""
    if not value or not value.startswith("/console") or value.startswith(("//", "/\\")) or "\\" in value:
        return "/console"
    return value


async def resolve_viewer(request: Request[Any, Any, Any], accounts: NamedDependency[AccountService]) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path = f"{path}?{request.url.query}"
    if not token:
        raise SignInRequired(path)
    try:
        account_id = await accounts.session_account(token)
    except AuthenticationError:
        raise SignInRequired(path) from None
    account = accounts.get(account_id)
    return Viewer(
        account_id=account_id,
        email=account.email,
        name=account.display_name or account.email or account_id,
        csrf_token=token_for(token),
    )

"""Who is calling: an API key (`Authorization: Bearer mp_...`) or the session cookie.

Handlers that need a caller declare a `caller: Caller` parameter; the dependency resolves it or
raises `AuthenticationError` (401 problem). An Authorization header, when present, wins over
the cookie, and a bad header is refused rather than silently falling back to the cookie. A write
authenticated by the cookie must come from our own origin (`api.csrf`): 403 otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Request
from litestar.datastructures import Cookie
from litestar.di import NamedDependency

from api.csrf import OriginPolicy
from core.services.accounts import AccountService
from core.services.errors import AuthenticationError

SESSION_COOKIE = "mp_session"


class Caller(msgspec.Struct, frozen=True):
    account_id: str
    via: Literal["api_key", "session"]


async def resolve_caller(
    request: Request[Any, Any, Any],
    accounts: NamedDependency[AccountService],
    origin_policy: NamedDependency[OriginPolicy],
) -> Caller:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Authorization header must be 'Bearer <API key>'")
        key = await accounts.authenticate_api_key(token.strip())
        return Caller(account_id=key.account_id, via="api_key")
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token:
        caller = Caller(account_id=await accounts.session_account(session_token), via="session")
        origin_policy.check_cookie_write(request)
        return caller
    raise AuthenticationError("authentication required: an API key (Bearer) or a session cookie")


def client_address(request: Request[Any, Any, Any]) -> str:
    """Who the throttles count: the TCP peer, or the `X-Forwarded-For` client when the peer is one
    of `[api] trusted_proxies` (the server rewrites the ASGI client then; see mempools/http_server.py)."""
    return request.client.host if request.client else "unknown"


def is_secure(request: Request[Any, Any, Any], public_url: str | None) -> bool:
    """Mark the cookie Secure when the API is reached over TLS (directly or per its public URL)."""
    return request.url.scheme == "https" or bool(public_url and public_url.startswith("https://"))


def session_cookie(token: str, expires_at: datetime, now: datetime, *, secure: bool) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        max_age=max(0, int((expires_at - now).total_seconds())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


#: Sent by logout. Not marked Secure: a browser lets a secure page overwrite a Secure cookie with
#: it, and a plain-http deployment must be able to clear its cookie too.
CLEAR_SESSION = Cookie(key=SESSION_COOKIE, value="", max_age=0, path="/", httponly=True, samesite="lax")

"""Forms: a CSRF token in every one, checked on every console write.

The API's writes are guarded by the browser's own headers (api/csrf.py: `Sec-Fetch-Site`,
`Origin`), and the console keeps that check; its forms also carry a synchronizer token, so a
post that did not come from a page we rendered for this very session is refused even where
those headers are missing or a sibling subdomain sets cookies. The token is an HMAC of the
session cookie (before login, of a random `mp_csrf` cookie), so no server secret is needed and
every cluster node checks it alike; a new session (log out and in again) makes old forms stale.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from litestar import Request
from litestar.datastructures import Cookie

from api.auth import SESSION_COOKIE
from api.csrf import OriginPolicy
from core.errors import UserError

#: The cookie a visitor without a session gets, to tie the login and sign-up forms to the browser.
PRE_SESSION_COOKIE = "mp_csrf"
FIELD = "_csrf"
HEADER = "x-csrf-token"
_LABEL = b"mempools-console-form-v1"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StaleForm(UserError):
    """A console form posted without this session's token: forged, or from an older session."""

    status = 403
    slug = "stale-form"


def token_for(secret: str) -> str:
    return hmac.new(secret.encode(), _LABEL, hashlib.sha256).hexdigest()


def form_secret(request: Request[Any, Any, Any]) -> str | None:
    """What the token is derived from: the session cookie, else the pre-session cookie."""
    return request.cookies.get(SESSION_COOKIE) or request.cookies.get(PRE_SESSION_COOKIE)


def new_pre_session_cookie(*, secure: bool) -> Cookie:
    return Cookie(
        key=PRE_SESSION_COOKIE,
        value=secrets.token_urlsafe(32),
        path="/console",
        httponly=True,
        samesite="lax",
        secure=secure,
        max_age=24 * 3600,
    )


async def read_form(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The posted form (urlencoded or multipart) as a dict; repeated fields as lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for name in form:
        values = form.getall(name)
        out[name] = values if len(values) > 1 else values[0]
    return out


async def check_form(request: Request[Any, Any, Any], origin_policy: OriginPolicy) -> None:
    """Refuse a console write from another origin, or without this session's token (403)."""
    if request.method not in _UNSAFE:
        return
    origin_policy.check_login(request)  # the strict form: a console write is always a browser's
    secret = form_secret(request)
    sent = request.headers.get(HEADER)
    if sent is None:
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            value = (await request.form()).get(FIELD)
            sent = value if isinstance(value, str) else None
    if secret is None or sent is None or not hmac.compare_digest(sent, token_for(secret)):
        raise StaleForm(
            "this form has expired or did not come from this console (sign in again, reload the page and retry)"
        )


def text(form: dict[str, Any], name: str, limit: int = 320) -> str:
    """One text field, stripped and cut at `limit` (a list, as from a repeated field, reads as empty)."""
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def values(form: dict[str, Any], name: str, limit: int = 100) -> list[str]:
    """Every value of a field that may repeat (checkboxes), at most `limit` of them, empty ones dropped."""
    raw = form.get(name, [])
    items = raw if isinstance(raw, list) else [raw]
    return [v.strip() for v in items[:limit] if isinstance(v, str) and v.strip()]

"""Secrets shown once: a webhook's signing secret, an API key.

A plain form post that makes a secret answers with a redirect (so a reload does not make another
webhook or key); the secret rides to the page it redirects to in a short-lived cookie scoped to
that page's path, which that page reads and clears at once. A reload, or any later visit, shows
no secret: only the owner's very next view of the page does. The cookie names the object it is
for, so a page never shows a secret for anything else.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Template

ONCE_COOKIE = "mp_once"
#: Long enough for the redirect to be followed on a slow phone, short enough not to linger.
ONCE_SECONDS = 120


def reveal_once(response: Response[Any], *, path: str, object_id: str, secret: str, secure: bool) -> None:
    """Have the page at `path` show `secret` (of `object_id`) on its next view only."""
    response.cookies.append(
        Cookie(
            key=ONCE_COOKIE,
            value=base64.urlsafe_b64encode(f"{object_id}:{secret}".encode()).decode(),
            path=path,
            httponly=True,
            samesite="strict",
            secure=secure,
            max_age=ONCE_SECONDS,
        )
    )


def take_once(request: Request[Any, Any, Any], object_id: str) -> str | None:
    """The secret waiting for `object_id`'s page, if any (the caller must `forget_once`)."""
    raw = request.cookies.get(ONCE_COOKIE)
    if not raw or len(raw) > 512:
        return None
    try:
        value = base64.urlsafe_b64decode(raw.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if ":" not in value:
        return None
    owner, secret = value.split(":", 1)
    return secret if owner == object_id and secret else None


def forget_once(template: Template, *, path: str) -> None:
    """Clear the cookie on the page that showed (or would have shown) the secret."""
    template.cookies.append(Cookie(key=ONCE_COOKIE, value="", path=path, max_age=0, expires=0))

"""Cross-site request forgery: writes authenticated by the session cookie must come from our origin.

SameSite=Lax keeps the cookie off cross-site POSTs in today's browsers, but not off requests from
a sibling subdomain (same site, other origin), nor in browsers that predate it; and the body-less
writes (redeliver, destination test, link codes) need no JSON content type, so no CORS preflight
stops them either. A browser says where a request comes from in headers a page cannot forge:
`Sec-Fetch-Site` and `Origin`. A cookie-authenticated write is accepted when `Sec-Fetch-Site` is
`same-origin` (or `none`, the user's own navigation), or when `Origin` is this API's own (the
request's Host, `[api] public_url`) or one of `[api] cors_origins`; any other Origin, or a
`Sec-Fetch-Site` of `cross-site`/`same-site` without one, is refused. A request with neither
header is not a browser's (every current browser sends at least one on a write: Origin on every
cross-origin POST, Fetch Metadata since 2019-2023) and so cannot carry a victim's cookie: it is
accepted, as Go's `net/http.CrossOriginProtection` does, so that `curl -b cookies` after a login
works as documented.

Origin is matched on host and port, not scheme: behind a TLS-terminating proxy the API sees
`http` while the browser's Origin says `https`. Login is guarded the same way (login CSRF would sign
a victim in to the attacker's account).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from core.errors import UserError
from core.support.text import ellipsize

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHOWN = 100  # characters of a refused Origin repeated in the problem


class CrossOriginRefused(UserError):
    """A cookie-authenticated write (or a login) from a page that is not ours: a 403 problem."""

    status = 403
    slug = "cross-origin"


def _netloc(url: str) -> str | None:
    """`host[:port]` of an origin or URL, lower-cased, default port left out; None if it has none."""
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.scheme not in _DEFAULT_PORTS:
        return None
    host = f"[{host}]" if ":" in host else host
    return host if port is None or port == _DEFAULT_PORTS[parts.scheme] else f"{host}:{port}"


def _host_netloc(host_header: str) -> str | None:
    """The Host header as `_netloc` spells it (a :80 or :443 suffix dropped: either scheme may be ours)."""
    host = host_header.strip().lower()
    for default in (":80", ":443"):
        if host.endswith(default):
            host = host[: -len(default)]
    return host or None


class OriginPolicy:
    """Which origins may write with the session cookie: ours (Host, `public_url`) and `cors_origins`."""

    def __init__(self, *, public_url: str | None = None, cors_origins: Iterable[str] = ()) -> None:
        configured = [public_url] if public_url else []
        configured.extend(cors_origins)
        self._allowed = {n for n in (_netloc(o) for o in configured) if n is not None}

    def allows(self, origin: str, host_header: str | None) -> bool:
        netloc = _netloc(origin)
        if netloc is None:  # "null" (sandboxed frames, file: pages) and anything unparseable
            return False
        return netloc in self._allowed or (host_header is not None and netloc == _host_netloc(host_header))

    def check_cookie_write(self, request: Request[Any, Any, Any]) -> None:
        """Refuse an unsafe request authenticated by the session cookie unless it is from our origin."""
        if request.method not in UNSAFE_METHODS:
            return
        self._check(request, what="a write with the session cookie")

    def check_login(self, request: Request[Any, Any, Any]) -> None:
        """Refuse a login a browser says comes from another site's page (login CSRF)."""
        self._check(request, what="a login")

    def _check(self, request: Request[Any, Any, Any], *, what: str) -> None:
        site = request.headers.get("sec-fetch-site", "").strip().lower()
        if site in ("same-origin", "none"):  # "none": the user's own navigation (typed, bookmarked)
            return
        origin = request.headers.get("origin")
        if origin is not None:
            if self.allows(origin, request.headers.get("host")):
                return
            shown = ellipsize(origin, _SHOWN)
            raise CrossOriginRefused(
                f"cross-origin request refused: {what} from Origin {shown!r}, which is not this API's "
                "nor one of its [api] cors_origins; other sites' programs use an API key (Authorization: Bearer)"
            )
        if site:  # "cross-site" or "same-site" (a sibling subdomain), without an Origin to check
            raise CrossOriginRefused(
                f"cross-origin request refused: {what} must come from this API's own pages, but "
                f"Sec-Fetch-Site is {site!r} and there is no Origin; programs use an API key (Authorization: Bearer)"
            )
        # Neither header: not a browser (every current browser sends at least one of them on a
        # write), so not a forgery: curl with the cookie it was given at login.

"""Cross-site request forgery: writes authenticated by the session cookie must come from our origin.

SameSite=Lax keeps the cookie off cross-site POSTs in today's browsers, but not off requests from
a sibling subdomain (same site, other origin), nor in browsers that predate it; and the body-less
writes (redeliver, destination test, link codes) need no JSON content type, so no CORS preflight
stops them either. A browser says where a request comes from in headers a page cannot forge:
`Sec-Fetch-Site` and `Origin`. A cookie-authenticated write is accepted when `Sec-Fetch-Site` is
`same-origin`, or when `Origin` is this API's own (the request's Host, `[api] public_url`) or one
of `[api] cors_origins`. Without either header it is refused too (OWASP's advice): every browser
sends one of them on a write, and programs use an API key, which a forging page cannot attach.

Origin is matched on host and port, not scheme: behind a TLS-terminating proxy the API sees
`http` while the browser's Origin says `https`. Login is guarded as well (login CSRF would sign a
victim in to the attacker's account), but a login without either header is a program's and passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from litestar import Request

from core.errors import MempoolsError

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SHOWN = 100  # characters of a refused Origin repeated in the problem


class CrossOriginRefused(MempoolsError):
    """A cookie-authenticated write (or a login) from a page that is not ours: a 403 problem."""


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
        self._check(request, needs_signal=True, what="a write with the session cookie")

    def check_login(self, request: Request[Any, Any, Any]) -> None:
        """Refuse a login a browser says comes from another site's page (login CSRF)."""
        self._check(request, needs_signal=False, what="a login")

    def _check(self, request: Request[Any, Any, Any], *, needs_signal: bool, what: str) -> None:
        site = request.headers.get("sec-fetch-site", "").strip().lower()
        if site == "same-origin":
            return
        origin = request.headers.get("origin")
        if origin is not None:
            if self.allows(origin, request.headers.get("host")):
                return
            shown = origin if len(origin) <= _SHOWN else origin[:_SHOWN] + "…"
            raise CrossOriginRefused(
                f"cross-origin request refused: {what} from Origin {shown!r}, which is not this API's "
                "nor one of its [api] cors_origins; other sites' programs use an API key (Authorization: Bearer)"
            )
        if site in ("cross-site", "same-site") or (needs_signal and not site):
            reason = (
                f"Sec-Fetch-Site is {site!r} and there is no Origin"
                if site
                else "it has neither an Origin nor a Sec-Fetch-Site header (browsers send them)"
            )
            raise CrossOriginRefused(
                f"cross-origin request refused: {what} must come from this API's own pages, but {reason}; "
                "programs use an API key (Authorization: Bearer)"
            )

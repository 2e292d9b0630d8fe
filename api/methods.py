"""HEAD and `Allow` as HTTP says (RFC 9110 §9.3.2, §10.2.1), around Litestar's router.

Litestar routes a HEAD request only to a handler declared for HEAD, and refuses a handler that
is both GET and HEAD, so every GET route answered HEAD with a 405. Here a HEAD request is routed
as the GET it asks about and the body of the answer is dropped: the status and headers
(Content-Type, Content-Length, Content-Encoding, ETag) are exactly the GET's, with no body and no
second code path to keep in step.

Every `Allow` header (the 405 problems, the OPTIONS answers) is written here from the methods of
the route that was matched, HEAD included wherever GET is: Litestar's own OPTIONS answer lists only
the methods of the first handler registered on a path (`OPTIONS /v1/sessions` said "OPTIONS, POST"
although DELETE is served there too).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, cast

from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

#: Set (True) in the scope of a HEAD request routed as GET: a handler whose GET never ends (the
#: event stream) reads it to answer with its status and headers at once instead.
HEAD_AS_GET = "mempools.head_as_get"


def allow_value(methods: Collection[str]) -> str:
    """The `Allow` value for a route serving `methods` (HEAD wherever GET is, OPTIONS always)."""
    served = {m.upper() for m in methods} | {"OPTIONS"}
    if "GET" in served:
        served.add("HEAD")
    return ", ".join(sorted(served, key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m)))


class HeadAsGet:
    """ASGI wrapper of the app's router: HEAD is answered as GET without its body, and `Allow`
    is the matched route's. `methods_by_path`: route path format (`/v1/x/{id}`) -> its methods."""

    def __init__(self, app: ASGIApp, methods_by_path: Mapping[str, Collection[str]]) -> None:
        self.app = app
        self._allow = {path: allow_value(methods).encode("latin-1") for path, methods in methods_by_path.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = cast(HTTPScope, scope)["method"] == "HEAD"
        routed: Any = {**scope, "method": "GET", HEAD_AS_GET: True} if head else scope
        sending = self._with_route_allow(routed, send)
        if head:
            sending = _without_body(sending)
        await self.app(routed, receive, sending)

    def _with_route_allow(self, scope: Any, send: Send) -> Send:
        """Write `Allow` from the route the router matched (it records its template in the scope);
        when routing itself refused the method (a 405), from the methods the router listed."""

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                listed = [v for n, v in headers if n.lower() == b"allow"]
                if listed:
                    allow = self._allow.get(scope.get("path_template", "")) or allow_value(
                        [m.strip() for m in listed[0].decode("latin-1").split(",") if m.strip()]
                    ).encode("latin-1")
                    headers = [(n, v) for n, v in headers if n.lower() != b"allow"] + [(b"allow", allow)]
                    message = {**message, "headers": headers}
            await send(message)

        return sending


def _without_body(send: Send) -> Send:
    """Pass the response start on; replace the body chunks by one empty final chunk."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.body":
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send(message)

    return sending

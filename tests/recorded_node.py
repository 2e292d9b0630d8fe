"""A small aiohttp server on 127.0.0.1 that answers with recorded chain responses (or hostile ones).

Each route maps a path to a handler `(request) -> web.StreamResponse`; `requests` lists what was
asked (path, query, height header), so a test can say which query went where. Used by the REST
and `/validators` tests: real recorded bodies, served over real HTTP to the real clients.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

FIXTURES = Path(__file__).parent / "fixtures"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLOSING = web.AppKey("closing", asyncio.Event)


def fixture(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def body(data: bytes, status: int = 200, content_type: str = "application/json") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, status=status, content_type=content_type)

    return handler


def recorded(relative: str, status: int = 200) -> Handler:
    return body(fixture(relative), status)


def hang() -> Handler:
    """Answers only when the node shuts down (the client's timeout must fire first)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.app[CLOSING].wait()
        return web.Response(status=503)

    return handler


class RecordedNode:
    """`async with RecordedNode({"/path": handler}) as node: node.url ...`"""

    def __init__(self, routes: dict[str, Handler] | None = None) -> None:
        self.routes: dict[str, Handler] = dict(routes or {})
        self.requests: list[tuple[str, dict[str, str], str | None]] = []
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.url = ""

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query), request.headers.get("x-cosmos-block-height")))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="404 page not found", content_type="text/plain")
        return await handler(request)

    def asked(self, path: str) -> list[dict[str, Any]]:
        return [{"query": q, "height": h} for p, q, h in self.requests if p == path]

    async def __aenter__(self) -> RecordedNode:
        app = web.Application()
        app[CLOSING] = self._closing = asyncio.Event()
        app.router.add_route("GET", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

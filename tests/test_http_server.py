"""The API server's connection cap and request deadline, with real uvicorn on loopback.

The app here is a bare ASGI callable whose `/hold` answers only when the test says so, to make
connections busy on demand; the server around it is exactly what `mempools serve` runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from core.config import ApiConfig
from mempools.http_server import connection_budget, uvicorn_config
from mempools.runtime import _EmbeddedUvicorn, bind_socket
from tests.polling import until

GET = b"GET /%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class HoldingApp:
    """Answers `200 ok`; requests to /hold wait until `release` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.holding = 0

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["path"] == "/hold":
            self.holding += 1
            await self.release.wait()
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(app: Any, api: ApiConfig, quiet: float = 10.0) -> AsyncIterator[int]:
    sock = bind_socket("127.0.0.1", 0)
    server = _EmbeddedUvicorn(uvicorn_config(app, api, quiet=quiet, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started, timeout=10)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def _send(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def _answer(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""  # reset


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def test_when_every_connection_is_busy_new_ones_are_dropped_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "mempools.api")
    app = HoldingApp()
    async with serving(app, ApiConfig(max_connections=2), quiet=1.0) as port:
        busy = [await _send(port, GET % b"hold") for _ in range(2)]
        await until(lambda: app.holding == 2)
        refused = await asyncio.gather(*(_send(port, GET % b"") for _ in range(5)))
        for reader, _ in refused:
            assert await _answer(reader) == b""  # closed at once, nothing served
        app.release.set()
        for reader, writer in busy:
            assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK\r\n")
            writer.close()
        reader, writer = await _send(port, GET % b"")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK\r\n")  # room again
        writer.close()
        await until(lambda: _lines(caplog, "api:connection-limit: over"))
    assert len(_lines(caplog, "all busy; dropping new connections")) == 1
    [over] = _lines(caplog, "api:connection-limit: over")
    assert re.fullmatch(r"api:connection-limit: over, 5 connections affected in [\d.]+ s", over), over


async def test_when_full_the_longest_waiting_connection_makes_room(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "mempools.api")
    async with serving(HoldingApp(), ApiConfig(max_connections=2, request_timeout=60)) as port:
        oldest = await _send(port, b"GET / HTTP/1.1\r\nHost: 127")  # half a head
        newer = await _send(port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nab")  # half a body
        reader, writer = await _send(port, GET % b"")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK\r\n")  # served at once
        evicted = await _answer(oldest[0])
        assert evicted.startswith(b"HTTP/1.1 408 Request Timeout\r\n") and b'"status":408' in evicted
        newer[1].write(b"cd")  # the other one was left alone and finishes its request
        assert (await newer[0].readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK\r\n")
        for _, w in (oldest, newer, (reader, writer)):
            w.close()
    assert _lines(caplog, "closing connections whose request does not arrive within 60 s (first: made room")


async def test_a_request_in_parts_within_the_deadline_is_served() -> None:
    async with serving(HoldingApp(), ApiConfig(request_timeout=5)) as port:
        reader, writer = await _send(port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        writer.write(b"Content-Length: 4\r\n\r\nab")
        writer.write(b"cd")
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK\r\n")
        writer.write(GET % b"")  # the same connection again, after its first answer
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200 OK\r\n")
        writer.close()


def test_the_connection_budget_leaves_room_below_the_descriptor_limit() -> None:
    assert connection_budget(0, descriptor_limit=1024) == 1024 - 256 - 3 * 64
    assert connection_budget(0, descriptor_limit=65536) == 65536 - 16384 - 3 * 64
    assert connection_budget(0, descriptor_limit=100) == 16
    assert connection_budget(300, descriptor_limit=1024) == 300  # an operator's number wins

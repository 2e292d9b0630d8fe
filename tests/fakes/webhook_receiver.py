"""A webhook endpoint on 127.0.0.1 that records deliveries and misbehaves on request.

`WebhookReceiver` is an aiohttp server for use inside a test's event loop:

    async with WebhookReceiver() as receiver:
        receiver.script(Reply(status=500), Reply(status=200))   # next answers, in order
        url = receiver.url("/hook")
        ...
        receiver.received  # [Received(path, headers, body)]

Behaviours (`Reply.mode`): "status" (default: answer `status` with `body` and `headers`),
"hang" (never answer), "reset" (close the connection without answering), "giant" (stream a
1 GiB body; `giant_bytes_sent` shows how much went out before the client hung up, once
`giant_done` is set). `tls=True`
serves https with a fresh self-signed certificate (made with the openssl command).
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Literal

import msgspec
from aiohttp import web

from mempools.web import serve_app


class Reply(msgspec.Struct, kw_only=True):
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = {}
    mode: Literal["status", "hang", "reset", "giant"] = "status"
    delay: float = 0.0


class Received(msgspec.Struct, kw_only=True):
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = 0.0  # time.monotonic() when the request arrived


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a throwaway certificate for 127.0.0.1 (no client trusts it)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class WebhookReceiver:
    def __init__(self, *, tls: bool = False, default: Reply | None = None) -> None:
        self.tls = tls
        self.default = default or Reply()
        self.received: list[Received] = []
        self.giant_bytes_sent = 0
        self.giant_done = asyncio.Event()  # the giant body stopped: sent whole, or the client hung up
        self._script: deque[Reply] = deque()
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.port = 0
        self.arrived = asyncio.Event()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with `replies`, in order, then with `default` again."""
        self._script.extend(replies)

    def url(self, path: str = "/hook") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(
            Received(
                path=request.path_qs,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                at=time.monotonic(),
            )
        )
        self.arrived.set()
        reply = self._script.popleft() if self._script else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.mode == "hang":
            await asyncio.sleep(3600)
        if reply.mode == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if reply.mode == "giant":
            response = web.StreamResponse(status=200, headers={"Content-Length": str(1 << 30)})
            await response.prepare(request)
            chunk = b"x" * 65536
            try:
                while self.giant_bytes_sent < 1 << 30:
                    await response.write(chunk)
                    self.giant_bytes_sent += len(chunk)
            except (ConnectionError, RuntimeError):
                pass
            finally:
                self.giant_done.set()
            return response
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    async def start(self) -> WebhookReceiver:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        context = None
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory()
            context = self_signed_context(Path(self._tmp.name))
        self._runner, self.port = await serve_app(app, ssl_context=context)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._tmp is not None:
            self._tmp.cleanup()

    async def __aenter__(self) -> WebhookReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

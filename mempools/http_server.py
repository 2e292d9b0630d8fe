"""The API's HTTP server: uvicorn on llhttp (httptools), with the limits a public port needs.

uvicorn alone keeps a connection open for as long as its request head or body is still coming
(its keep-alive timeout only runs *between* requests), accepts connections until the process
runs out of file descriptors, and trusts `X-Forwarded-For` from loopback. 20,000 half-sent
requests therefore took the whole process down (watcher included: "Too many open files"). Here:

- a request's head and body must arrive within `[api] request_timeout` of the connection
  opening (or of the previous response); a slower one gets `408` and is closed;
- at most `[api] max_connections` are open, by default well below RLIMIT_NOFILE so that the
  watchers, the dispatcher, the bots and the store always have descriptors. When full, the
  connection that has waited longest for its request is closed to make room (a stalled client
  loses its slot before a live one is refused); when every connection is busy, the new one is
  dropped at once;
- forwarded headers are believed only from `[api] trusted_proxies`;
- a request head larger than MAX_HEAD_BYTES gets `431` and is closed (llhttp itself has no
  bound; h11, used before, had the same 16 KiB one);
- each of these is logged once per incident (core.support.incidents), not once per connection.

The protocol is uvicorn's httptools one (llhttp, C) rather than its h11 one (pure Python): the
server's own share of a small request fell from ~0.2 to ~0.05 ms (docs/PERFORMANCE.md, REST API).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time
from typing import Any

import msgspec
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.problems import Problem
from core.config import ApiConfig
from core.support.incidents import IncidentLog

log = logging.getLogger("mempools.api")

#: Descriptors kept for everything but API connections (watchers, dispatcher, bots, RocksDB files).
RESERVED_DESCRIPTORS = 256
#: Connections accepted per loop iteration (uvicorn's `backlog` is also asyncio's accept batch):
#: sockets accepted in one batch hold descriptors before they can be refused, so the budget
#: keeps room for a few batches.
ACCEPT_BATCH = 64
#: An incident ends after this many seconds without a new occurrence.
QUIET_SECONDS = 10.0

SLOW_REQUESTS = "api:slow-requests"
CONNECTION_LIMIT = "api:connection-limit"

_TIMEOUT_BODY = msgspec.json.encode(
    Problem(type="about:blank", title="Request Timeout", status=408, detail="the request did not arrive in time")
)
#: The largest request head (request line and headers) accepted: h11's default, which uvicorn used.
MAX_HEAD_BYTES = 16 * 1024

_HEAD_BODY = msgspec.json.encode(
    Problem(
        type="about:blank",
        title="Request Header Fields Too Large",
        status=431,
        detail=f"the request line and headers must fit in {MAX_HEAD_BYTES} bytes",
    )
)
HEAD_TOO_LARGE_RESPONSE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/problem+json\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_HEAD_BODY)).encode() + b"\r\n\r\n" + _HEAD_BODY
)
REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


def connection_budget(configured: int, descriptor_limit: int | None = None) -> int:
    """`configured`, or what the descriptor limit leaves after the reserve and the accept batches."""
    if configured:
        return configured
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0] if descriptor_limit is None else descriptor_limit
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 20
    return max(16, soft - max(RESERVED_DESCRIPTORS, soft // 4) - 3 * ACCEPT_BATCH)


class IncidentReporter:
    """An IncidentLog whose incidents end by themselves after a quiet period."""

    def __init__(self, incidents: IncidentLog, quiet: float = QUIET_SECONDS) -> None:
        self._incidents = incidents
        self._quiet = quiet
        self._last: dict[str, float] = {}

    def report(self, key: str, message: str, *args: object) -> None:
        self._last[key] = time.monotonic()
        if self._incidents.failure(key, message, *args):
            asyncio.get_running_loop().call_later(self._quiet, self._maybe_resolve, key)

    def _maybe_resolve(self, key: str) -> None:
        left = self._last[key] + self._quiet - time.monotonic()
        if left > 0:
            asyncio.get_running_loop().call_later(left, self._maybe_resolve, key)
        else:
            self._incidents.resolved(key, "%s: over, %d connections affected in %.1f s")


class ConnectionGuard:
    """Admission and request deadlines for every connection of one server."""

    def __init__(self, *, max_connections: int, request_timeout: float, reporter: IncidentReporter) -> None:
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self._reporter = reporter
        self.open = 0
        # Connections waiting for a request, oldest first, with their deadline timers.
        self._waiting: dict[GuardedHttpProtocol, asyncio.TimerHandle] = {}

    def admit(self) -> bool:
        if self.open >= self.max_connections:
            if not self._waiting:
                self._reporter.report(
                    CONNECTION_LIMIT,
                    "api: %d connections open and all busy; dropping new connections until one ends",
                    self.open,
                )
                return False
            self.expire(next(iter(self._waiting)), "made room for a new one")
        self.open += 1
        return True

    def arm(self, protocol: GuardedHttpProtocol) -> None:
        self.disarm(protocol)
        loop = asyncio.get_running_loop()
        self._waiting[protocol] = loop.call_later(self.request_timeout, self.expire, protocol, "timed out")

    def disarm(self, protocol: GuardedHttpProtocol) -> None:
        timer = self._waiting.pop(protocol, None)
        if timer is not None:
            timer.cancel()

    def is_waiting(self, protocol: GuardedHttpProtocol) -> bool:
        return protocol in self._waiting

    def release(self, protocol: GuardedHttpProtocol) -> None:
        self.disarm(protocol)
        self.open -= 1

    def expire(self, protocol: GuardedHttpProtocol, why: str) -> None:
        self.disarm(protocol)
        self._reporter.report(
            SLOW_REQUESTS,
            "api: closing connections whose request does not arrive within %.0f s (first: %s); "
            "slow or stalled clients, counted until it stops",
            self.request_timeout,
            why,
        )
        protocol.expire()


def no_delay(transport: asyncio.BaseTransport) -> None:
    """Send each write at once (TCP_NODELAY).

    A response goes out as two writes (head, then body). asyncio sets TCP_NODELAY only on
    sockets created with `proto=IPPROTO_TCP`, which a socket made with `socket.socket(family,
    SOCK_STREAM)` (and every connection accepted from it) is not; then Nagle's algorithm holds
    the body until the client acknowledges the head, and the client delays that acknowledgement
    by up to 40 ms: every response took 40+ ms on a keep-alive connection, however small.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, admitted by and reporting to a ConnectionGuard (set per server)."""

    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._done_cycle: object = None  # the request cycle already complete when the timer was armed
        self._reading_head = True  # between requests or inside a head: its bytes count against MAX_HEAD_BYTES
        self._head_bytes = 0

    # uvicorn's protocol takes an asyncio.Transport, narrower than asyncio.Protocol's BaseTransport.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not self.guard.admit():
            transport.abort()
            return
        self._admitted = True
        no_delay(transport)
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._admitted:
            return
        self.guard.release(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self.guard.disarm(self)
                self._refuse(HEAD_TOO_LARGE_RESPONSE)
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading_head = True
        super().on_message_complete()
        if self.guard.is_waiting(self):
            self.guard.disarm(self)  # the whole request (head and body) is in

    def on_response_complete(self) -> None:
        if not self.transport.is_closing() and not self._next_request_is_in():
            self._arm()  # before super(): it may go on with a pipelined request at once
        super().on_response_complete()

    def _next_request_is_in(self) -> bool:
        """A pipelined request after the one just answered has arrived whole (no deadline for it)."""
        cycle = self.cycle
        return cycle is not None and not cycle.response_complete and not cycle.more_body

    def _arm(self) -> None:
        self._done_cycle = self.cycle
        self.guard.arm(self)

    def expire(self) -> None:
        """Answer 408 (unless a response is under way) and close; the app, if reading, sees a disconnect."""
        if not self.transport.is_closing():
            self._refuse(REQUEST_TIMEOUT_RESPONSE)

    def _refuse(self, answer: bytes) -> None:
        """Write `answer` unless a response is under way (its bytes would land inside it), and close."""
        cycle = self.cycle
        if cycle is None or cycle is self._done_cycle or cycle.response_complete or not cycle.response_started:
            if cycle is not None and not cycle.response_complete:
                cycle.disconnected = True  # the app's own answer, if any, is dropped
            self.transport.write(answer)
        self.transport.close()


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedHttpProtocol]:
    """A protocol class bound to one server's guard (uvicorn builds protocols from a class)."""
    return type("GuardedHttp", (GuardedHttpProtocol,), {"guard": guard})


def uvicorn_config(app: Any, api: ApiConfig, *, quiet: float = QUIET_SECONDS, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration for the API, with the limits above."""
    safe = connection_budget(0)
    if api.max_connections > safe:
        log.warning(
            "api.max_connections = %d leaves less than %d descriptors of RLIMIT_NOFILE to the rest of the "
            "process (at most %d would); raise the limit (ulimit -n) or lower the setting",
            api.max_connections,
            RESERVED_DESCRIPTORS,
            safe,
        )
    guard = ConnectionGuard(
        max_connections=connection_budget(api.max_connections),
        request_timeout=api.request_timeout,
        reporter=IncidentReporter(IncidentLog(log), quiet),
    )
    log.info(
        "api: at most %d connections, %g s for a request to arrive, forwarded headers from %s",
        guard.max_connections,
        guard.request_timeout,
        ", ".join(api.trusted_proxies) or "no proxy",
    )
    options: dict[str, Any] = {
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 3,
        "http": guarded_protocol(guard),
        "backlog": ACCEPT_BATCH,
        "ws": "none",  # the API has no websocket routes; an upgraded connection would leave the guard's count
        # Forwarded headers from the listed proxies only; uvicorn's default believes loopback.
        "proxy_headers": bool(api.trusted_proxies),
        "forwarded_allow_ips": list(api.trusted_proxies),
        **overrides,
    }
    return uvicorn.Config(app, **options)

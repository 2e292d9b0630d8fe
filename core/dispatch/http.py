"""A small HTTP/1.1 POST client on asyncio, made for delivering webhooks.

Why not httpx or aiohttp: measured on this machine (docs/PERFORMANCE.md, "Dispatcher"), a bare
httpx loop spends most of its CPU in its connection pool and an aiohttp loop is several times
slower than this client; the delivery hot path must not be capped by its client. Owning the client
also gives what a webhook sender needs and general clients make awkward:

- it connects to the addresses the SSRF guard checked (no second DNS lookup a rebinding server
  could answer differently), with TLS verified against the URL's host name; when a host has
  several, the attempts race as RFC 8305 ("happy eyeballs") says: the next address is tried after
  250 ms or as soon as the previous attempt fails, the first to connect wins, all under the
  connect timeout (`aiohappyeyeballs`, the implementation aiohttp uses);
- redirects are never followed (a 3xx is just an answer);
- at most `max_body` bytes of a response are read; a larger body is not drained, the connection
  is dropped, so an endpoint streaming gigabytes costs us nothing;
- a connect timeout and a total timeout per request.

Responses are framed by llhttp (`httptools`, the parser uvicorn uses), not by hand: a peer's
malformed answer (a chunk size of `-5` or `0x5`, `Content-Length: 1_0`, two Content-Lengths,
status `2_00`, ...) is a `ProtocolError` like every other failure to get an answer, so the
dispatcher records a short reason instead of logging an internal error. The connection is an
`asyncio.Protocol` feeding the parser directly (faster than a StreamReader, and it sees the peer
close an idle connection at once).

Connections are kept alive per (scheme, host, port) when the answer allows it (`Connection`
parsed as a token list; HTTP/1.0 only with `keep-alive`) and reused through `IdlePool`
(idle timeout, per-host and global caps). A request that finds its reused connection closed by
the server before any answer is retried once on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable, Mapping

import aiohappyeyeballs
import httptools
import msgspec

from core.dispatch.http_pool import IdlePool
from core.dispatch.ssrf import ParsedUrl, Resolver, parse_webhook_url, resolve_target
from core.errors import UpstreamError, ValidationError

USER_AGENT = "Mempools-Webhooks/0.1 (+https://www.standardwebhooks.com)"
_HEAD_LIMIT = 64 * 1024


class HttpResponse(msgspec.Struct, kw_only=True):
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes  # at most `max_body` bytes
    truncated: bool
    latency_ms: float


class HttpError(UpstreamError):
    """The request got no HTTP answer; `str()` is short enough for the attempt log.

    Internal to the dispatcher (which records it as a failed attempt and retries), but an
    `UpstreamError` of the one tree (`core/errors.py`) so that one escaping would still read as
    "a webhook endpoint could not answer" (502), never as a bug.
    """


class ConnectError(HttpError):
    pass


class RequestTimeout(HttpError):
    pass


class TlsError(HttpError):
    pass


class ProtocolError(HttpError):
    pass


class BlockedAddressError(HttpError):
    """The SSRF guard refused the URL at delivery time (DNS may have changed since registration)."""


class _Stale(Exception):
    """A reused connection died before the answer started: safe to retry on a new one."""


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


_NO_BODY = (204, 304)


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request, feeds what arrives to llhttp, resolves the
    exchange's future with (response, keep_alive) or an `HttpError`.

    Bytes that arrive while no request is outstanding cannot belong to any answer: the
    connection is closed. When the peer closes an idle connection, `on_lost` takes it out of
    the pool at once.
    """

    # The exchange in progress (set by `_reset`).
    _reused: bool
    _received: int  # bytes of this exchange so far
    _status: int
    _reason: bytes
    _headers: dict[str, str]
    _chunks: list[bytes]
    _size: int  # body bytes kept
    _interim: bool  # inside a 1xx answer
    _head_size: int
    _head_done: bool
    _close_delimited: bool  # no length, not chunked: the body ends with the connection

    def __init__(self, *, max_body: int, on_lost: Callable[[_Connection], None]) -> None:
        self._max_body = max_body
        self._on_lost = on_lost
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[HttpResponse, bool]] | None = None
        self._lost = False
        self._unsolicited = False
        self._reset(reused=False)

    # -- used by the client -------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return not self._lost and self._transport is not None and not self._transport.is_closing()

    def send(self, request: bytes, *, reused: bool) -> asyncio.Future[tuple[HttpResponse, bool]]:
        """Write `request`; the future gives (response, keep_alive) once the answer is read."""
        assert self._transport is not None
        self._reset(reused=reused)
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)  # one request is already in memory: no flow control needed
        return waiter

    def _response(self, complete: bool) -> HttpResponse:
        """The answer as read so far; later bytes (which spoil the connection) cannot change it."""
        response = HttpResponse(
            status=self._status,
            reason=self._reason.decode("latin-1"),
            headers=self._headers,
            body=b"".join(self._chunks),
            truncated=not complete,
            latency_ms=0.0,
        )
        self._headers = {}
        self._chunks = []
        return response

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()  # never linger on a peer that is still sending

    def expire(self, error: HttpError) -> None:
        """The exchange ran out of time: it fails with `error` and the connection is dropped."""
        self._fail(error)

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # unsolicited bytes, or the rest of an answer already given up on
            return
        self._received += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._finish(complete=True, keep=False)  # a 101: the answer is its head
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"invalid HTTP answer: {_reason(exc)}"))
        except (ValueError, UnicodeError) as exc:  # never expected from llhttp; still the peer's fault
            self._fail(ProtocolError(f"invalid HTTP answer: {type(exc).__name__}"))
        if self._unsolicited:
            self.close()
        elif not self._head_done and self._received > _HEAD_LIMIT:
            self._fail(ProtocolError("response headers too large"))

    def eof_received(self) -> bool:
        return False  # close our side too: connection_lost settles the exchange

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._on_lost(self)
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head_done and self._close_delimited:
            self._finish(complete=True, keep=False)  # the body ends where the connection does
        elif self._received == 0 and self._reused:
            waiter.set_exception(_Stale())
        elif isinstance(exc, ssl.SSLError):
            waiter.set_exception(TlsError(f"TLS: {exc.reason or exc}"))
        elif self._received == 0:
            waiter.set_exception(ProtocolError(f"connection lost: {_describe(exc)}"))
        else:
            waiter.set_exception(ProtocolError(f"connection lost while reading the answer: {_describe(exc)}"))

    # -- httptools callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._waiter is None or self._waiter.done():
            self._unsolicited = True  # a second answer to one request: the framing cannot be trusted

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:  # an interim answer: the real one follows
            self._interim = True
            self._headers = {}
            self._reason = b""
            return
        if self._head_size > _HEAD_LIMIT:
            self._fail(ProtocolError("response headers too large"))
            return
        self._status = status
        self._head_done = True
        headers = self._headers
        self._close_delimited = (
            status not in _NO_BODY
            and "content-length" not in headers
            and not headers.get("transfer-encoding", "").lower().endswith("chunked")
        )

    def on_body(self, body: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            return
        room = self._max_body - self._size
        if len(body) > room:
            if room:
                self._chunks.append(body[:room])
            self._size = self._max_body
            self._finish(complete=False, keep=False)  # the caller drops the connection
            return
        self._chunks.append(body)
        self._size += len(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        # After a 101 the connection speaks another protocol: never reuse it for HTTP.
        self._finish(complete=True, keep=self._status != 101 and self._parser.should_keep_alive())

    # -- internals ----------------------------------------------------------------------------
    def _reset(self, *, reused: bool) -> None:
        self._reused = reused
        self._received = 0
        self._status = 0
        self._reason = b""
        self._headers = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._interim = False
        self._head_size = 0
        self._head_done = False
        self._close_delimited = False

    def _finish(self, *, complete: bool, keep: bool) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result((self._response(complete), keep))

    def _fail(self, error: HttpError) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        self.close()


class HttpClient:
    """POSTs with keep-alive; one instance per process (or per channel), closed at shutdown."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        max_body: int = 4096,
        allow_private_networks: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        resolver: Resolver | None = None,
        max_idle_per_host: int = 64,
        max_idle_total: int = 512,
        idle_timeout: float = 30.0,
        happy_eyeballs_delay: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sweep_interval: float = 5.0,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_body = max_body
        self.allow_private_networks = allow_private_networks
        self.happy_eyeballs_delay = happy_eyeballs_delay
        self._ssl = ssl_context
        self._resolver = resolver
        self._idle: IdlePool[_Connection] = IdlePool(
            idle_timeout=idle_timeout,
            max_per_host=max_idle_per_host,
            max_total=max_idle_total,
            clock=clock,
            sweep_interval=sweep_interval,
        )
        self._parsed: dict[str, tuple[ParsedUrl, str]] = {}
        self._user_agent = user_agent
        self._closed = False
        self._exchanges: dict[_Connection, float] = {}  # in flight: their deadline (time.monotonic)
        self._sweep_every = min(max(total_timeout / 10, 0.01), 1.0)
        self._sweeper: asyncio.TimerHandle | None = None

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    # -- public -------------------------------------------------------------------------------
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST `body`; raises an `HttpError` when no HTTP answer arrives (any status is an answer)."""
        parsed, start = self._parse(url)
        request = self._request_bytes(start, body, headers)
        key = (parsed.scheme, parsed.host, parsed.port)
        started = time.perf_counter()
        deadline = time.monotonic() + self.total_timeout
        try:
            for _ in range(2):
                conn = self._idle.take(key)
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(parsed)
                self._exchanges[conn] = deadline
                if self._sweeper is None:
                    self._arm_sweeper()
                try:
                    response, keep = await conn.send(request, reused=reused)
                except _Stale:
                    conn.close()
                    continue
                except BaseException:
                    conn.close()
                    raise
                finally:
                    del self._exchanges[conn]
                if keep and not self._closed:
                    self._idle.put(key, conn)
                else:
                    conn.close()
                response.latency_ms = (time.perf_counter() - started) * 1000
                return response
            raise ProtocolError("connection closed before an answer")
        except HttpError:
            raise
        except ssl.SSLError as exc:
            raise TlsError(f"TLS: {exc.reason or exc}") from None
        except (OSError, ValueError, UnicodeError) as exc:  # whatever a peer provokes is an HttpError
            raise ProtocolError(f"request failed: {_describe(exc)}") from None

    async def close(self) -> None:
        self._closed = True
        self._idle.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    # -- the total timeout --------------------------------------------------------------------
    # Not `asyncio.timeout()` per request: its timer handle, and the heap of cancelled ones it
    # leaves behind, cost more than a third of a bare loop's CPU (measured: 44k -> 60k requests/s
    # without it). Exchanges in flight are listed with their deadline instead, and one sweep,
    # armed only while any are in flight, fails the overdue ones every `_sweep_every` seconds:
    # a request times out between `total_timeout` and `total_timeout * 1.1`.
    def _arm_sweeper(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(self._sweep_every, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        for conn, deadline in list(self._exchanges.items()):
            if deadline <= now:
                conn.expire(RequestTimeout(f"no answer within {self.total_timeout:g} s"))
        if self._exchanges:
            self._arm_sweeper()

    # -- internals ----------------------------------------------------------------------------
    def _parse(self, url: str) -> tuple[ParsedUrl, str]:
        """The URL parsed, with the start of every request head to it (cached: once per URL)."""
        known = self._parsed.get(url)
        if known is None:
            parsed = parse_webhook_url(url)
            start = f"POST {parsed.target} HTTP/1.1\r\nHost: {parsed.host_header}\r\nUser-Agent: {self._user_agent}\r\n"
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            known = self._parsed[url] = (parsed, start)
        return known

    @staticmethod
    def _request_bytes(start: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        # A CR, LF or NUL anywhere in a name or value would end the header early (request
        # splitting), a ':' in a name would misname it: checked with a few scans of the joined
        # text, not one per character and header (this runs for every delivery).
        names, values = "".join(headers), "".join(headers.values())
        if any(c in names or c in values for c in "\r\n\0") or ":" in names:
            raise ValueError("invalid header: a name or value holds CR, LF or NUL, or a name holds ':'")
        given = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        typed = "content-type" in headers or any(name.lower() == "content-type" for name in headers)
        content_type = "" if typed else "Content-Type: application/json\r\n"
        head = f"{start}Content-Length: {len(body)}\r\n{content_type}{given}\r\n"
        return head.encode("latin-1") + body

    async def _connect(self, parsed: ParsedUrl) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                try:
                    addresses = await resolve_target(
                        parsed, allow_private_networks=self.allow_private_networks, resolver=self._resolver
                    )
                except ValidationError as exc:
                    raise BlockedAddressError(str(exc)) from None
                tls = parsed.scheme == "https"
                if tls and self._ssl is None:
                    self._ssl = _tls_context()
                try:
                    sock = await aiohappyeyeballs.start_connection(
                        [_addr_info(address, parsed.port) for address in addresses],
                        happy_eyeballs_delay=self.happy_eyeballs_delay,
                    )
                except OSError as exc:
                    raise ConnectError(f"cannot connect to {parsed.host}:{parsed.port}: {_describe(exc)}") from None
                try:
                    _, conn = await loop.create_connection(
                        lambda: _Connection(max_body=self.max_body, on_lost=self._idle.discard),
                        sock=sock,
                        ssl=self._ssl if tls else None,
                        server_hostname=parsed.host if tls else None,
                    )
                except BaseException as exc:
                    sock.close()
                    if isinstance(exc, ssl.SSLError):
                        raise TlsError(f"TLS: {exc.reason or exc}") from None
                    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                        raise ConnectError(f"cannot connect to {parsed.host}:{parsed.port}: {_describe(exc)}") from None
                    raise
                return conn
        except TimeoutError:
            raise ConnectError(f"connect timeout after {self.connect_timeout:g} s") from None


def _addr_info(address: str, port: int) -> aiohappyeyeballs.AddrInfoType:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


def _reason(exc: httptools.HttpParserError) -> str:
    return (str(exc) or type(exc).__name__)[:120]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "closed by the server"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return (str(exc) or type(exc).__name__)[:120]


async def aclose_quietly(client: HttpClient) -> None:
    with contextlib.suppress(Exception):
        await client.close()

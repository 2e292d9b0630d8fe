"""A small HTTP/1.1 POST client on asyncio streams, made for delivering webhooks.

Why not httpx or aiohttp: measured on this machine (docs/PERFORMANCE.md, "Dispatcher"), a bare
httpx loop spends most of its CPU in its connection pool and an aiohttp loop is several times
slower than raw streams; the delivery hot path must not be capped by its client. Owning the client
also gives what a webhook sender needs and general clients make awkward:

- it connects to the address the SSRF guard checked (no second DNS lookup a rebinding server
  could answer differently), with TLS verified against the URL's host name;
- redirects are never followed (a 3xx is just an answer);
- at most `max_body` bytes of a response are read; a larger body is not drained, the connection
  is dropped, so an endpoint streaming gigabytes costs us nothing;
- a connect timeout and a total timeout per request.

Connections are kept alive per (scheme, host, port) and reused; a request that finds its reused
connection closed by the server before any answer is retried once on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import deque
from collections.abc import Mapping

import msgspec

from core.dispatch.ssrf import ParsedUrl, Resolver, parse_webhook_url, resolve_target
from core.errors import ValidationError

USER_AGENT = "Mempools-Webhooks/0.1 (+https://www.standardwebhooks.com)"
_HEAD_LIMIT = 64 * 1024


class HttpResponse(msgspec.Struct, kw_only=True):
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes  # at most `max_body` bytes
    truncated: bool
    latency_ms: float


class HttpError(Exception):
    """The request got no HTTP answer; `str()` is short enough for the attempt log."""


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


class _Conn:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        transport = self.writer.transport
        if transport is not None and not transport.is_closing():
            transport.abort()  # never linger on a peer that is still sending


class _Stale(Exception):
    """A reused connection died before the answer started: safe to retry on a new one."""


def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


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
        user_agent: str = USER_AGENT,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.total_timeout = total_timeout
        self.max_body = max_body
        self.allow_private_networks = allow_private_networks
        self._ssl = ssl_context
        self._resolver = resolver
        self._max_idle = max_idle_per_host
        self._idle: dict[tuple[str, str, int], deque[_Conn]] = {}
        self._parsed: dict[str, ParsedUrl] = {}
        self._user_agent = user_agent
        self._closed = False

    # -- public -------------------------------------------------------------------------------
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST `body`; raises an `HttpError` when no HTTP answer arrives (any status is an answer)."""
        parsed = self._parse(url)
        request = self._request_bytes(parsed, body, headers)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.total_timeout):
                for _ in range(2):
                    conn, reused = await self._acquire(parsed)
                    try:
                        response, keep = await self._exchange(conn, request, reused)
                    except _Stale:
                        conn.close()
                        continue
                    except BaseException:
                        conn.close()
                        raise
                    self._release(parsed, conn, keep)
                    response.latency_ms = (time.perf_counter() - started) * 1000
                    return response
                raise ProtocolError("connection closed before an answer")
        except TimeoutError:
            raise RequestTimeout(f"no answer within {self.total_timeout:g} s") from None

    async def close(self) -> None:
        self._closed = True
        for pool in self._idle.values():
            while pool:
                pool.popleft().close()
        self._idle.clear()

    # -- internals ----------------------------------------------------------------------------
    def _parse(self, url: str) -> ParsedUrl:
        parsed = self._parsed.get(url)
        if parsed is None:
            parsed = parse_webhook_url(url)
            if len(self._parsed) > 10_000:
                self._parsed.clear()
            self._parsed[url] = parsed
        return parsed

    def _request_bytes(self, parsed: ParsedUrl, body: bytes, headers: Mapping[str, str]) -> bytes:
        lines = [
            f"POST {parsed.target} HTTP/1.1",
            f"Host: {parsed.host_header}",
            f"User-Agent: {self._user_agent}",
            f"Content-Length: {len(body)}",
        ]
        if not any(k.lower() == "content-type" for k in headers):
            lines.append("Content-Type: application/json")
        for name, value in headers.items():
            if any(c in name or c in value for c in "\r\n\0") or ":" in name:
                raise ValueError(f"invalid header {name!r}")
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _acquire(self, parsed: ParsedUrl) -> tuple[_Conn, bool]:
        pool = self._idle.get((parsed.scheme, parsed.host, parsed.port))
        while pool:
            conn = pool.pop()
            if conn.usable():
                return conn, True
            conn.close()
        return await self._connect(parsed), False

    def _release(self, parsed: ParsedUrl, conn: _Conn, keep: bool) -> None:
        if not keep or self._closed or not conn.usable():
            conn.close()
            return
        pool = self._idle.setdefault((parsed.scheme, parsed.host, parsed.port), deque())
        if len(pool) >= self._max_idle:
            conn.close()
        else:
            pool.append(conn)

    async def _connect(self, parsed: ParsedUrl) -> _Conn:
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
                last: OSError | None = None
                for address in addresses:
                    try:
                        reader, writer = await asyncio.open_connection(
                            address,
                            parsed.port,
                            ssl=self._ssl if tls else None,
                            server_hostname=parsed.host if tls else None,
                            limit=_HEAD_LIMIT,
                        )
                    except ssl.SSLError as exc:
                        raise TlsError(f"TLS: {exc.reason or exc}") from None
                    except OSError as exc:
                        last = exc
                        continue
                    return _Conn(reader, writer)
                reason = last.strerror if last is not None and last.strerror else str(last)
                raise ConnectError(f"cannot connect to {parsed.host}:{parsed.port}: {reason}")
        except TimeoutError:
            raise ConnectError(f"connect timeout after {self.connect_timeout:g} s") from None

    async def _exchange(self, conn: _Conn, request: bytes, reused: bool) -> tuple[HttpResponse, bool]:
        reader, writer = conn.reader, conn.writer
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            if reused and (not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial):
                raise _Stale() from None
            raise ProtocolError(f"connection lost: {_describe(exc)}") from None
        except asyncio.LimitOverrunError:
            raise ProtocolError("response headers too large") from None
        except ssl.SSLError as exc:
            raise TlsError(f"TLS: {exc.reason or exc}") from None
        try:
            while True:
                version, status, reason, headers = _parse_head(head)
                if 100 <= status < 200 and status != 101:
                    head = await reader.readuntil(b"\r\n\r\n")
                    continue
                break
            body, complete = await self._read_body(reader, status, headers)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise ProtocolError(f"connection lost while reading the answer: {_describe(exc)}") from None
        except asyncio.LimitOverrunError:
            raise ProtocolError("response framing line too long") from None
        except ssl.SSLError as exc:
            raise TlsError(f"TLS: {exc.reason or exc}") from None
        keep = complete and version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        response = HttpResponse(
            status=status, reason=reason, headers=headers, body=body, truncated=not complete, latency_ms=0.0
        )
        return response, keep

    async def _read_body(
        self, reader: asyncio.StreamReader, status: int, headers: dict[str, str]
    ) -> tuple[bytes, bool]:
        """Up to `max_body` bytes; `complete` False when more was left unread (drop the connection)."""
        cap = self.max_body
        if status in (204, 304):
            return b"", True
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return await _read_chunked(reader, cap)
        length_text = headers.get("content-length")
        if length_text is not None:
            try:
                length = int(length_text)
            except ValueError:
                raise ProtocolError("invalid Content-Length") from None
            if length < 0:
                raise ProtocolError("invalid Content-Length")
            take = min(length, cap)
            body = await reader.readexactly(take) if take else b""
            return body, take == length
        chunks: list[bytes] = []
        size = 0
        while size < cap:
            chunk = await reader.read(cap - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed by the server"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


def _parse_head(head: bytes) -> tuple[str, int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
        raise ProtocolError(f"not an HTTP/1.x answer: {lines[0][:60]!r}")
    try:
        status = int(status_line[1])
    except ValueError:
        raise ProtocolError(f"invalid status line: {lines[0][:60]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status_line[0], status, status_line[2] if len(status_line) > 2 else "", headers


async def _read_chunked(reader: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            chunk_size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("invalid chunk size") from None
        if chunk_size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(chunks), True
        if size + chunk_size > cap:
            if cap > size:
                chunks.append(await reader.readexactly(cap - size))
            return b"".join(chunks), False
        chunks.append(await reader.readexactly(chunk_size))
        size += chunk_size
        await reader.readexactly(2)


async def aclose_quietly(client: HttpClient) -> None:
    with contextlib.suppress(Exception):
        await client.close()

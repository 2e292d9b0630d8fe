"""The webhook HTTP client on the wire: framing by llhttp, keep-alive rules, idle connections,
connection racing. Every peer here is a raw TCP server on loopback writing exact bytes."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from core.dispatch.http import HttpClient, ProtocolError, RequestTimeout
from core.dispatch.webhook import WebhookChannel
from tests.fakes.raw_http import Answer, RawHttpServer
from tests.fakes.records import COSMOS, make_notification, webhook_destination
from tests.polling import until

BODY = b'{"type":"event.matched"}'
HEADERS = {"content-type": "application/json"}


def _client(**kwargs: object) -> HttpClient:
    return HttpClient(allow_private_networks=True, **kwargs)  # type: ignore[arg-type]


def _close_wait_sockets(port: int) -> int:
    """Sockets of this machine in CLOSE_WAIT towards `port` (the peer closed, we did not)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "08" and int(fields[2].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


@pytest.fixture
async def server():
    async with RawHttpServer() as s:
        yield s


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
            "Invalid character in chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
            "Invalid character in chunk size",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1_0\r\n\r\n0123456789", "Invalid character in Content-Length"),
        (b"HTTP/1.1 2_00 OK\r\nContent-Length: 2\r\n\r\nok", "Invalid status code"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk", "Duplicate Content-Length"),
        (b"HTTP/2 200\r\n\r\n", "invalid HTTP answer"),
    ],
    ids=["chunk-size-negative", "chunk-size-0x", "content-length-underscore", "status-underscore", "two-lengths", "h2"],
)
async def test_malformed_answers_are_protocol_errors(server: RawHttpServer, answer: bytes, reason: str) -> None:
    server.script(Answer(answer, then="hang"))
    channel = WebhookChannel(_client())
    destination = webhook_destination("dst_1", "acc_a", server.url())
    result = await channel.deliver(make_notification("acc_a", ("dst_1",)), destination, COSMOS)
    # What the attempt log shows: a short reason, a retryable failure, no status.
    assert not result.ok and not result.permanent and result.status is None
    assert result.error is not None and result.error.startswith("invalid HTTP answer") and reason in result.error
    # The connection that carried the bad answer is not kept.
    await until(lambda: server.connections[0].client_closed)
    assert channel.client.idle_connections == 0
    await channel.client.close()


async def test_a_body_ending_at_connection_close_is_complete(server: RawHttpServer) -> None:
    server.script(Answer(b"HTTP/1.1 418 I'm a teapot\r\nContent-Type: text/plain\r\n\r\nshort and stout", then="close"))
    client = _client()
    response = await client.post(server.url(), BODY, HEADERS)
    assert (response.status, response.body, response.truncated) == (418, b"short and stout", False)
    assert client.idle_connections == 0
    await client.close()


async def test_a_body_cut_short_of_its_length_is_an_error(server: RawHttpServer) -> None:
    server.script(Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", then="close"))
    client = _client()
    with pytest.raises(ProtocolError, match="connection lost while reading the answer"):
        await client.post(server.url(), BODY, HEADERS)
    await client.close()


@pytest.mark.parametrize(
    ("head", "reused"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, close\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: Upgrade,Close\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", True),
    ],
    ids=["keep-alive-close", "upgrade-close", "http10", "http10-keep-alive", "http11"],
)
async def test_connection_header_decides_reuse(server: RawHttpServer, head: bytes, reused: bool) -> None:
    """The server leaves every connection open: only the client's reading of the answer decides."""
    server.script(Answer(head + b"ok"), Answer(head + b"ok"))
    client = _client()
    for _ in range(2):
        response = await client.post(server.url(), BODY, HEADERS)
        assert (response.status, response.body, response.truncated) == (200, b"ok", False)
    if reused:
        assert [c.requests for c in server.connections] == [2]
        assert client.idle_connections == 1
    else:
        assert [c.requests for c in server.connections] == [1, 1]
        await until(lambda: all(c.client_closed for c in server.connections))
        assert client.idle_connections == 0
    await client.close()


async def test_a_switching_protocols_answer_is_final_and_not_reused(server: RawHttpServer) -> None:
    server.script(Answer(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81"))
    client = _client()
    response = await client.post(server.url(), BODY, HEADERS)
    assert (response.status, response.body) == (101, b"")
    await until(lambda: server.connections[0].client_closed)
    assert client.idle_connections == 0
    await client.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"4000\r\n" + b"x" * 0x4000 + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 100_000,
    ],
    ids=["content-length", "chunked", "close-delimited"],
)
async def test_an_oversized_body_is_cut_and_the_connection_dropped(server: RawHttpServer, answer: bytes) -> None:
    server.script(Answer(answer, then="hang"))
    client = _client(max_body=4096)
    response = await client.post(server.url(), BODY, HEADERS)
    assert response.status == 200 and response.body == b"x" * 4096 and response.truncated
    await until(lambda: server.connections[0].client_closed)
    assert client.idle_connections == 0
    await client.close()


async def test_an_oversized_head_is_refused(server: RawHttpServer) -> None:
    server.script(Answer(b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 70_000 + b"\r\n\r\nok", then="hang"))
    client = _client()
    with pytest.raises(ProtocolError, match="response headers too large"):
        await client.post(server.url(), BODY, HEADERS)
    await until(lambda: server.connections[0].client_closed)
    await client.close()


async def test_a_head_that_never_ends_times_out(server: RawHttpServer) -> None:
    server.script(Answer(b"HTTP/1.1 200 OK\r\nContent-", then="hang"))
    client = _client(total_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(RequestTimeout, match=r"no answer within 0.3 s"):
        await client.post(server.url(), BODY, HEADERS)
    assert 0.3 <= time.monotonic() - started < 3  # never early; late by at most one sweep
    await until(lambda: server.connections[0].client_closed)
    await client.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"x-note": "ok\r\nx-injected: 1"},
        {"x-note": "ok\nx-injected: 1"},
        {"x-note": "ok\rx"},
        {"x-note": "nul\0"},
        {"x-bad\r\nname": "v"},
        {"x-bad:name": "v"},
    ],
)
async def test_a_header_that_would_split_the_request_is_refused(server: RawHttpServer, headers: dict[str, str]) -> None:
    server.script(Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    client = _client()
    with pytest.raises(ValueError, match="invalid header"):
        await client.post(server.url(), BODY, headers)
    assert server.connections == []  # nothing was sent
    response = await client.post(server.url(), BODY, {"x-note": "fine: colons in values are"})
    assert response.status == 200
    await client.close()


async def test_interim_answers_are_skipped(server: RawHttpServer) -> None:
    server.script(Answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 4\r\n\r\nsure"))
    client = _client()
    response = await client.post(server.url(), BODY, HEADERS)
    assert (response.status, response.reason, response.body) == (202, "Accepted", b"sure")
    await client.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_idle_connections_expire_in_the_background(server: RawHttpServer) -> None:
    clock = _Clock()
    client = _client(clock=clock, idle_timeout=30, sweep_interval=0.01)
    await client.post(server.url(), BODY, HEADERS)
    clock.now += 29
    await client.post(server.url(), BODY, HEADERS)  # reused: 29 s idle is within the timeout
    assert [c.requests for c in server.connections] == [2] and client.idle_connections == 1
    clock.now += 30
    # The host is never used again: the sweep closes the connection all the same.
    await until(lambda: server.connections[0].client_closed)
    assert client.idle_connections == 0
    await client.close()


async def test_an_expired_connection_is_not_reused(server: RawHttpServer) -> None:
    clock = _Clock()
    client = _client(clock=clock, idle_timeout=30, sweep_interval=3600)
    await client.post(server.url(), BODY, HEADERS)
    clock.now += 30
    await client.post(server.url(), BODY, HEADERS)
    assert [c.requests for c in server.connections] == [1, 1]
    await until(lambda: server.connections[0].client_closed)
    await client.close()


async def test_a_connection_the_peer_closes_is_closed_at_once(server: RawHttpServer) -> None:
    server.script(Answer(then="close"))  # a keep-alive answer, then the server hangs up anyway
    client = _client()
    await client.post(server.url(), BODY, HEADERS)
    await until(lambda: client.idle_connections == 0 and _close_wait_sockets(server.port) == 0)
    # The next request opens a new connection without a failed attempt first.
    response = await client.post(server.url(), BODY, HEADERS)
    assert response.status == 200 and len(server.connections) == 2
    await client.close()


async def test_a_reused_connection_dropped_before_answering_is_retried_once(server: RawHttpServer) -> None:
    """The server takes the second request on the kept connection and hangs up without a byte:
    nothing was answered, so the client retries it on a new connection."""
    server.script(Answer(), Answer(b"", then="close"))
    client = _client()
    await client.post(server.url(), BODY, HEADERS)
    response = await client.post(server.url(), BODY, HEADERS)
    assert (response.status, response.body) == (200, b"ok")
    assert [c.requests for c in server.connections] == [2, 1]
    await client.close()


async def test_idle_connections_have_a_global_cap() -> None:
    async with RawHttpServer() as a, RawHttpServer() as b, RawHttpServer() as c:
        client = _client(max_idle_total=2)
        for server in (a, b, c):
            await client.post(server.url(), BODY, HEADERS)
        # The least recently used one (a's) made room for c's.
        await until(lambda: a.connections[0].client_closed)
        assert client.idle_connections == 2
        assert not b.connections[0].client_closed and not c.connections[0].client_closed
        await client.post(b.url(), BODY, HEADERS)
        assert [conn.requests for conn in b.connections] == [2]
        await client.close()


def _black_hole(port: int) -> list[socket.socket]:
    """A listener on [::1]:port whose accept queue is full: the kernel drops further SYNs, so a
    connection attempt there hangs (as to a host that does not answer)."""
    listener = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    listener.bind(("::1", port))
    listener.listen(0)
    fillers = []
    for _ in range(2):
        filler = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        filler.setblocking(False)
        filler.connect_ex(("::1", port))
        fillers.append(filler)
    return [listener, *fillers]


async def test_connection_attempts_race_across_addresses(server: RawHttpServer) -> None:
    try:
        hole = _black_hole(server.port)
    except OSError:
        pytest.skip("no IPv6 loopback or the port is taken on ::1")

    async def resolver(host: str, port: int) -> list[str]:
        return ["::1", "127.0.0.1"]  # the unanswering address first

    client = HttpClient(allow_private_networks=True, resolver=resolver, connect_timeout=5)
    try:
        started = time.monotonic()
        response = await client.post(f"http://hooks.example:{server.port}/hook", BODY, HEADERS)
        elapsed = time.monotonic() - started
    finally:
        for s in hole:
            s.close()
        await client.close()
    assert response.status == 200 and [c.requests for c in server.connections] == [1]
    assert elapsed < 2.5  # the second address was tried after 250 ms, not after the 5 s connect timeout


async def test_bytes_after_the_answer_spoil_the_connection(server: RawHttpServer) -> None:
    """A second answer to one request is not framing to trust: the connection is not reused."""
    server.script(Answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 Surprise\r\n\r\n"))
    client = _client()
    assert (await client.post(server.url(), BODY, HEADERS)).status == 200
    await until(lambda: server.connections[0].client_closed)
    assert client.idle_connections == 0
    response = await client.post(server.url(), BODY, HEADERS)
    assert (response.status, response.body) == (200, b"ok") and len(server.connections) == 2
    await client.close()

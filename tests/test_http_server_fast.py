"""The API server's wire path (#17): answers leave at once, and llhttp's unbounded head is bounded.

Real uvicorn on loopback, configured exactly as `mempools serve` configures it.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from core.config import ApiConfig
from tests.test_http_server import HoldingApp, serving

#: The largest request head served (mempools.http_server.MAX_HEAD_BYTES, h11's bound before).
MAX_HEAD_BYTES = 16 * 1024


async def test_answers_on_a_kept_alive_connection_arrive_without_a_delayed_ack_wait() -> None:
    """A response is two writes (head, body). Without TCP_NODELAY on the accepted socket the
    body waited for the client's delayed ACK of the head: 40+ ms for every answer, however small."""
    async with serving(HoldingApp(), ApiConfig()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        took: list[float] = []
        for _ in range(15):
            started = time.perf_counter()
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = await reader.readuntil(b"ok")
            took.append(time.perf_counter() - started)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        writer.close()
    assert statistics.median(took) < 0.02, [round(t * 1000, 1) for t in took]


async def test_heads_under_the_limit_are_served_and_one_beyond_it_is_refused_with_a_problem() -> None:
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 80) for i in range((MAX_HEAD_BYTES - 200) // 96))
    near_limit = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"
    assert MAX_HEAD_BYTES - 400 < len(near_limit) < MAX_HEAD_BYTES
    async with serving(HoldingApp(), ApiConfig()) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):  # each request has its own allowance, on one connection
            writer.write(near_limit)
            assert (await asyncio.wait_for(reader.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1 200 OK\r\n")
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for _ in range(MAX_HEAD_BYTES // 100 + 1):  # headers that never end
            writer.write(b"X-Filler: " + b"a" * 88 + b"\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)  # and the connection is closed
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"content-type: application/problem+json" in head
    assert b'"status":431' in body and str(MAX_HEAD_BYTES).encode() in body

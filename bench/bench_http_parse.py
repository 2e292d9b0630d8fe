"""What parsing one webhook answer costs: llhttp (httptools) against the hand-written head parser
the client used before #13.10 (a benchmark, not a test).

    .venv/bin/python bench/bench_http_parse.py [--number 200000]

Both parse the answer the dispatcher benchmark's receiver sends (status line, two headers, a 2-byte
body), first the parsers alone, then each with the receiving side it runs in:
- parsers: the old head split (the body read separately), and llhttp with the same callbacks as
  `core.dispatch.http._Connection` on one parser reused across answers, as a kept-alive connection
  does;
- stacks: the old client's `StreamReader.readuntil` + head split + `readexactly`, against the real
  `_Connection.data_received` (a future per answer, llhttp); both build the `HttpResponse`. Data is
  already buffered here, so neither side suspends: the event-loop wake-ups of a real exchange (which
  `bench_dispatch.py` measures) are left out.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import timeit
from pathlib import Path

import httptools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def old_parse_head(head: bytes) -> tuple[str, int, str, dict[str, str]]:
    """The hand-written parser removed in #13.10, verbatim (minus its error cases)."""
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    status = int(status_line[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status_line[0], status, status_line[2] if len(status_line) > 2 else "", headers


class _Callbacks:
    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.reason = b""
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.done = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1").strip()

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = self.parser.should_keep_alive()

    def parse(self, data: bytes) -> None:
        self.reason, self.headers, self.chunks = b"", {}, []
        self.parser.feed_data(data)
        assert self.done and self.status == 200


async def _stacks(number: int) -> dict[str, float]:
    from core.dispatch.http import HttpResponse, _Connection

    results: dict[str, float] = {}

    reader = asyncio.StreamReader(limit=64 * 1024)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(number):
            reader.feed_data(ANSWER)
            head = await reader.readuntil(b"\r\n\r\n")
            _, status, reason, headers = old_parse_head(head)
            body = await reader.readexactly(int(headers["content-length"]))
            HttpResponse(status=status, reason=reason, headers=headers, body=body, truncated=False, latency_ms=0.0)
        best = min(best, (time.perf_counter() - started) / number)
    results["old: StreamReader + head split + readexactly"] = best

    class _Transport(asyncio.Transport):
        def write(self, data: bytes | bytearray | memoryview) -> None:
            pass

        def is_closing(self) -> bool:
            return False

    conn = _Connection(max_body=4096, on_lost=lambda _: None)
    conn.connection_made(_Transport())
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(number):
            waiter = conn.send(b"", reused=True)
            conn.data_received(ANSWER)
            response, keep = waiter.result()
        best = min(best, (time.perf_counter() - started) / number)
    assert response.status == 200 and keep
    results["new: _Connection.data_received (llhttp)"] = best
    return results


def main(number: int) -> None:
    head = ANSWER[: ANSWER.index(b"\r\n\r\n") + 4]
    callbacks = _Callbacks()
    runs = {
        "old: hand-written head split": lambda: old_parse_head(head),
        "new: llhttp, head and body, callbacks": lambda: callbacks.parse(ANSWER),
    }
    print(f"one {len(ANSWER)}-byte answer, best of 5 x {number:,}")
    for name, run in runs.items():
        best = min(timeit.repeat(run, number=number, repeat=5)) / number
        print(f"  {name:<48} {best * 1e6:6.2f} µs")
    for name, best in asyncio.run(_stacks(number)).items():
        print(f"  {name:<48} {best * 1e6:6.2f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    main(parser.parse_args().number)

"""Websocket `tm.event='NewBlock'` subscription: an early trigger for new heights, nothing more.

CometBFT drops slow subscribers and replays nothing after a reconnect (README §5), so the watcher
never trusts this stream for content: it only learns "height H exists" a little sooner than by
polling `/status`, then fetches H through the pool as usual. Heights may therefore skip or repeat
here; consumers treat each as "the tip is at least H".

The iterator never ends by itself: on any failure it reconnects with exponential backoff and
jitter, rotating through the given URLs, logging once when an incident starts and once when it
ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import websockets
from msgspec import Struct

from core.support.backoff import backoff
from core.support.incidents import IncidentLog

log = logging.getLogger(__name__)

NEW_BLOCK_QUERY = "tm.event='NewBlock'"
_INCIDENT = "new-block subscription"


class _Header(Struct):
    height: int


class _Block(Struct):
    header: _Header


class _Value(Struct):
    block: _Block | None = None


class _Data(Struct):
    value: _Value | None = None


class _Result(Struct):
    data: _Data | None = None


class _Message(Struct):
    id: Any = None
    result: _Result | None = None
    error: Any = None


def websocket_url(rpc_url: str) -> str:
    """`http://host:26657/prefix` -> `ws://host:26657/prefix/websocket` (https -> wss)."""
    url = rpc_url.rstrip("/")
    if url.startswith("https://"):
        url = "wss://" + url[len("https://") :]
    elif url.startswith("http://"):
        url = "ws://" + url[len("http://") :]
    return url if url.endswith("/websocket") else url + "/websocket"


class NewBlockSubscription:
    """`async for height in NewBlockSubscription([url, ...]):` yields each announced height.

    `max_message_bytes` bounds one NewBlock message (it carries the whole block).
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        open_timeout: float = 5.0,
        max_message_bytes: int = 64 * 1024 * 1024,
        rng: random.Random | None = None,
    ) -> None:
        if not urls:
            raise ValueError("need at least one RPC url")
        self.urls = [websocket_url(u) for u in urls]
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes
        self._rng = rng or random.Random()
        self._closed = asyncio.Event()
        self.connects = 0  # how many subscriptions were established (observability, tests)

    async def aclose(self) -> None:
        self._closed.set()

    def __aiter__(self) -> AsyncIterator[int]:
        return self._run()

    async def _run(self) -> AsyncIterator[int]:
        failures = 0
        incidents = IncidentLog(log)  # lost and restored: two lines, however many reconnects between
        for url in itertools.cycle(self.urls):
            if self._closed.is_set():
                return
            try:
                async for height in self._session(url):
                    if failures:
                        incidents.resolved(_INCIDENT, "%s restored after %d failures in %.1f s")
                        failures = 0
                    yield height
                if self._closed.is_set():
                    return
                raise ConnectionError("server closed the websocket")
            except (OSError, websockets.WebSocketException, TimeoutError, ConnectionError, ValueError) as exc:
                if self._closed.is_set():
                    return
                incidents.failure(_INCIDENT, "new-block subscription on %s lost: %s; reconnecting", url, exc)
                failures += 1
                delay = backoff(failures, first=self.min_backoff, cap=self.max_backoff)
                delay *= 0.5 + self._rng.random() / 2
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), delay)

    async def _session(self, url: str) -> AsyncIterator[int]:
        async with websockets.connect(
            url, open_timeout=self.open_timeout, max_size=self.max_message_bytes, ping_interval=20
        ) as ws:
            request = {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"query": NEW_BLOCK_QUERY}}
            await ws.send(msgspec.json.encode(request).decode())
            confirmed = False
            closed = asyncio.ensure_future(self._closed.wait())
            recv: asyncio.Future[Any] | None = None
            try:
                while True:
                    recv = asyncio.ensure_future(ws.recv())
                    done, _ = await asyncio.wait({recv, closed}, return_when=asyncio.FIRST_COMPLETED)
                    if closed in done:
                        recv.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await recv
                        return
                    raw = recv.result()
                    try:
                        msg = msgspec.json.decode(raw, type=_Message, strict=False)
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        log.debug("ignoring unreadable websocket message from %s", url)
                        continue
                    if msg.error is not None:
                        raise ValueError(f"subscribe refused: {msg.error}")
                    if not confirmed:
                        confirmed = True
                        self.connects += 1
                    value = msg.result.data.value if msg.result and msg.result.data else None
                    if value is not None and value.block is not None:
                        yield value.block.header.height
            finally:
                closed.cancel()
                if recv is not None and not recv.done():
                    # Cancelled mid-wait (the watcher stopped): retrieve the read so its failure,
                    # when the socket closes, is not reported as "never retrieved".
                    recv.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await recv

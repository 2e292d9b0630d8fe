"""`GET /v1/stream` end to end: a devnet block (real CometBFT RPC on loopback), the real watcher,
processor and dispatcher, a real webhook endpoint, the app on a real uvicorn; the stream read with
httpx shows the notification, then its attempts, to its owner only. A client that goes away
frees its listener; one that stops reading is cut off without holding anyone up."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.readiness import Readiness
from core.chain.pool import EndpointPool
from core.config import ChainConfig, Config, Denom, WebhooksConfig
from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.http import HttpClient
from core.dispatch.webhook import WebhookChannel
from core.errors import Throttled
from core.services.activity import ActivityFeed, LaggedEvent, NotificationEvent
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import PASSWORD, Env, api_client, seed_notifications, signup
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.loopback_api import serve_api
from tests.polling import until
from tests.processes import MempoolsProcess

DEVNET = "devnet-1"
T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _config(rpc: str) -> Config:
    return Config(
        chains=[
            ChainConfig(
                id=DEVNET, name="Devnet", rpc=[rpc], bech32_prefix="cosmos",
                denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
            )
        ],
        webhooks=WebhooksConfig(allow_private_networks=True),
    )  # fmt: skip


class SseReader:
    """Reads one `GET /v1/stream` with httpx, keeping every event and comment it saw."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.comments: list[str] = []
        self.retry: int | None = None
        self.status: int | None = None
        self.content_type = ""
        self._client, self._headers = client, headers
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(httpx.ReadError, httpx.RemoteProtocolError):  # the server went away
            await self._read_events()

    async def _read_events(self) -> None:
        async with self._client.stream("GET", "/v1/stream", headers=self._headers) as r:
            self.status, self.content_type = r.status_code, r.headers.get("content-type", "")
            fields: dict[str, str] = {}
            async for line in r.aiter_lines():
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                elif line.startswith("retry:"):
                    self.retry = int(line.split(":", 1)[1])
                elif line == "":
                    if "event" in fields:
                        data = json.loads(fields["data"])
                        self.events.append({"event": fields["event"], "sse_id": int(fields["id"]), "data": data})
                    fields = {}
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.strip()

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The JSON data of each `kind` event, in order."""
        return [e["data"] for e in self.events if e["event"] == kind]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclasses.dataclass
class Rig:
    env: Env
    feed: ActivityFeed
    url: str
    devnet: DevnetServer
    receiver: WebhookReceiver


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """Devnet, webhook receiver, watcher, dispatcher (retries after 50 ms) and the app on loopback."""
    chain = DevnetChain(DevnetConfig(chain_id=DEVNET, block_time=0, history=5, txs_per_block=0, seed=5))
    async with DevnetServer(chain, run_clock=False) as devnet, WebhookReceiver() as receiver:
        env = Env(tmp_path, config=_config(devnet.url))
        feed = ActivityFeed(env.repos, env.outbox, max_queued=8)
        services = dataclasses.replace(env.services, activity=feed)
        app = create_app(
            lambda: Readiness(ready=True, checks={}), services, api_config=env.config.api, stream_heartbeat=0.05
        )
        pool = EndpointPool(DEVNET, [devnet.url], timeout=2)
        processor = BlockProcessor(env.config.chains[0].to_chain(), env.matcher, env.repos, env.outbox)
        watcher = ChainWatcher(
            DEVNET, pool, processor, env.repos, start_height=devnet.chain.tip + 1, window=4, poll_interval=0.02
        )
        http = HttpClient(allow_private_networks=True, total_timeout=5)
        dispatcher = Dispatcher(
            env.outbox,
            env.repos,
            {"webhook": WebhookChannel(http)},
            {DEVNET: env.config.chains[0].to_chain()}.get,
            limits=DispatchLimits(retry_delays=(0.05, 0.05, 0.05)),
        )
        stop = asyncio.Event()
        tasks = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(dispatcher.run(stop))]
        try:
            async with serve_api(app) as url:
                yield Rig(env=env, feed=feed, url=url, devnet=devnet, receiver=receiver)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
            await pool.aclose()
            await http.close()
            env.close()


async def _watch_funds(client: httpx.AsyncClient, h: dict[str, str], rig: Rig, address: str) -> str:
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": rig.receiver.url("/h")}, headers=h)
    assert r.status_code == 201, r.text
    hook = str(r.json()["id"])
    r = await client.post(
        "/v1/subscriptions",
        json={
            "chain_id": DEVNET, "name": "<script>alert(1)</script>", "preset": "funds_either",
            "params": {"address": address}, "destination_ids": [hook],
        },
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return hook


async def test_the_stream_shows_a_notification_then_its_attempts_to_its_owner_only(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.url, timeout=10) as client:
        alice, ha = await signup(client, "alice@example.com")
        bob, hb = await signup(client, "bob@example.com")
        treasury, sender = rig.devnet.chain.book.accounts[3], rig.devnet.chain.book.accounts[0]
        hook = await _watch_funds(client, ha, rig, treasury)
        mine, theirs = SseReader(client, ha), SseReader(client, hb)
        await until(lambda: rig.feed.listeners(alice) == 1 and rig.feed.listeners(bob) == 1)
        assert mine.status == 200 and mine.content_type.startswith("text/event-stream")

        rig.receiver.script(Reply(status=503))  # the first attempt fails, the retry is delivered
        rig.devnet.chain.schedule_transfer(sender, treasury, 1_500_000, "uatom")
        rig.devnet.advance()
        await until(lambda: [a["outcome"] for a in mine.of("attempt")] == ["failed", "delivered"], timeout=15)

        [note] = mine.of("notification")
        assert [e["event"] for e in mine.events] == ["notification", "attempt", "attempt"]
        assert [e["sse_id"] for e in mine.events] == sorted({e["sse_id"] for e in mine.events})
        [listed] = (await client.get("/v1/notifications", headers=ha)).json()["items"]
        assert note == listed
        assert note["subscription_name"] == "<script>alert(1)</script>"  # JSON data, as the API lists it
        failed, delivered = mine.of("attempt")
        assert failed["notification_id"] == delivered["notification_id"] == listed["id"]
        assert failed["destination_id"] == hook and failed["http_status"] == 503 and failed["error"]
        assert failed["next_attempt_at"] is not None and delivered["next_attempt_at"] is None
        assert delivered["http_status"] == 200 and delivered["latency_ms"] is not None
        detail = (await client.get(f"/v1/notifications/{listed['id']}", headers=ha)).json()
        as_streamed = [{k: v for k, v in a.items() if k != "next_attempt_at"} for a in mine.of("attempt")]
        assert as_streamed == detail["attempts"]
        assert len(rig.receiver.received) == 2

        # The other account saw nothing of it, though its stream was alive all along (heartbeats).
        assert theirs.events == [] and "heartbeat" in theirs.comments and theirs.retry == 3000
        assert mine.retry == 3000 and "connected" in mine.comments

        # A client that closes its connection frees its listener at once.
        await mine.close()
        await theirs.close()
        await until(lambda: rig.feed.listeners() == 0)


async def test_stream_authentication_and_the_per_account_limit(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.url, timeout=10) as client:
        r = await client.get("/v1/stream")
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        r = await client.get("/v1/stream", headers={"Authorization": "Bearer mp_forged"})
        assert r.status_code == 401
        alice, ha = await signup(client, "alice@example.com")
        readers = [SseReader(client, ha) for _ in range(5)]
        await until(lambda: rig.feed.listeners(alice) == 5)
        r = await client.get("/v1/stream", headers=ha)
        assert r.status_code == 429 and r.headers["content-type"] == "application/problem+json"
        assert "5 live streams" in r.json()["detail"]
        _, hb = await signup(client, "bob@example.com")  # another account is not held up by it
        other = SseReader(client, hb)
        await until(lambda: rig.feed.listeners() == 6)
        for reader in [*readers, other]:
            await reader.close()
        await until(lambda: rig.feed.listeners() == 0)
        # A session cookie works as an API key does.
        r = await client.post("/v1/sessions", json={"email": "alice@example.com", "password": "correct horse battery"})
        assert r.status_code == 201
        by_cookie = SseReader(client, {})
        await until(lambda: rig.feed.listeners(alice) == 1)
        assert by_cookie.status == 200
        await by_cookie.close()
        await until(lambda: rig.feed.listeners() == 0)


def _stuck_stream(url: str, headers: dict[str, str]) -> socket.socket:
    """A client that asks for the stream and never reads a byte (tiny receive buffer)."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: {host}\r\n{head}\r\n".encode())
    return sock


async def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    """What the stuck client would have read, once it reads again (up to `marker`)."""
    sock.setblocking(False)
    loop, seen = asyncio.get_running_loop(), b""
    while marker not in seen:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), 5)
        if not chunk:
            break
        seen += chunk
    return seen


async def test_a_client_that_stops_reading_holds_up_nobody(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.url, timeout=10) as client:
        alice, ha = await signup(client, "alice@example.com")
        treasury, sender = rig.devnet.chain.book.accounts[3], rig.devnet.chain.book.accounts[0]
        hook = await _watch_funds(client, ha, rig, treasury)
        stuck = _stuck_stream(rig.url, ha)
        try:
            await until(lambda: rig.feed.listeners(alice) == 1)
            # The stuck client's queue fills (8 here) and it is cut off: its listener is gone.
            seed_notifications(rig.env.repos, alice, "sub_old", 3000, start=T0)
            await until(lambda: rig.feed.listeners(alice) == 0)
            assert b"event: lagged" in await _read_until(stuck, b"event: lagged")
            reader = SseReader(client, ha)
            await until(lambda: rig.feed.listeners(alice) == 1)
            rig.devnet.chain.schedule_transfer(sender, treasury, 1_500_000, "uatom")
            rig.devnet.advance()
            await until(lambda: [a["outcome"] for a in reader.of("attempt")] == ["delivered"], timeout=15)
            assert [n["summary"].startswith("📥") for n in reader.of("notification")] == [True]
            assert len(rig.receiver.received) == 1 and reader.of("attempt")[0]["destination_id"] == hook
            await reader.close()
        finally:
            stuck.close()
        await until(lambda: rig.feed.listeners() == 0, timeout=10)


async def test_the_feed_cuts_off_a_listener_that_does_not_read_and_keeps_others(tmp_path: Path) -> None:
    env = Env(tmp_path)
    try:
        feed = ActivityFeed(env.repos, env.outbox, max_queued=3, max_per_account=2)
        async with api_client(env.app) as client:
            alice, _ = await signup(client, "alice@example.com")
            bob, _ = await signup(client, "bob@example.com")
        async with feed.subscribe(alice) as slow, feed.subscribe(alice) as fast, feed.subscribe(bob) as other:
            with pytest.raises(Throttled):
                feed.open(alice)
            got = []
            for round_ in range(3):  # `fast` keeps up: two at a time against a queue of three
                seed_notifications(env.repos, alice, "sub_a", 2, start=T0, first_height=1 + 10 * round_)
                got += [await fast.next(timeout=1), await fast.next(timeout=1)]
            assert all(isinstance(e, NotificationEvent) for e in got) and len({e.id for e in got}) == 6
            # `slow` never read: 6 events against a queue of 3, so one `lagged`, and then its end.
            events = [e async for e in slow]
            assert len(events) == 1 and isinstance(events[0], LaggedEvent) and events[0].dropped == 4
            assert await other.next(timeout=0.01) is None  # bob: nothing (a heartbeat would be due)
            assert feed.listeners() == 3
        assert feed.listeners() == 0
        assert feed.listeners() == 0
    finally:
        env.close()


def test_serve_ends_open_streams_at_shutdown(tmp_path: Path) -> None:
    """`mempools serve` stopping with a stream open: the stream ends at once and the process exits
    cleanly, well within uvicorn's 3 s wait for open connections."""
    config = tmp_path / "config.toml"
    config.write_text(f'chains = []\n[api]\nport = 0\n[store]\npath = "{tmp_path / "data"}"\n')
    server = MempoolsProcess("serve", "--config", str(config))
    try:
        url = server.api_url()
        with httpx.Client(base_url=url, timeout=10) as client:
            r = client.post("/v1/accounts", json={"email": "a@example.com", "password": PASSWORD})
            assert r.status_code == 201, r.text
            client.post("/v1/sessions", json={"email": "a@example.com", "password": PASSWORD})
            with client.stream("GET", "/v1/stream") as streamed:  # by the session cookie
                lines = streamed.iter_lines()
                assert next(lines) == ": connected"
                started = time.monotonic()
                server.proc.send_signal(signal.SIGTERM)
                rest = list(lines)  # the server ends the response: the iteration stops
                ended = time.monotonic() - started
        rc = server.stop()
        assert rc == 0 and "Traceback" not in server.output, server.output
        assert ended < 2.5 and time.monotonic() - started < 2.8, (ended, rest)
    finally:
        server.kill()

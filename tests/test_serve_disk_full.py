"""`mempools serve` with its data directory on a small tmpfs that fills up: a bad minute, not a broken process.

While the disk is full: API writes answer a 503 problem, /ready is 503 and names the store, the
watcher waits and the dispatcher stalls (the process stays up, the log stays short). Once the
ballast is deleted, all of it resumes by itself: /ready is 200 again, the watcher goes on from
where it stopped, every notification of every height is there exactly once, and every one of
them is delivered and recorded.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from pathlib import Path

import httpx
from aiohttp import web

from core.errors import STORE_BUSY
from core.models import Subscription
from core.store import open_store
from core.store.repositories import Repositories
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.fakes.records import webhook_destination
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.polling import until
from tests.processes import MempoolsProcess, write_devnet_config
from tests.seeding import put_now
from tests.test_watcher import CHAIN_ID, _subscriptions, expected_notifications
from tests.tmpfs import fill, small_tmpfs

HISTORY = 40
SUBSCRIPTION = {"chain_id": CHAIN_ID, "name": "mine", "queries": ["tm.event = 'Tx' AND message.action EXISTS"]}


class GatedReceiver(WebhookReceiver):
    """A webhook endpoint that holds every request until `gate` is set: deliveries in flight on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.held = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.held += 1
        try:
            await self.gate.wait()
        finally:
            self.held -= 1
        return await super()._handle(request)


def _seed(path: Path, chain: DevnetChain, url: str) -> list[Subscription]:
    store = open_store(path)
    try:
        repos = Repositories(store)
        put_now(repos.destinations, webhook_destination("dst_1", "acc_1", url))
        subs = _subscriptions(chain)
        for sub in subs:
            put_now(repos.subscriptions, sub)
        return subs
    finally:
        store.close()


async def _ready(http: httpx.AsyncClient, url: str, check, timeout: float = 60) -> httpx.Response:
    """Poll /ready until `check(response)` holds; the last answer on timeout, in the assertion."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(f"{url}/ready")
        if check(r):
            return r
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.1)


def _behind(r: httpx.Response) -> int:
    """How many blocks /ready says the chain is behind (from "at H, N behind" or "N blocks behind")."""
    text = r.json()["checks"][f"chain:{CHAIN_ID}"]
    words = text.replace(",", "").split()
    return int(words[words.index("behind") - 1]) if "behind" in words else -1


async def _outbox_depth(http: httpx.AsyncClient, url: str) -> int:
    metrics = (await http.get(f"{url}/metrics")).text
    match = re.search(r"^mempools_outbox_depth (\S+)$", metrics, re.MULTILINE)
    assert match is not None, metrics
    return int(float(match.group(1)))


async def test_a_full_disk_pauses_everything_and_it_all_resumes_by_itself(tmp_path: Path) -> None:
    chain = DevnetChain(DevnetConfig(chain_id=CHAIN_ID, block_time=0, history=HISTORY, txs_per_block=4, seed=5))
    with small_tmpfs(tmp_path / "disk", 24) as disk:
        data = disk / "data"
        receiver = GatedReceiver()
        async with DevnetServer(chain, run_clock=False) as devnet, receiver:
            subs = _seed(data, chain, receiver.url())
            private = "[webhooks]\nallow_private_networks = true\n"  # the endpoint is on loopback
            config = write_devnet_config(tmp_path / "config.toml", data, devnet.url, CHAIN_ID, extra=private)
            server = MempoolsProcess("serve", "--config", str(config))
            try:
                url = await asyncio.to_thread(server.api_url)
                async with httpx.AsyncClient(timeout=10, headers={"Origin": url}) as http:  # as our own pages
                    await _ready(http, url, lambda r: r.status_code == 200 and f"at {HISTORY}," in r.text)
                    account = {"email": "ops@example.com", "password": "correct horse battery"}
                    assert (await http.post(f"{url}/v1/accounts", json=account)).status_code == 201
                    assert (await http.post(f"{url}/v1/sessions", json=account)).status_code == 201
                    hook = {"kind": "webhook", "url": receiver.url()}  # a subscription needs a destination
                    assert (await http.post(f"{url}/v1/destinations", json=hook)).status_code == 201
                    await until(lambda: receiver.held > 0, timeout=30)  # deliveries in flight, held by the endpoint

                    # The disk fills up; the chain goes on; the held deliveries finish.
                    ballast = fill(disk)
                    lines_at_fill, filled_at = len(server.lines), time.monotonic()
                    devnet.advance(10)
                    refusing = await _ready(http, url, lambda r: r.status_code == 503 and _behind(r) >= 10)
                    store_check = refusing.json()["checks"]["store"]
                    assert store_check.startswith("refusing writes since ")
                    assert store_check.endswith(": No space left on device")
                    receiver.gate.set()
                    stalled = await _ready(http, url, lambda r: "dispatcher" in r.json()["checks"])
                    assert "cannot record delivery attempts" in stalled.json()["checks"]["dispatcher"]

                    for _ in range(10):  # every write is refused politely, none is a 500
                        r = await http.post(f"{url}/v1/subscriptions", json=SUBSCRIPTION)
                        assert r.status_code == 503, r.text
                        assert r.headers["content-type"] == "application/problem+json"
                        assert r.headers["retry-after"] == "60"
                        problem = r.json()
                        assert problem["type"] == "/problems/store-unavailable"
                        assert problem["detail"] == STORE_BUSY  # the bots' words; the I/O error is the operator's
                        assert problem["retry_after"] == 60
                    r = await http.post(f"{url}/v1/accounts", json={**account, "email": "late@example.com"})
                    assert r.status_code == 503 and r.json()["type"] == "/problems/store-unavailable"
                    assert (await http.get(f"{url}/v1/me")).status_code == 200  # reads still work

                    devnet.advance(10)
                    await _ready(http, url, lambda r: r.status_code == 503 and _behind(r) >= 20)
                    assert server.proc.poll() is None, server.output
                    during = "".join(server.lines[lines_at_fill:])
                    assert "Traceback" not in during, during
                    # One line per incident from the store, the watcher and the dispatcher; the
                    # dispatcher's supervisor adds one per restart, and it backs off exponentially.
                    assert during.count("refuses writes") == 1, during
                    assert during.count("cannot commit height") == 1, during
                    assert during.count("they will be made again") == 1, during
                    restarts_allowed = 2 + math.ceil(math.log2(max(time.monotonic() - filled_at, 0.5) / 0.5))
                    assert during.count("restarting in") <= restarts_allowed, during
                    assert len(during.splitlines()) <= 3 + restarts_allowed, during

                    # Space is back: everything resumes by itself.
                    ballast.unlink()
                    tip = chain.tip
                    caught_up = f"at {tip},"
                    back = await _ready(
                        http, url, lambda r: r.status_code == 200 and caught_up in r.text and "restarting" not in r.text
                    )
                    assert back.json()["checks"]["store"] == "open"
                    r = await http.post(f"{url}/v1/subscriptions", json=SUBSCRIPTION)
                    assert r.status_code == 201, r.text
                    deadline = time.monotonic() + 60
                    while await _outbox_depth(http, url) > 0:
                        assert time.monotonic() < deadline, server.output
                        await asyncio.sleep(0.1)
                assert await asyncio.to_thread(server.stop) == 0, server.output
            finally:
                await asyncio.to_thread(server.kill)
        assert "Traceback" not in server.output, server.output

        store = open_store(data)
        try:
            repos = Repositories(store)
            cursor = repos.cursors.get(CHAIN_ID)
            assert cursor is not None and cursor.height == tip
            seeded = {s.id for s in subs}
            stored = [n.id for n in repos.notifications.scan() if n.subscription_id in seeded]
            expected = expected_notifications(chain, subs, range(1, tip + 1))
            assert len(stored) == len(expected) and set(stored) == expected
            history = repos.notifications.page_of_owner("acc_1", limit=100_000)
            assert len(history.items) == len(expected), "the history index holds a duplicate"
            assert repos.gaps.of_chain(CHAIN_ID) == []
            for notification_id in expected:  # delivered and recorded, each one
                outcomes = [a.outcome for a in repos.attempts.of_notification(notification_id)]
                assert outcomes == ["delivered"], (notification_id, outcomes)
        finally:
            store.close()
        delivered = {r.headers["webhook-id"] for r in receiver.received}
        assert len(delivered) >= len(expected)

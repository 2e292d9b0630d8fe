"""The watcher against a real devnet over HTTP: every height once, in order, whatever the node does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.chain.decoder import BlockDecoder
from core.chain.pool import EndpointPool
from core.dispatch.outbox import Outbox
from core.ids import notification_id
from core.models import Chain, Subscription, WebhookDestination
from core.query.index import SubscriptionIndex
from core.store import RocksStore, open_store
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher, WatcherStats
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.polling import until
from tests.seeding import put_now

CHAIN_ID = "devnet-1"
HISTORY = 60


def _devnet(seed: int = 7) -> DevnetChain:
    return DevnetChain(DevnetConfig(chain_id=CHAIN_ID, block_time=0, history=HISTORY, txs_per_block=4, seed=seed))


def _subscriptions(chain: DevnetChain) -> list[Subscription]:
    now = utcnow()
    book = chain.book
    queries = {
        "sub_to_a": [f"transfer.recipient = '{book.accounts[0]}'"],
        "sub_either_b": [f"transfer.recipient = '{book.accounts[1]}'", f"transfer.sender = '{book.accounts[1]}'"],
        "sub_txs": ["tm.event = 'Tx' AND message.action EXISTS"],
        "sub_blocks": ["tm.event = 'NewBlock'"],
    }
    return [
        Subscription(
            id=sub_id,
            owner_id="acc_1",
            chain_id=CHAIN_ID,
            name=sub_id,
            queries=q,
            destination_ids=["dst_1"],
            created_at=now,
            updated_at=now,
        )
        for sub_id, q in queries.items()
    ]


def expected_notifications(chain: DevnetChain, subs: list[Subscription], heights: range) -> set[str]:
    """What a correct watcher must produce: each block decoded and matched on its own, naively."""
    index: SubscriptionIndex[str] = SubscriptionIndex()
    for sub in subs:
        index.add(sub.id, sub.queries)
    decoder = BlockDecoder()
    ids = set()
    for height in heights:
        block = decoder.decode(chain.block_results_json(height), chain.block_json(height))
        for scope in block.scopes:
            scope_key = "block" if scope.index is None else f"tx:{scope.index}"
            for sub_id in index.match(scope.events_map):
                ids.add(notification_id(CHAIN_ID, height, scope_key, sub_id))
    return ids


class Harness:
    def __init__(self, store: RocksStore, chain: DevnetChain, urls: list[str], start_height: int = 1) -> None:
        self.store = store
        self.repos = Repositories(store)
        put_now(
            self.repos.destinations,
            WebhookDestination(
                id="dst_1", owner_id="acc_1", name="h", url="http://127.0.0.1:9/", secret="whsec_x", created_at=utcnow()
            ),
        )
        self.subs = _subscriptions(chain)
        for sub in self.subs:
            put_now(self.repos.subscriptions, sub)
        matcher = SubscriptionMatcher()
        matcher.load(self.repos.subscriptions.of_chain(CHAIN_ID))
        self.outbox = Outbox(store)
        self.pool = EndpointPool(CHAIN_ID, urls, timeout=0.5, min_cooldown=0.05, max_cooldown=0.2)
        self.committed: list[int] = []
        self.watcher = ChainWatcher(
            CHAIN_ID,
            self.pool,
            BlockProcessor(Chain(id=CHAIN_ID, name="Devnet", bech32_prefix="cosmos"), matcher, self.repos, self.outbox),
            self.repos,
            start_height=start_height,
            window=8,
            poll_interval=0.05,
            max_backoff=0.2,
            on_progress=self._progress,
        )

    def _progress(self, stats: WatcherStats) -> None:
        self.committed.append(stats.cursor)

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.watcher.run(self._stop))

    async def reach(self, height: int, timeout: float = 30) -> None:
        """Wait until the cursor is at `height`, surfacing a crash of the watcher at once."""
        async with asyncio.timeout(timeout):
            while self.watcher.stats.cursor < height:
                if self._task.done():
                    self._task.result()
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.wait_for(self._task, 10)
        await self.pool.aclose()

    async def run_until(self, height: int, timeout: float = 30) -> None:
        self.start()
        try:
            await self.reach(height, timeout)
        finally:
            await self.stop()

    def notification_ids(self) -> set[str]:
        return {n.id for n in self.repos.notifications.scan()}


@pytest.fixture
async def devnet() -> AsyncIterator[DevnetServer]:
    async with DevnetServer(_devnet(), run_clock=False, fault_seed=3) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "data")
    yield s
    s.close()


async def test_catch_up_processes_every_height_once_in_order(devnet: DevnetServer, store: RocksStore) -> None:
    harness = Harness(store, devnet.chain, [devnet.url])
    await harness.run_until(HISTORY)
    assert harness.committed == list(range(1, HISTORY + 1))
    expected = expected_notifications(devnet.chain, harness.subs, range(1, HISTORY + 1))
    assert len(expected) > HISTORY  # every block matches sub_blocks, txs match more
    assert harness.notification_ids() == expected
    # One outbox entry per notification (one destination each), the cursor at the last height.
    assert harness.outbox.depth() == len(expected)
    assert harness.repos.cursors.get(CHAIN_ID).height == HISTORY
    # The owner's history index holds each notification exactly once.
    page = harness.repos.notifications.page_of_owner("acc_1", limit=10_000)
    assert len(page.items) == len(expected)


async def test_follows_new_blocks_at_the_tip(devnet: DevnetServer, store: RocksStore) -> None:
    harness = Harness(store, devnet.chain, [devnet.url], start_height=HISTORY - 2)
    harness.start()
    try:
        await harness.reach(HISTORY)
        for _ in range(5):
            devnet.advance()
            await harness.reach(devnet.chain.tip, timeout=10)
    finally:
        await harness.stop()
    assert harness.committed == list(range(HISTORY - 2, HISTORY + 6))


async def test_first_start_without_start_height_begins_at_the_tip(devnet: DevnetServer, store: RocksStore) -> None:
    harness = Harness(store, devnet.chain, [devnet.url], start_height=0)
    await harness.run_until(HISTORY)
    assert harness.committed == [HISTORY]


@pytest.mark.parametrize(
    "faults",
    [
        {"latency_ms": 20.0},
        {"error_rate": 0.3},
        {"timeout_rate": 0.1, "hang_seconds": 5.0},
        {"truncate_rate": 0.3},
    ],
    ids=["latency", "5xx", "timeouts", "truncated-json"],
)
async def test_faults_never_skip_or_repeat_a_height(
    devnet: DevnetServer, store: RocksStore, faults: dict[str, float]
) -> None:
    devnet.set_faults(**faults)
    harness = Harness(store, devnet.chain, [devnet.url])
    await harness.run_until(HISTORY, timeout=60)
    assert harness.committed == list(range(1, HISTORY + 1))
    assert harness.notification_ids() == expected_notifications(devnet.chain, harness.subs, range(1, HISTORY + 1))
    assert harness.repos.gaps.of_chain(CHAIN_ID) == []


async def test_pruned_heights_become_visible_gaps(devnet: DevnetServer, store: RocksStore) -> None:
    devnet.set_faults(prune_below=11)
    harness = Harness(store, devnet.chain, [devnet.url])
    await harness.run_until(HISTORY)
    assert harness.committed == list(range(1, HISTORY + 1))
    assert [g.height for g in harness.repos.gaps.of_chain(CHAIN_ID)] == list(range(1, 11))
    assert harness.watcher.stats.gaps == 10
    assert harness.notification_ids() == expected_notifications(devnet.chain, harness.subs, range(11, HISTORY + 1))


async def test_a_lagging_node_and_a_wrong_chain_node_are_survived(store: RocksStore) -> None:
    chain = _devnet()
    async with (
        DevnetServer(chain, run_clock=False) as good,
        DevnetServer(chain, run_clock=False, faults=None) as lagging,
        DevnetServer(chain, run_clock=False) as impostor,
    ):
        lagging.set_faults(lag=20)
        impostor.set_faults(wrong_chain_id="other-1")
        harness = Harness(store, chain, [impostor.url, lagging.url, good.url])
        await harness.run_until(HISTORY)
        assert harness.committed == list(range(1, HISTORY + 1))
        assert harness.notification_ids() == expected_notifications(chain, harness.subs, range(1, HISTORY + 1))
        health = {h.url: h for h in harness.pool.health()}
        assert health[impostor.url].wrong_chain


async def test_restart_resumes_after_the_stored_cursor(devnet: DevnetServer, tmp_path: Path) -> None:
    path = tmp_path / "data"
    store = open_store(path)
    first = Harness(store, devnet.chain, [devnet.url])
    await first.run_until(20)
    reached = first.watcher.stats.cursor
    store.close()
    store = open_store(path)
    try:
        second = Harness(store, devnet.chain, [devnet.url])
        await second.run_until(HISTORY)
        assert second.committed == list(range(reached + 1, HISTORY + 1))
        assert second.notification_ids() == expected_notifications(devnet.chain, second.subs, range(1, HISTORY + 1))
    finally:
        store.close()


async def test_websocket_trigger_brings_new_blocks_before_the_next_poll(
    devnet: DevnetServer, store: RocksStore
) -> None:
    harness = Harness(store, devnet.chain, [devnet.url], start_height=HISTORY)
    harness.watcher.poll_interval = 30.0  # polling alone would take 30 s to notice a new block
    harness.start()
    try:
        await harness.reach(HISTORY)
        await until(lambda: devnet.subscriptions == 1)  # the websocket subscription is live
        for _ in range(3):
            devnet.advance()
            await harness.reach(devnet.chain.tip, timeout=5)
    finally:
        await harness.stop()
    assert harness.committed == list(range(HISTORY, HISTORY + 4))


async def test_a_failing_node_is_logged_once_per_incident(
    devnet: DevnetServer, store: RocksStore, caplog: pytest.LogCaptureFixture
) -> None:
    devnet.set_faults(error_rate=1.0)
    harness = Harness(store, devnet.chain, [devnet.url])
    harness.start()
    try:
        await until(lambda: harness.watcher.stats.errors >= 10, timeout=30)  # many failing requests
        assert harness.watcher.stats.cursor == 0
        devnet.set_faults(error_rate=0.0)
        await harness.reach(HISTORY)
    finally:
        await harness.stop()
    assert harness.committed == list(range(1, HISTORY + 1))
    watcher_warnings = [r for r in caplog.records if r.name == "mempools.watcher" and r.levelname == "WARNING"]
    assert 1 <= len(watcher_warnings) <= 2, [r.getMessage() for r in watcher_warnings]


async def test_a_presets_post_filter_is_applied_after_the_query(devnet: DevnetServer, store: RocksStore) -> None:
    """`funds_received` with min_amount: the query matches both transfers, the filter keeps the big one."""
    from core.query.presets import get_preset

    chain = devnet.chain
    alice, bob = chain.book.accounts[5], chain.book.accounts[6]
    harness = Harness(store, chain, [devnet.url], start_height=HISTORY + 1)
    devnet_chain = Chain(id=CHAIN_ID, name="Devnet", bech32_prefix="cosmos", denoms=())
    compiled = get_preset("funds_received").compile(
        {"address": bob, "min_amount": "1000000", "denom": "uatom"}, devnet_chain
    )
    now = utcnow()
    put_now(
        harness.repos.subscriptions,
        Subscription(
            id="sub_big",
            owner_id="acc_1",
            chain_id=CHAIN_ID,
            name="big",
            queries=compiled.queries,
            destination_ids=["dst_1"],
            post_filter=compiled.post_filter,
            created_at=now,
            updated_at=now,
        ),
    )
    harness.watcher.processor.matcher.load(harness.repos.subscriptions.of_chain(CHAIN_ID))
    small = chain.schedule_transfer(alice, bob, 999_999, "uatom", height=HISTORY + 1)
    big = chain.schedule_transfer(alice, bob, 1_000_000, "uatom", height=HISTORY + 2)
    chain.advance(2)
    await harness.run_until(HISTORY + 2)
    fired = {n.tx_hash for n in harness.repos.notifications.scan() if n.subscription_id == "sub_big"}
    # (the devnet's own random transfers may pay bob too; the two injected ones decide the test)
    assert big.tx_hash in fired and small.tx_hash not in fired

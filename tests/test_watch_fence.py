"""The chain epoch fence on a real 3-node NATS JetStream cluster, two real RocksDB replicas.

A superseded holder (what a holder paused past its lease is once it runs again) has every later
batch refused by every replica, however late it commits; the new holder resumes at the stored
cursor and every height is committed once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.chain.pool import EndpointPool
from core.dispatch.outbox import Outbox
from core.errors import ConflictError, FencedError
from core.models import Chain, WebhookDestination
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from core.watch.fence import ChainFence, EpochFence, epoch_key, fenced_watch
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher, WatcherStats
from mempools.devnet.server import DevnetServer
from tests.polling import until
from tests.replica_node import ReplicaNode
from tests.test_watcher import CHAIN_ID, HISTORY, _devnet, _subscriptions, expected_notifications


def stamped(fence: ChainFence, key: bytes) -> WriteBatch:
    batch = WriteBatch()
    fence.stamp(batch)
    batch.put(key, b"v")
    return batch


async def test_a_superseded_holders_batches_are_refused_on_every_replica(replicas: list[ReplicaNode]) -> None:
    a, b = replicas
    fence_a = await EpochFence.claim(a.store, CHAIN_ID, "node-0", token=1)
    await a.store.commit(stamped(fence_a, b"x/a1"))
    fence_b = await EpochFence.claim(b.store, CHAIN_ID, "node-1", token=2)  # the lease moved to node-1
    with pytest.raises(ConflictError):
        await a.store.commit(stamped(fence_a, b"x/a2"))  # node-0 resumes late: refused
    await b.store.commit(stamped(fence_b, b"x/b1"))
    await asyncio.gather(a.applier.reached(b.applier.sequence), b.applier.reached(a.applier.sequence))
    for node in (a, b):
        assert node.replica.get(b"x/a1") == node.replica.get(b"x/b1") == b"v"
        assert node.replica.get(b"x/a2") is None
        assert node.replica.get(epoch_key(CHAIN_ID)) == b.replica.get(epoch_key(CHAIN_ID))
    assert fence_b.record.node == "node-1" and fence_b.record.token == 2


async def test_a_claim_with_an_older_token_than_stored_is_fenced(replicas: list[ReplicaNode]) -> None:
    a, b = replicas
    await EpochFence.claim(b.store, CHAIN_ID, "node-1", token=5)
    with pytest.raises(FencedError, match="newer"):  # node-0's replica may lag: the CAS catches it up
        await EpochFence.claim(a.store, CHAIN_ID, "node-0", token=4)
    again = await EpochFence.claim(b.store, CHAIN_ID, "node-1", token=5)  # the same holder may claim again
    await b.store.commit(stamped(again, b"x/ok"))


async def test_racing_claims_leave_the_newest_token_on_every_replica(replicas: list[ReplicaNode]) -> None:
    a, b = replicas
    for round_ in range(5):
        low, high = 10 * round_ + 1, 10 * round_ + 2
        results = await asyncio.gather(
            EpochFence.claim(a.store, CHAIN_ID, "node-0", token=low),
            EpochFence.claim(b.store, CHAIN_ID, "node-1", token=high),
            return_exceptions=True,
        )
        assert isinstance(results[1], EpochFence), results
        assert isinstance(results[0], EpochFence | FencedError), results
        await asyncio.gather(a.applier.reached(b.applier.sequence), b.applier.reached(a.applier.sequence))
        await b.store.commit(stamped(results[1], f"x/{round_}".encode()))  # the newest holder commits
        if isinstance(results[0], EpochFence):
            with pytest.raises(ConflictError):
                await a.store.commit(stamped(results[0], b"x/stale"))


class Watching:
    """One node's watcher of the devnet chain over its LogStore, with what it reported."""

    def __init__(self, node: ReplicaNode, devnet: DevnetServer) -> None:
        self.node = node
        self.repos = Repositories(node.store)
        matcher = SubscriptionMatcher()
        matcher.load(self.repos.subscriptions.of_chain(CHAIN_ID))
        self.pool = EndpointPool(CHAIN_ID, [devnet.url], timeout=0.5, min_cooldown=0.05, max_cooldown=0.2)
        chain = Chain(id=CHAIN_ID, name="Devnet", bech32_prefix="cosmos")
        self.committed: list[int] = []
        self.watcher = ChainWatcher(
            CHAIN_ID,
            self.pool,
            BlockProcessor(chain, matcher, self.repos, Outbox(node.store)),
            self.repos,
            start_height=1,
            window=2,
            poll_interval=0.05,
            max_backoff=0.2,
            on_progress=self._progress,
        )
        self.stop = asyncio.Event()

    def _progress(self, stats: WatcherStats) -> None:
        self.committed.append(stats.cursor)

    def start(self, node_name: str, token: int) -> asyncio.Task[None]:
        work = fenced_watch(self.watcher, self.node.store, node_name)
        return asyncio.create_task(work(self.stop, token))


async def test_the_next_holder_resumes_at_the_stored_cursor_every_height_once(
    replicas: list[ReplicaNode], tmp_path: Path
) -> None:
    a, b = replicas
    async with DevnetServer(_devnet(), run_clock=False) as devnet:
        devnet.set_faults(latency_ms=30.0)  # slow enough that the lease moves in the middle of catch-up
        subs = _subscriptions(devnet.chain)
        setup = WriteBatch()
        repos = Repositories(a.store)
        repos.destinations.put(
            WebhookDestination(
                id="dst_1", owner_id="acc_1", name="h", url="http://127.0.0.1:9/", secret="whsec_x", created_at=utcnow()
            ),
            setup,
        )
        for sub in subs:
            repos.subscriptions.put(sub, setup)
        await a.store.commit(setup)
        await b.applier.reached(a.applier.sequence)
        first, second = Watching(a, devnet), Watching(b, devnet)
        tasks: list[asyncio.Task[None]] = []
        try:
            task_a = first.start("node-0", token=1)
            tasks.append(task_a)
            await until(lambda: first.watcher.stats.cursor >= 10 or task_a.done(), timeout=30)
            task_b = second.start("node-1", token=2)  # node-1 got the lease; node-0 has not noticed yet
            tasks.append(task_b)
            await until(lambda: second.watcher.stats.cursor >= HISTORY or task_b.done(), timeout=60)
            devnet.advance()  # a new block: node-0, if still running, must try (and fail) to commit it
            with pytest.raises(FencedError):
                await asyncio.wait_for(task_a, 30)
            await until(lambda: second.watcher.stats.cursor >= HISTORY + 1 or task_b.done(), timeout=30)
            assert not task_b.done()
        finally:
            first.stop.set()
            second.stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await first.pool.aclose()
            await second.pool.aclose()
        assert 10 <= len(first.committed) < HISTORY + 1
        assert first.committed + second.committed == list(range(1, HISTORY + 2))  # every height once
        await asyncio.gather(a.applier.reached(b.applier.sequence), b.applier.reached(a.applier.sequence))
        expected = expected_notifications(devnet.chain, subs, range(1, HISTORY + 2))
        for node in (a, b):
            node_repos = Repositories(node.store)
            assert {n.id for n in node_repos.notifications.scan()} == expected
            assert node_repos.cursors.get(CHAIN_ID).height == HISTORY + 1  # type: ignore[union-attr]

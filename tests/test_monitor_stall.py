"""The chain stalled: a watcher at the tip tells each validator watch once when no block has come
for its minutes, and "making blocks again" at the next block (a watcher still catching up does not
look: the block times it replays are old).

A real watcher and the chain's real clients against the devnet over HTTP; the processor's clock is
injected, so ten minutes pass in a step instead of in real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.chain.pool import EndpointPool
from core.chain.queries import NodeQueries
from core.chain.rest import ChainRestClient
from core.dispatch.outbox import Outbox
from core.models import Chain, Subscription
from core.monitor.models import Alert, ValidatorWatch
from core.monitor.monitor import ChainMonitor
from core.store import RocksStore, open_store
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig, DevnetChain
from mempools.devnet.server import DevnetServer
from tests.polling import until

CHAIN = Chain(id="devnet-1", name="Devnet", bech32_prefix="cosmos")


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RocksStore]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()


async def test_a_stall_is_told_once_per_threshold_and_its_end_once(store: RocksStore) -> None:
    chain = DevnetChain(ChainConfig(block_time=0, history=3, txs_per_block=1, validators=4))
    async with DevnetServer(chain, run_clock=False) as devnet:
        repos = Repositories(store)
        matcher = SubscriptionMatcher()
        v = chain.validator(0)
        now = utcnow()
        for sub_id, minutes in (("sub_10", 10), ("sub_30", 30), ("sub_off", 0)):
            watch = ValidatorWatch(
                operator=v.operator,
                consensus=v.consensus,
                consensus_hex=v.hex,
                moniker=v.moniker,
                stall_minutes=minutes,
            )
            sub = Subscription(
                id=sub_id, owner_id="acc_1", chain_id=CHAIN.id, name=sub_id, queries=[], destination_ids=[],
                monitor=watch, created_at=now, updated_at=now,
            )  # fmt: skip
            matcher.upsert(sub)
        clock = Clock()
        pool = EndpointPool(CHAIN.id, [devnet.url], timeout=0.5)
        queries = NodeQueries(CHAIN.id, pool.validators, ChainRestClient([devnet.url]))
        monitor = ChainMonitor(CHAIN.id, repos, lambda: matcher.watches(CHAIN.id), queries, clock=clock)
        processor = BlockProcessor(CHAIN, matcher, repos, Outbox(store), clock=clock, monitor=monitor)
        watcher = ChainWatcher(
            CHAIN.id, pool, processor, repos, start_height=1, poll_interval=0.05, stall_check_interval=0.05
        )
        checks: list[datetime] = []
        stalled = monitor.stalled

        def counting(now: datetime, height: int, batch: WriteBatch) -> list[tuple[Subscription, Alert]]:
            checks.append(now)
            return stalled(now, height, batch)

        monitor.stalled = counting  # type: ignore[method-assign]
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))

        def told() -> list[tuple[str, str]]:
            return sorted((n.subscription_id, n.alert.kind) for n in repos.notifications.scan() if n.alert)

        try:
            await until(lambda: watcher.stats.cursor == chain.tip, timeout=20)
            clock.offset = timedelta(minutes=11)
            await until(lambda: told() == [("sub_10", "chain_stalled")], timeout=10)
            first = next(n for n in repos.notifications.scan() if n.alert)
            assert first.summary.startswith(f"🧊 Devnet has made no new block for 11 min (last: height {chain.tip} at ")
            assert not first.silent
            clock.offset = timedelta(minutes=31)
            await until(lambda: len(told()) == 2, timeout=10)
            clock.offset = timedelta(minutes=45)  # still stalled: nothing new, however often it looks
            looked = len(checks)
            await until(lambda: len(checks) >= looked + 3, timeout=10)
            assert told() == [("sub_10", "chain_stalled"), ("sub_30", "chain_stalled")]
            clock.offset = timedelta()
            devnet.advance(1)
            await until(lambda: len(told()) == 4, timeout=10)
            assert told() == [
                ("sub_10", "chain_resumed"), ("sub_10", "chain_stalled"),
                ("sub_30", "chain_resumed"), ("sub_30", "chain_stalled"),
            ]  # fmt: skip
            resumed = next(n for n in repos.notifications.scan() if n.alert and n.alert.kind == "chain_resumed")
            assert resumed.summary.startswith(f"▶️ Devnet is making blocks again (height {chain.tip}")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            await pool.aclose()
            await queries.aclose()

"""Catch-up commits the heights it already has as one batch; at the tip, one block per commit.

Single node, a real RocksDB store that records each commit (the cursor it moved to and its
size), against the real devnet over HTTP: the records are exactly those of one-block-per-commit
(every notification, the cursor, per-block progress), with far fewer commits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from core.dispatch.outbox import Outbox
from core.models import Chain
from core.store import RocksStore
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.watch.fence import NO_FENCE
from core.watch.group import BlockGroup
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.test_watcher import CHAIN_ID, Harness, expected_notifications

BLOCKS = 200


class CountingStore(RocksStore):
    """The single-node store, noting the cursor each commit leaves and how many ops it had."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits: list[tuple[int, int]] = []  # (cursor after it, ops)

    async def commit(self, batch: WriteBatch) -> None:
        await super().commit(batch)
        cursor = Repositories(self).cursors.get(CHAIN_ID)
        self.commits.append((cursor.height if cursor else -1, len(batch.ops)))


@pytest.fixture
async def devnet() -> AsyncIterator[DevnetServer]:
    chain = DevnetChain(DevnetConfig(chain_id=CHAIN_ID, block_time=0, history=BLOCKS, txs_per_block=4, seed=7))
    async with DevnetServer(chain, run_clock=False) as server:
        yield server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CountingStore]:
    s = CountingStore(tmp_path / "data")
    yield s
    s.close()


def harness(store: CountingStore, devnet: DevnetServer, start_height: int, max_blocks: int = 32) -> Harness:
    h = Harness(store, devnet.chain, [devnet.url], start_height=start_height)
    h.watcher.window = 32
    h.watcher.max_blocks_per_commit = max_blocks
    return h


@pytest.mark.parametrize("max_blocks", [32, 5])
async def test_a_catch_up_commits_far_fewer_batches_than_blocks(
    devnet: DevnetServer, store: CountingStore, max_blocks: int
) -> None:
    h = harness(store, devnet, start_height=1, max_blocks=max_blocks)
    await h.run_until(BLOCKS, timeout=60)
    assert h.committed == list(range(1, BLOCKS + 1))  # progress is still reported for every block
    expected = expected_notifications(devnet.chain, h.subs, range(1, BLOCKS + 1))
    assert h.notification_ids() == expected and h.outbox.depth() == len(expected)
    assert h.repos.cursors.get(CHAIN_ID).height == BLOCKS  # type: ignore[union-attr]
    assert h.watcher.stats.blocks == BLOCKS
    cursors = [cursor for cursor, _ in store.commits]
    assert cursors[0] == 0  # the starting point pinned, then the groups in order
    steps = [b - a for a, b in pairwise(cursors)]
    assert all(1 <= step <= max_blocks for step in steps), steps
    assert sum(steps) == BLOCKS
    assert len(steps) <= BLOCKS // 3, steps  # grouped: 200 blocks in far fewer commits
    assert max(ops for _, ops in store.commits) <= 2000 + 200  # the op bound, give or take one block


async def test_at_the_tip_every_block_is_its_own_commit(devnet: DevnetServer, store: CountingStore) -> None:
    h = harness(store, devnet, start_height=BLOCKS - 1)
    h.start()
    try:
        await h.reach(BLOCKS)
        before = len(store.commits)
        for _ in range(5):
            devnet.advance()
            await h.reach(devnet.chain.tip, timeout=10)
    finally:
        await h.stop()
    assert [cursor for cursor, _ in store.commits[before:]] == list(range(BLOCKS + 1, BLOCKS + 6))
    assert h.committed == list(range(BLOCKS - 1, BLOCKS + 6))


def test_a_group_stops_taking_blocks_at_its_bounds(tmp_path: Path) -> None:
    """The op and byte bounds, without a network: a gap record is one op."""
    store = RocksStore(tmp_path / "data")
    try:
        chain = Chain(id=CHAIN_ID, name="D", bech32_prefix="cosmos")
        processor = BlockProcessor(chain, SubscriptionMatcher(), Repositories(store), Outbox(store))
        by_ops = BlockGroup(processor, NO_FENCE, max_blocks=1000, max_ops=10)
        while not by_ops.full:
            by_ops.add_gap(len(by_ops.items) + 1, "pruned")
        assert len(by_ops.items) == 10
        by_bytes = BlockGroup(processor, NO_FENCE, max_blocks=1000, max_bytes=1000)
        while not by_bytes.full:
            by_bytes.add_gap(len(by_bytes.items) + 1, "x" * 200)
        assert 1000 <= sum(len(k) + len(v or b"") for k, v in by_bytes.batch.ops) < 1300
        with pytest.raises(ValueError, match="consecutive"):
            by_ops.add_gap(20, "a height skipped")
        by_ops.seal()
        assert by_ops.full and by_ops.batch.ops[-1][0] == Repositories(store).cursors.record_key(CHAIN_ID)
    finally:
        store.close()

"""Consecutive heights staged into one write batch: how catch-up commits several blocks at once.

A commit has a fixed cost (an fsync-free RocksDB write on one node, ~1.3 ms for an R3 log
commit in cluster mode), so one commit per block caps catch-up at the inverse of that cost.
Heights that are already fetched and in order go into one batch instead, bounded so that a
batch stays within one NATS message most of the time (`MAX_OPS`, `MAX_BYTES`; the log splits a
bigger one into an atomic batch anyway). The cursor in the batch is its last height's, so the
stored cursor never names a height whose records are not stored with or before it.
"""

from __future__ import annotations

import time

from core.chain.blocks import DecodedBlock
from core.store.base import WriteBatch
from core.watch.fence import ChainFence
from core.watch.processor import BlockOutcome, BlockProcessor

#: A group stops taking blocks once its batch has this many operations...
MAX_OPS = 2000
#: ... or this many bytes of keys and values (one NATS message carries 1 MB by default).
MAX_BYTES = 512 * 1024


class BlockGroup:
    """One batch of consecutive heights, each a block's outcome or a gap's reason, in order."""

    def __init__(
        self,
        processor: BlockProcessor,
        fence: ChainFence,
        *,
        max_blocks: int,
        max_ops: int = MAX_OPS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.processor = processor
        self.batch = WriteBatch()
        fence.stamp(self.batch)
        self.items: list[tuple[int, BlockOutcome | str]] = []
        self.started = time.perf_counter()  # staging is part of a block's commit time
        self.max_blocks = max(1, max_blocks)
        self.max_ops = max_ops
        self.max_bytes = max_bytes
        self.deliveries = 0
        self._bytes = 0
        self._counted = 0  # ops already added to `_bytes`
        self._sealed = False

    def add_block(self, block: DecodedBlock) -> None:
        outcome = self.processor.stage(block, self.batch)
        self.deliveries += outcome.deliveries
        self._added(block.height, outcome)

    def add_gap(self, height: int, reason: str) -> None:
        self.processor.stage_gap(height, reason, self.batch)
        self._added(height, reason)

    @property
    def next_height(self) -> int | None:
        return self.items[-1][0] + 1 if self.items else None

    @property
    def full(self) -> bool:
        """True once no further block may be added (the bounds above, or sealed)."""
        return (
            self._sealed
            or len(self.items) >= self.max_blocks
            or len(self.batch.ops) >= self.max_ops
            or self._bytes >= self.max_bytes
        )

    def seal(self, tip: int = 0) -> WriteBatch:
        """Add the cursor at the last height (with the chain's `tip` as known now); the batch is then
        ready to commit (again, if refused)."""
        if not self._sealed:
            self._sealed = True
            self.processor.advance(self.items[-1][0], self.batch, tip)
        return self.batch

    def _added(self, height: int, item: BlockOutcome | str) -> None:
        expected = self.next_height
        if expected is not None and height != expected:
            raise ValueError(f"height {height} after {expected - 1}: a group is consecutive heights")
        self.items.append((height, item))
        ops = self.batch.ops
        self._bytes += sum(len(key) + len(value or b"") for key, value in ops[self._counted :])
        self._counted = len(ops)

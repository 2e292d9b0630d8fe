"""`ClusterStore`: the `KVStore` seam in cluster mode, reads local, writes through the change log.

Why this shape: every service is written against `core/store/base.py`. In cluster mode the same
services must keep their microsecond, synchronous reads (scans, indexes, history pages), so reads
go to this node's RocksDB replica, while every write becomes one message of the replicated log
(`ChangeLog.commit`) that every node's `ChangeApplier` applies in the same order. Only the applier
writes the replica: a direct `write`, `put` or `delete` would change one node and no other, so
they are refused with `ReplicatedWriteError` (a bug, never an operator's mistake).

`observe` listeners (in-memory caches) see every applied change once, whichever node made it,
right after the replica wrote it: the applier writes through `RocksStore.write`, whose listener
this store forwards, without the replica's own bookkeeping key (`APPLIED_KEY`) and without the
batches that a failed precondition skipped (they write only that key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from os import PathLike

from core.cluster.changelog import APPLIED_KEY, CHANGES_STREAM, ChangeApplier, ChangeLog
from core.cluster.connection import ClusterConnection
from core.errors import InternalError
from core.store.base import WriteBatch, WriteListener
from core.store.rocks import RocksStore


class ReplicatedWriteError(InternalError):
    """A local write to the replica of a cluster node: replicated data is written with `commit`."""


class ClusterStore:
    """One node's view of the replicated store; see the module docstring.

    `run(stop)` runs the applier (the runtime starts it as a task before anything commits);
    `prepare()` creates or checks the stream; `catch_up()` waits until the replica holds every
    change the stream held when it was called (before a start-up check reads shared state).
    """

    def __init__(
        self,
        connection: ClusterConnection,
        replica: RocksStore,
        *,
        applier: ChangeApplier | None = None,
        log: ChangeLog | None = None,
    ) -> None:
        self.connection = connection
        self.replica = replica
        self.applier = applier or ChangeApplier(connection, replica)
        self.log = log or ChangeLog(connection, self.applier)
        self._listeners: list[WriteListener] = []
        replica.observe(self._forward)

    # -- lifecycle ----------------------------------------------------------------------------
    async def prepare(self) -> None:
        await self.log.ensure_stream()

    async def run(self, stop: asyncio.Event) -> None:
        await self.applier.run(stop)

    async def catch_up(self) -> int:
        """Wait until the replica applied everything the stream holds now; that sequence."""
        info = await self.connection.js.stream_info(CHANGES_STREAM)
        await self.applier.reached(info.state.last_seq)
        return int(info.state.last_seq)

    @property
    def applied_sequence(self) -> int:
        return self.applier.sequence

    # -- reads: the local replica -------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        return self.replica.get(key)

    def scan(
        self,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        return self.replica.scan(prefix, start=start, stop=stop, reverse=reverse, limit=limit)

    # -- writes: the change log ---------------------------------------------------------------
    async def commit(self, batch: WriteBatch) -> None:
        """Publish `batch` with its preconditions; return once this node applied it (then its
        `on_commit` callbacks have run). `ConflictError` when a precondition failed."""
        await self.log.commit(batch, batch.preconditions)

    def write(self, batch: WriteBatch) -> None:
        raise ReplicatedWriteError(
            "replicated data is written with `await store.commit(batch)`: only the change applier writes the replica"
        )

    def put(self, key: bytes, value: bytes) -> None:
        self.write(WriteBatch())

    def delete(self, key: bytes) -> None:
        self.write(WriteBatch())

    # -- observers ----------------------------------------------------------------------------
    def observe(self, listener: WriteListener) -> None:
        self._listeners.append(listener)

    def _forward(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        changed = [op for op in ops if op[0] != APPLIED_KEY]
        if not changed:
            return
        for listener in self._listeners:
            listener(changed)

    # -- health -------------------------------------------------------------------------------
    def accepts_writes(self) -> bool:
        return self.connection.connected and self.replica.accepts_writes()

    @property
    def refusing(self) -> bool:
        return not self.accepts_writes()

    def describe(self) -> str:
        """One line for `/ready`: "NATS connected to h:p, applied up to N", or why writes wait."""
        applied = self.applier.sequence
        if not self.replica.accepts_writes():
            return f"the replica refuses writes ({self.replica.health.describe()}), applied up to {applied}"
        lost = self.connection.disconnected_for()
        if lost is not None:
            return f"NATS unreachable since {lost:.0f} s, applied up to {applied}"
        return f"NATS connected to {self.connection.connected_to}, applied up to {applied}"

    def checkpoint(self, path: str | PathLike[str]) -> None:
        """A copy of the replica (its applied sequence included: a new node replays from there)."""
        self.replica.checkpoint(path)

    def close(self) -> None:
        """Close the replica; the applier must have stopped (`run` returned) first."""
        self.replica.close()

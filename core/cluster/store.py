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
from collections.abc import Iterator, Sequence
from os import PathLike

from core.cluster.changelog import APPLIED_KEY, CHANGES_STREAM, ChangeApplier, ChangeLog, applied_sequence
from core.cluster.connection import TRANSIENT_NATS, ClusterConnection
from core.errors import ClusterUnavailableError, InternalError
from core.store.base import WriteBatch, WriteListener
from core.store.rocks import RocksStore


class ReplicatedWriteError(InternalError):
    """A local write to the replica of a cluster node: replicated data is written with `commit`."""


#: Times `catch_up` asks for the change log's state (each waits up to the client's 5 s timeout).
CATCH_UP_ATTEMPTS = 6


class ClusterStore:
    """One node's view of the replicated store; see the module docstring.

    `run(stop)` runs the applier (the runtime starts it as a task before anything commits);
    `prepare()` creates or checks the stream; `catch_up()` waits until the replica holds every
    change the stream held when it was called (before a start-up check reads shared state).
    """

    def __init__(
        self,
        connection: ClusterConnection | None,
        replica: RocksStore,
        *,
        applier: ChangeApplier | None = None,
        log: ChangeLog | None = None,
    ) -> None:
        self.replica = replica
        self._listeners: list[WriteListener] = []
        replica.observe(self._forward)
        self._connection: ClusterConnection | None = None
        self._applier: ChangeApplier | None = None
        self._log: ChangeLog | None = None
        if connection is not None:
            self.attach(connection, applier=applier, log=log)

    def attach(
        self, connection: ClusterConnection, *, applier: ChangeApplier | None = None, log: ChangeLog | None = None
    ) -> None:
        """Join the log: a node builds its store (and everything on it) before NATS answers, serves
        reads from its replica meanwhile, and attaches once it has joined (core/cluster/node.py)."""
        self._connection = connection
        self._applier = applier or ChangeApplier(connection, self.replica)
        self._log = log or ChangeLog(connection, self._applier)

    @property
    def attached(self) -> bool:
        return self._connection is not None

    @property
    def connection(self) -> ClusterConnection:
        if self._connection is None:
            raise ClusterUnavailableError("this node has not joined the NATS cluster yet")
        return self._connection

    @property
    def applier(self) -> ChangeApplier:
        if self._applier is None:
            raise ClusterUnavailableError("this node has not joined the NATS cluster yet")
        return self._applier

    @property
    def log(self) -> ChangeLog:
        if self._log is None:
            raise ClusterUnavailableError("this node has not joined the NATS cluster yet")
        return self._log

    # -- lifecycle ----------------------------------------------------------------------------
    async def prepare(self) -> None:
        await self.log.ensure_stream()

    async def run(self, stop: asyncio.Event) -> None:
        await self.applier.run(stop)

    async def catch_up(self) -> int:
        """Wait until the replica applied everything the stream holds now; that sequence.

        The stream's state is asked again while JetStream does not answer: a node starting during
        a leader election (4-9 s) would otherwise stop with "nats: timeout" instead of joining.
        """
        for attempt in range(1, CATCH_UP_ATTEMPTS + 1):
            try:
                info = await self.connection.js.stream_info(CHANGES_STREAM)
                break
            except TRANSIENT_NATS:
                if attempt == CATCH_UP_ATTEMPTS:
                    raise
                await asyncio.sleep(0.25)
        await self.applier.reached(info.state.last_seq)
        return int(info.state.last_seq)

    @property
    def applied_sequence(self) -> int:
        return self._applier.sequence if self._applier is not None else applied_sequence(self.replica)

    # -- reads: the local replica -------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        return self.replica.get(key)

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        return self.replica.get_many(keys)

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
        `on_commit` callbacks have run). `ConflictError` when a precondition failed;
        `ClusterUnavailableError` at once while NATS is unreachable from here (nothing waits on a
        connection that is down, and nothing is acknowledged that the log did not store)."""
        if not self.accepts_writes():
            raise ClusterUnavailableError(f"the cluster takes no writes now: {self.describe()}")
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
        return self._connection is not None and self._connection.connected and self.replica.accepts_writes()

    @property
    def refusing(self) -> bool:
        return not self.accepts_writes()

    def describe(self) -> str:
        """One line for `/ready`: "NATS connected to h:p, applied up to N", or why writes wait."""
        applied = self.applied_sequence
        if self._connection is None:
            return f"not joined to the NATS cluster yet, replica at {applied}"
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

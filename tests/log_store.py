"""A KVStore over the replicated change log and a node's local replica, until ClusterStore exists.

Test-local and tiny on purpose: reads go to the replica, `commit` goes through `ChangeLog.commit`
with the batch's own preconditions (as core/cluster/store.py's ClusterStore will), and local
writes are refused (they would make the replicas diverge). `LogNode` is one node's share: a NATS
connection, a RocksDB replica in a tmp dir, its applier task and its log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from core.cluster.changelog import ChangeApplier, ChangeLog
from core.cluster.connection import ClusterConnection
from core.config import ClusterConfig
from core.store.base import WriteBatch, WriteListener
from core.store.rocks import RocksStore
from tests.nats_cluster import NatsCluster


class LogStore:
    """Reads from `replica`, commits through `log` (see the module docstring)."""

    def __init__(self, log: ChangeLog, replica: RocksStore) -> None:
        self.log = log
        self.replica = replica

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

    async def commit(self, batch: WriteBatch) -> None:
        await self.log.commit(batch, batch.preconditions)

    def put(self, key: bytes, value: bytes) -> None:
        raise AssertionError("a local write in cluster mode: commit a batch")

    def delete(self, key: bytes) -> None:
        raise AssertionError("a local write in cluster mode: commit a batch")

    def write(self, batch: WriteBatch) -> None:
        raise AssertionError("a local write in cluster mode: commit a batch")

    def observe(self, listener: WriteListener) -> None:
        self.replica.observe(listener)

    def checkpoint(self, path: str | PathLike[str]) -> None:
        self.replica.checkpoint(path)

    def accepts_writes(self) -> bool:
        return self.replica.accepts_writes()

    def close(self) -> None:
        return None  # the replica belongs to its LogNode


class LogNode:
    """One node: connection, replica, applier (running) and log; `store` is the LogStore over them."""

    def __init__(self, connection: ClusterConnection, replica: RocksStore) -> None:
        self.connection = connection
        self.replica = replica
        self.applier = ChangeApplier(connection, replica, idle_check=0.2)
        self.log = ChangeLog(connection, self.applier)
        self.store = LogStore(self.log, replica)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, cluster: NatsCluster, path: Path, name: str) -> LogNode:
        connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node=name))
        node = cls(connection, RocksStore(path))
        await node.log.ensure_stream()
        node._task = asyncio.create_task(node.applier.run(node._stop))
        return node

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
        await self.connection.close()
        self.replica.close()

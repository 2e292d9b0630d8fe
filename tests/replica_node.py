"""One cluster node's store for tests: a NATS connection, a RocksDB replica in a temp dir, and the
`ClusterStore` over them with its applier running (what `ClusterNode` builds in `mempools serve`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.cluster.changelog import ChangeApplier
from core.cluster.connection import ClusterConnection
from core.cluster.store import ClusterStore
from core.config import ClusterConfig
from core.store.rocks import RocksStore
from tests.nats_cluster import NatsCluster


class ReplicaNode:
    def __init__(self, store: ClusterStore) -> None:
        self.store = store
        self.replica = store.replica
        self.applier: ChangeApplier = store.applier
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(store.run(self.stop))

    @classmethod
    async def start(cls, cluster: NatsCluster, path: Path, name: str) -> ReplicaNode:
        connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node=name))
        replica = RocksStore(path)
        store = ClusterStore(connection, replica, applier=ChangeApplier(connection, replica, idle_check=0.2))
        await store.prepare()
        return cls(store)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)
        await self.store.connection.close()
        self.store.close()

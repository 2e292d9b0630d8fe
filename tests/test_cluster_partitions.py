"""DeliveryPartitions on a real 3-node NATS cluster: every partition held exactly once, the shares
balanced by the live node count, and a stopped node's partitions taken over by the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET_NEEDS, lease_bucket
from core.cluster.partitions import MIN_BOT_SHARE, DeliveryPartitions
from core.config import ClusterConfig
from core.dispatch.outbox import Outbox
from core.dispatch.partition import PARTITIONS
from core.store import open_store
from tests.nats_cluster import NatsCluster, nats_cluster
from tests.polling import until


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    async with nats_cluster(tmp_path / "nats", size=3) as c:
        yield c


class Node:
    """One Mempools node's delivery side: its connection, replica store, outbox and partitions."""

    def __init__(self, name: str, connection: ClusterConnection, path: Path, live: list[int]) -> None:
        self.name = name
        self.store = open_store(path)
        self.outbox = Outbox(self.store, partitions=set(), follow=True)
        self.partitions = DeliveryPartitions(connection.js, self.outbox, name, lambda: live[0], ttl=3)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.partitions.run(self.stop))

    def held(self) -> set[int]:
        return self.partitions.held()

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 15)
        self.store.close()


def spread(nodes: list[Node]) -> list[int] | None:
    """Each node's count when every partition is held by exactly one of them (else None)."""
    held = [node.held() for node in nodes]
    every = set().union(*held)
    if every != set(range(PARTITIONS)) or sum(len(h) for h in held) != PARTITIONS:
        return None
    return sorted(len(h) for h in held)


async def watch_for_doubles(nodes: list[Node], doubles: list[set[int]]) -> None:
    """Look every 10 ms whether any partition is held by two nodes."""
    while True:
        seen: set[int] = set()
        for node in nodes:
            held = node.held()
            if held & seen:
                doubles.append(held & seen)
            seen |= held
        await asyncio.sleep(0.01)


async def test_partitions_are_held_once_each_and_balanced_as_nodes_come_and_go(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    live = [2]
    async with AsyncExitStack() as stack:
        setup = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node="setup"))
        stack.push_async_callback(setup.close)
        await setup.ensure_kv(lease_bucket(3), LEASE_BUCKET_NEEDS)

        async def node(name: str) -> Node:
            connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node=name))
            stack.push_async_callback(connection.close)
            started = Node(name, connection, tmp_path / name, live)
            return started

        loop = asyncio.get_running_loop()
        began = loop.time()
        a, b = await node("a"), await node("b")
        nodes = [a, b]
        closers = {a.name: a.close, b.name: b.close}
        stack.push_async_callback(lambda: asyncio.gather(*(close() for close in closers.values())))
        doubles: list[set[int]] = []  # partitions seen held by two nodes at once: must stay empty
        watcher = asyncio.create_task(watch_for_doubles(nodes, doubles))
        stack.callback(watcher.cancel)

        await until(lambda: spread([a, b]) == [16, 16], timeout=20)
        print("two nodes balanced after", round(loop.time() - began, 1), "s")
        # The work under each lease made the outbox deliver that partition (it starts right after).
        await until(lambda: all(each.outbox.partitions == each.held() for each in (a, b)))
        assert a.partitions.bot_share() == b.partitions.bot_share() == 0.5
        assert sum(a.partitions.leases().values()) == 16 and len(a.partitions.leases()) == PARTITIONS
        assert "delivery:0" in a.partitions.leases()

        live[0] = 3
        joined = loop.time()
        c = await node("c")
        nodes.append(c)
        closers[c.name] = c.close
        await until(lambda: spread([a, b, c]) == [10, 11, 11], timeout=30)
        print("three nodes balanced after", round(loop.time() - joined, 1), "s")

        del closers[c.name]
        await c.close()  # it releases its leases as it stops
        live[0] = 2
        stopped_at = loop.time()
        await until(lambda: spread([a, b]) == [16, 16], timeout=15)
        assert loop.time() - stopped_at < 15
        print("moved to the other two after", round(loop.time() - stopped_at, 1), "s")
        assert c.held() == set() and c.outbox.partitions == set()
        assert c.partitions.bot_share() == MIN_BOT_SHARE
        assert doubles == []

"""`ClusterStore`, the schema record and the node registry on a real 3-node NATS cluster.

Two "nodes" are two `ClusterStore`s over two real RocksDB replicas in temp dirs, each with its own
NATS connection and applier task.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
import pytest

from core.cluster.changelog import APPLIED_KEY
from core.cluster.connection import ClusterConnection
from core.cluster.nodes import NODES_BUCKET_NEEDS, NODES_STREAM, NodeRegistry, live_nodes, nodes_bucket
from core.cluster.schema import CLUSTER_SCHEMA_KEY, ensure_cluster_schema
from core.cluster.store import ReplicatedWriteError
from core.config import ClusterConfig
from core.errors import ClusterError, ConflictError
from core.store.base import Absent, KVStore, WriteBatch
from core.store.collection import Collection, Index
from tests.nats_cluster import NatsCluster
from tests.polling import until, until_async
from tests.replica_node import ReplicaNode


class Account(msgspec.Struct, frozen=True):
    id: str
    email: str


def accounts(store: KVStore) -> Collection[Account]:
    return Collection(store, "acct", Account, lambda a: (a.id,), [Index("email", lambda a: [(a.email,)], unique=True)])


def put(key: bytes, value: bytes) -> WriteBatch:
    batch = WriteBatch()
    batch.put(key, value)
    return batch


async def test_a_commit_is_read_at_once_on_its_node_and_within_a_second_on_the_other(
    replicas: list[ReplicaNode],
) -> None:
    a, b = replicas
    committed: list[str] = []
    lags = []
    for i in range(20):
        key = f"k/{i}".encode()
        batch = put(key, b"v")
        batch.on_commit(lambda: committed.append("done"))
        await a.store.commit(batch)
        started = time.monotonic()
        assert a.store.get(key) == b"v"  # read-your-writes
        await until(lambda key=key: b.store.get(key) == b"v", timeout=1.0)  # type: ignore[misc]
        lags.append(time.monotonic() - started)
    assert len(committed) == 20
    assert max(lags) < 1.0, lags
    assert a.store.applied_sequence == 20
    assert "applied up to 20" in a.store.describe() and "NATS connected to 127.0.0.1:" in a.store.describe()
    assert a.store.accepts_writes() and not a.store.refusing
    print(f"apply lag on the other node over 20 commits: max {max(lags) * 1000:.1f} ms")


async def test_the_replica_is_never_written_directly(replicas: list[ReplicaNode]) -> None:
    a, _ = replicas
    with pytest.raises(ReplicatedWriteError, match="commit"):
        a.store.write(put(b"x", b"y"))
    with pytest.raises(ReplicatedWriteError):
        a.store.put(b"x", b"y")
    assert a.store.get(b"x") is None


async def test_a_unique_index_race_has_one_winner_on_both_replicas(replicas: list[ReplicaNode]) -> None:
    a, b = replicas
    for round_ in range(5):
        email = f"user{round_}@example.org"
        batches = []
        for node, account_id in ((a, f"a{round_}"), (b, f"b{round_}")):
            batch = WriteBatch()
            accounts(node.store).put(Account(account_id, email), batch)
            batches.append(node.store.commit(batch))
        results = await asyncio.gather(*batches, return_exceptions=True)
        assert sum(isinstance(r, ConflictError) for r in results) == 1, results
        assert sum(r is None for r in results) == 1, results
        sequence = 2 * round_ + 2
        await until(lambda sequence=sequence: a.store.applied_sequence == b.store.applied_sequence == sequence)  # type: ignore[misc]
        winner_a = accounts(a.store).get_unique("email", email)
        assert winner_a is not None and winner_a == accounts(b.store).get_unique("email", email)
    assert list(a.store.scan()) == list(b.store.scan())
    assert len(list(accounts(a.store).scan())) == 5


async def test_listeners_see_every_applied_change_once_whichever_node_made_it(replicas: list[ReplicaNode]) -> None:
    a, b = replicas
    seen_b: list[list[tuple[bytes, bytes | None]]] = []
    seen_a: list[list[tuple[bytes, bytes | None]]] = []
    b.store.observe(seen_b.append)
    a.store.observe(seen_a.append)
    await a.store.commit(put(b"from-a", b"1"))
    await b.store.commit(put(b"from-b", b"2"))
    skipped = put(b"from-a", b"again")
    skipped.require(Absent(b"from-a"))
    with pytest.raises(ConflictError):
        await b.store.commit(skipped)
    await until(lambda: a.store.applied_sequence == b.store.applied_sequence == 3)
    expected = [[(b"from-a", b"1")], [(b"from-b", b"2")]]  # the skipped batch changed nothing: not shown
    assert seen_a == seen_b == expected
    assert all(key != APPLIED_KEY for ops in seen_b for key, _ in ops)


async def test_describe_says_when_nats_is_unreachable(cluster: NatsCluster, tmp_path: Path) -> None:
    node = await ReplicaNode.start(cluster, tmp_path / "replica", "node-x")
    try:
        await node.store.commit(put(b"k", b"v"))
        for nats_node in cluster.nodes:
            nats_node.kill()
        await until(lambda: not node.store.accepts_writes(), timeout=10)
        assert node.store.refusing
        assert node.store.describe().startswith("NATS unreachable since ")
        assert node.store.describe().endswith("applied up to 1")
        assert node.store.get(b"k") == b"v"  # reads go on from the replica
    finally:
        node.stop.set()
        node.task.cancel()
        node.store.close()
        await node.store.connection.nc.close()


async def test_the_first_node_stamps_the_schema_and_another_version_is_refused(replicas: list[ReplicaNode]) -> None:
    a, b = replicas
    assert await asyncio.gather(ensure_cluster_schema(a.store, 1), ensure_cluster_schema(b.store, 1)) == [1, 1]
    assert a.store.get(CLUSTER_SCHEMA_KEY) == b.store.get(CLUSTER_SCHEMA_KEY) == b"1"
    with pytest.raises(ClusterError, match=r"^the cluster's schema version is 1; this mempools has 2: upgrade"):
        await ensure_cluster_schema(b.store, 2)


async def test_a_replica_stamped_with_another_version_is_refused(cluster: NatsCluster, tmp_path: Path) -> None:
    first = await ReplicaNode.start(cluster, tmp_path / "old", "old")
    try:
        assert await ensure_cluster_schema(first.store, 2) == 2
    finally:
        await first.close()
    later = await ReplicaNode.start(
        cluster, tmp_path / "new", "new"
    )  # a fresh replica: it learns the stamp from the log
    try:
        with pytest.raises(ClusterError, match="schema version is 2; this mempools has 1"):
            await ensure_cluster_schema(later.store)
    finally:
        await later.close()


async def test_nodes_heartbeat_and_a_name_in_use_is_refused(cluster: NatsCluster) -> None:
    config = ClusterConfig(nats=cluster.urls, node="n")
    connections = [await ClusterConnection.open(config) for _ in range(3)]
    stop = asyncio.Event()
    try:
        one = NodeRegistry(connections[0], "mempools-1", applied=lambda: 7, leases=lambda: ["chain:x"], api="h:1")
        two = NodeRegistry(connections[1], "mempools-2", applied=lambda: 9, interval=0.2)
        await one.start()
        await two.start()
        tasks = [asyncio.create_task(r.run(stop)) for r in (one, two)]
        records = await one.nodes()
        assert [(r.node, r.applied, r.leases, r.api) for r in records] == [
            ("mempools-1", 7, ["chain:x"], "h:1"),
            ("mempools-2", 9, [], None),
        ]
        assert records[0].schema == 1 and records[0].version
        again = NodeRegistry(connections[2], "mempools-1", applied=lambda: 0)
        with pytest.raises(ClusterError, match=r"node name mempools-1 is in use by another process \(started 20"):
            await again.start()
        stop.set()
        await asyncio.gather(*tasks)
        await until_async(lambda: _no_nodes(connections[2]), timeout=5)  # leaving removes the record
        await again.start()  # the name is free again
    finally:
        for connection in connections:
            await connection.close()


async def _no_nodes(connection: ClusterConnection) -> bool:
    return await live_nodes(connection.js) == []


async def test_a_dead_previous_life_does_not_block_its_name(cluster: NatsCluster) -> None:
    config = ClusterConfig(nats=cluster.urls, node="n")
    first, second = await ClusterConnection.open(config), await ClusterConnection.open(config)
    try:
        dead = NodeRegistry(first, "mempools-1", applied=lambda: 0, interval=0.2)
        await dead.start()  # one heartbeat, then nothing: a process killed with -9
        restarted = NodeRegistry(second, "mempools-1", applied=lambda: 3, interval=0.2)
        await restarted.start()
        assert [(r.node, r.applied) for r in await live_nodes(second.js)] == [("mempools-1", 3)]
    finally:
        await first.close()
        await second.close()


async def test_a_process_whose_name_was_taken_while_it_looked_dead_stops(cluster: NatsCluster) -> None:
    """The start-up watch is a time window: a live process too slow to refresh inside it (a
    loaded machine, SIGSTOP) is taken for dead. Its next heartbeat sees the other record and it
    stops, rather than two processes heartbeating one name for good."""
    config = ClusterConfig(nats=cluster.urls, node="n")
    first, second = await ClusterConnection.open(config), await ClusterConnection.open(config)
    stop = asyncio.Event()
    try:
        slow = NodeRegistry(first, "mempools-1", applied=lambda: 0, interval=0.2)
        await slow.start()  # then no heartbeat for a while: paused
        taker = NodeRegistry(second, "mempools-1", applied=lambda: 7, interval=0.2)
        await taker.start()
        taking = asyncio.create_task(taker.run(stop))
        with pytest.raises(ClusterError, match="node name mempools-1 is in use by another process"):
            await asyncio.wait_for(slow.run(stop), timeout=10)  # resumed
        assert not taking.done()
        assert [(r.node, r.applied) for r in await live_nodes(second.js)] == [("mempools-1", 7)]
        stop.set()
        await taking
    finally:
        await first.close()
        await second.close()


async def test_two_processes_starting_with_one_name_at_once_one_is_refused(cluster: NatsCluster) -> None:
    config = ClusterConfig(nats=cluster.urls, node="n")
    connections = [await ClusterConnection.open(config) for _ in range(2)]
    stop = asyncio.Event()

    async def start_and_run(registry: NodeRegistry) -> None:
        await registry.start()
        await registry.run(stop)

    try:
        # The bucket exists and has a leader already (a read of a bucket whose stream has no leader
        # yet waits nats-py's 5 s timeout): what races here is the first heartbeat's CAS.
        await connections[0].ensure_kv(nodes_bucket(3), NODES_BUCKET_NEEDS)
        await cluster.stream_leader(NODES_STREAM)
        registries = [NodeRegistry(c, "mempools-1", applied=lambda: 0, interval=0.2) for c in connections]
        tasks = [asyncio.create_task(start_and_run(r)) for r in registries]
        await until(lambda: any(task.done() for task in tasks), timeout=15)
        refused = [task for task in tasks if task.done()]
        assert len(refused) == 1
        with pytest.raises(ClusterError, match="node name mempools-1 is in use by another process"):
            refused[0].result()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for connection in connections:
            await connection.close()

"""The replicated change log on a real 3-node NATS JetStream cluster, applied into real RocksDB replicas.

Two "nodes" are two `RocksStore`s in temp dirs, each with its own NATS connection and applier;
the crash test runs an applier in its own process and kills it with SIGKILL; the failover test
kills the stream leader's `nats-server` with kill -9.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.cluster.changelog import APPLIED_KEY, CHANGES_STREAM, Applied, ChangeApplier, ChangeLog, applied_sequence
from core.cluster.connection import ClusterConnection
from core.config import ClusterConfig
from core.errors import ClusterError, ConflictError
from core.store.base import Absent, Equals, WriteBatch, digest
from core.store.rocks import RocksStore
from tests.nats_cluster import NatsCluster, ScriptProcess
from tests.polling import until


class Node:
    """One Mempools node's share of cluster mode: a connection, a replica, its applier, its log."""

    def __init__(self, connection: ClusterConnection, store: RocksStore) -> None:
        self.connection = connection
        self.store = store
        self.outcomes: list[Applied] = []
        self.applier = ChangeApplier(
            connection, store, idle_check=0.2, on_applied=lambda outcome, _at: self.outcomes.append(outcome)
        )
        self.log = ChangeLog(connection, self.applier)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, cluster: NatsCluster, path: Path, name: str) -> Node:
        connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node=name))
        node = cls(connection, RocksStore(path))
        await node.log.ensure_stream()
        node._task = asyncio.create_task(node.applier.run(node._stop))
        return node

    def contents(self) -> list[tuple[bytes, bytes]]:
        return list(self.store.scan())

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
        await self.connection.close()
        self.store.close()


@pytest.fixture
async def nodes(cluster: NatsCluster, tmp_path: Path) -> AsyncIterator[list[Node]]:
    started = [await Node.start(cluster, tmp_path / f"replica-{i}", f"node-{i}") for i in range(2)]
    yield started
    for node in started:
        await node.close()


def batch(*ops: tuple[bytes, bytes | None]) -> WriteBatch:
    b = WriteBatch()
    for key, value in ops:
        if value is None:
            b.delete(key)
        else:
            b.put(key, value)
    return b


async def test_two_replicas_converge_after_interleaved_commits(nodes: list[Node]) -> None:
    a, b = nodes

    async def writer(node: Node, name: str) -> list[int]:
        sequences = []
        for i in range(40):
            key = f"item/{name}/{i:03d}".encode()
            sequences.append(await node.log.commit(batch((key, b"v"), (b"last", name.encode()))))
            assert node.store.get(key) == b"v"  # the writer reads its own write as soon as commit returns
        await node.log.commit(batch((f"item/{name}/000".encode(), None)))
        return sequences

    seq_a, seq_b = await asyncio.gather(writer(a, "a"), writer(b, "b"))
    assert sorted(seq_a + seq_b) == sorted(set(seq_a + seq_b))  # every commit its own place in the log
    await asyncio.gather(a.applier.reached(82), b.applier.reached(82))
    assert a.contents() == b.contents()
    keys = [key for key, _ in a.contents() if key.startswith(b"item/")]
    assert len(keys) == 78 and b"item/a/000" not in keys and b"item/b/039" in keys
    assert applied_sequence(a.store) == applied_sequence(b.store) == 82
    assert [o.sequence for o in a.outcomes] == [o.sequence for o in b.outcomes] == list(range(1, 83))


async def test_unique_key_race_has_one_winner_on_every_replica(nodes: list[Node]) -> None:
    a, b = nodes
    for round_ in range(10):
        key = f"email/user{round_}@example.org".encode()
        results = await asyncio.gather(
            a.log.commit(batch((key, b"account-a")), preconditions=[Absent(key)]),
            b.log.commit(batch((key, b"account-b")), preconditions=[Absent(key)]),
            return_exceptions=True,
        )
        conflicts = [r for r in results if isinstance(r, ConflictError)]
        winners = [r for r in results if isinstance(r, int)]
        assert len(conflicts) == 1 and len(winners) == 1, results
        assert "already exists" in str(conflicts[0])
        winner = b"account-a" if isinstance(results[0], int) else b"account-b"
        await asyncio.gather(a.applier.reached(2 * round_ + 2), b.applier.reached(2 * round_ + 2))
        assert a.store.get(key) == b.store.get(key) == winner
    assert a.contents() == b.contents()
    skipped = [o for o in a.outcomes if not o.applied]
    assert len(skipped) == 10 and skipped == [o for o in b.outcomes if not o.applied]


async def test_compare_and_set_on_a_value_digest(nodes: list[Node]) -> None:
    a, b = nodes
    await a.log.commit(batch((b"counter", b"1")))
    await b.log.commit(batch((b"counter", b"2")), preconditions=[Equals(b"counter", digest(b"1"))])
    with pytest.raises(ConflictError, match="changed"):
        await a.log.commit(batch((b"counter", b"3")), preconditions=[Equals(b"counter", digest(b"1"))])
    with pytest.raises(ConflictError):  # the key's absence is not a match either
        await a.log.commit(batch((b"other", b"x")), preconditions=[Equals(b"missing", digest(b""))])
    await b.applier.reached(4)
    assert a.store.get(b"counter") == b.store.get(b"counter") == b"2"
    assert a.store.get(b"other") is None and b.store.get(b"other") is None


async def test_a_batch_over_max_payload_is_one_atomic_batch_applied_whole(nodes: list[Node]) -> None:
    a, b = nodes
    big = batch(*((f"k{i:04d}".encode(), b"x" * 1024) for i in range(2500)))  # ~2.6 MB; one message takes 1 MB
    sequence = await a.log.commit(big, preconditions=[Absent(b"k0000")])
    info = await a.connection.js.stream_info(CHANGES_STREAM)
    assert info.state.messages == sequence == 3  # three messages, stored together
    await b.applier.reached(sequence)
    for node in (a, b):
        assert len(list(node.store.scan(b"k"))) == 2500
        assert [(o.sequence, o.applied) for o in node.outcomes] == [(3, True)]  # one apply, at the last part
    with pytest.raises(ConflictError, match="already exists"):  # the first part's precondition holds for all
        await b.log.commit(batch(*((f"k{i:04d}".encode(), b"y" * 1024) for i in range(2500))), [Absent(b"k0000")])
    await a.applier.reached(b.applier.sequence)
    assert a.store.get(b"k2499") == b.store.get(b"k2499") == b"x" * 1024
    assert a.contents() == b.contents()


async def test_one_operation_over_max_payload_is_refused_with_a_clear_error(nodes: list[Node]) -> None:
    a, _ = nodes
    with pytest.raises(ClusterError, match=r"one operation .* over the \d+ bytes one NATS message can carry"):
        await a.log.commit(batch((b"huge", b"x" * 1_100_000)))
    assert a.store.get(b"huge") is None


class ApplierProcess(ScriptProcess):
    """`tests/change_applier.py` in its own process: the replica a test kills with SIGKILL."""

    def __init__(self, url: str, path: Path) -> None:
        super().__init__("tests.change_applier", url, str(path))

    def values(self, word: str) -> list[int]:
        return self.numbers(word)

    async def end(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)
        await self.wait()


async def test_sigkill_of_an_applier_then_restart_applies_each_batch_once(
    cluster: NatsCluster, nodes: list[Node], tmp_path: Path
) -> None:
    writer, _ = nodes
    replica = tmp_path / "killed-replica"
    total = 300

    async def commit(i: int) -> int:
        return await writer.log.commit(batch((f"item/{i:04d}".encode(), b"v"), (b"counter", str(i).encode())))

    first = ApplierProcess(cluster.urls[0], replica)
    try:
        done = 0
        while done < total:  # 8 commits in flight, until the process is killed half-way
            await asyncio.gather(*(commit(i) for i in range(done, min(done + 8, total))))
            done += 8
            if done == 152:
                await until(lambda: len(first.values("applied")) >= 100, timeout=20)
                await first.end(signal.SIGKILL)
    finally:
        if first.proc.poll() is None:
            await first.end(signal.SIGKILL)
    assert first.proc.returncode == -signal.SIGKILL
    second = ApplierProcess(cluster.urls[1], replica)
    try:
        await until(lambda: total in second.values("applied"), timeout=20)
    finally:
        await second.end(signal.SIGTERM)
    before, after = first.values("applied"), second.values("applied")
    assert second.values("resume") == [after[0] - 1] and after[0] - 1 >= before[-1]
    assert not set(before) & set(after)  # nothing applied twice
    assert after == list(range(after[0], total + 1))
    with RocksStore(replica, read_only=True) as restarted:
        assert list(restarted.scan()) == writer.contents()
        assert restarted.get(b"counter") == str(total - 1).encode()
        assert applied_sequence(restarted) == total


async def test_kill_of_the_stream_leader_during_commits_loses_and_repeats_nothing(
    cluster: NatsCluster, nodes: list[Node]
) -> None:
    a, b = nodes
    total, in_flight = 400, 16
    queue = list(range(total))
    sequences: list[int] = []

    async def worker() -> None:
        while queue:
            i = queue.pop(0)
            sequences.append(await a.log.commit(batch((f"item/{i:04d}".encode(), b"v"))))

    workers = [asyncio.create_task(worker()) for _ in range(in_flight)]
    try:
        await until(lambda: len(sequences) >= 100, timeout=20)
        leader = await cluster.stream_leader(CHANGES_STREAM)
        leader.kill()
        await asyncio.wait_for(asyncio.gather(*workers), 40)
    finally:
        for task in workers:
            task.cancel()
    assert sorted(sequences) == list(range(1, total + 1))  # one stream entry per commit: retries deduplicated
    info = await a.connection.js.stream_info(CHANGES_STREAM)
    assert info.state.messages == total and info.state.last_seq == total
    await b.applier.reached(total)
    assert a.contents() == b.contents()
    assert len([k for k, _ in a.contents() if k.startswith(b"item/")]) == total
    for node in (a, b):
        assert [o.sequence for o in node.outcomes] == list(range(1, total + 1))  # each applied once
        assert node.store.get(APPLIED_KEY) == total.to_bytes(8, "big")


async def test_a_commit_on_a_node_whose_applier_stopped_fails_instead_of_hanging(nodes: list[Node]) -> None:
    a, _ = nodes
    await a.log.commit(batch((b"before", b"1")))
    await a.close()
    with pytest.raises(ClusterError, match="the change applier is stopped"):
        await a.log.commit(batch((b"after", b"1")))


async def test_a_commit_sent_again_while_the_leader_was_paused_is_stored_and_applied_once(
    cluster: NatsCluster, nodes: list[Node]
) -> None:
    """The stream's leader is paused while a commit is on its way: the client times out and sends the
    same message again, twice more; the woken leader receives all three. The Nats-Msg-Id makes it
    store one, so every replica applies the batch once."""
    a, b = nodes
    connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node="writer"))
    try:
        log = ChangeLog(connection, a.applier, publish_timeout=0.3)
        leader = await cluster.stream_leader(CHANGES_STREAM)
        sent = connection.nc.stats["out_msgs"]
        leader.pause()
        try:
            commit = asyncio.create_task(log.commit(batch((b"hits", b"1"))))
            await until(lambda: connection.nc.stats["out_msgs"] >= sent + 3, timeout=10)
        finally:
            leader.resume()
        assert await asyncio.wait_for(commit, 20) == 1
    finally:
        await connection.close()
    await b.applier.reached(1)
    info = await a.connection.js.stream_info(CHANGES_STREAM)
    assert info.state.messages == 1
    assert [o.sequence for o in a.outcomes] == [o.sequence for o in b.outcomes] == [1]


async def test_a_replica_behind_a_purged_log_stops_with_a_clear_error(nodes: list[Node], tmp_path: Path) -> None:
    a, _ = nodes
    for i in range(3):
        await a.log.commit(batch((f"item/{i}".encode(), b"v")))
    await a.connection.js.purge_stream(CHANGES_STREAM, keep=1)  # sequences 1 and 2 are gone
    with RocksStore(tmp_path / "late-replica") as late:
        applier = ChangeApplier(a.connection, late, idle_check=0.2)
        with pytest.raises(ClusterError, match="up to 0, but the stream now starts at 3: the changes between are gone"):
            await asyncio.wait_for(applier.run(asyncio.Event()), 10)
        assert list(late.scan()) == []  # it applied nothing rather than a part

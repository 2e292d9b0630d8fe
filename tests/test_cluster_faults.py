"""Cluster mode under faults (issue #16, points 2, 5, 6): real `mempools serve` processes on a real
3-node NATS cluster (tests/cluster_rig.py), real signals.

A chain holder paused past its lease is fenced; kill -9 of the NATS stream leader, of the chain
holder and a paused holder while blocks are caught up and webhooks flow lose nothing and repeat
little; NATS unreachable at start, or lost while running, is said on `/ready` and refused on writes
with a 503, and everything resumes when NATS is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from core.cluster.connection import ClusterConnection
from core.cluster.schema import ensure_cluster_schema
from core.cluster.store import ClusterStore
from core.config import ClusterConfig
from core.store.rocks import RocksStore
from core.store.schema import SCHEMA_VERSION
from tests.cluster_rig import CHAIN_LEASE, CHANGES_STREAM, ClusterRig, ServeNode, Sub, cluster_rig
from tests.polling import until, until_async
from tests.test_cluster_serve import BLOCKS, TAKEOVER_S, TXS, _assert_each_once, _visible_within, _watching

PAUSE_S = 5.0  # SIGSTOP this long: past the 2 s lease the rig's nodes use
WORKERS = 16  # [dispatch] workers: deliveries in flight on one node at most, which bounds a kill's repeats
_LOST = re.compile(rf"lease {re.escape(CHAIN_LEASE)} lost|fenced", re.IGNORECASE)


async def _subscribed(rig: ClusterRig, nodes: list[ServeNode]) -> tuple[str, list[Sub]]:
    """An account on the first node with one webhook and two subscriptions (every block, every
    tx), visible on every node; returns its key and the subscriptions."""
    key = await rig.sign_up(nodes[0])
    dest = await rig.create_destination(nodes[0], key)
    subs = [
        await rig.create_subscription(nodes[0], key, "blocks", BLOCKS, [dest]),
        await rig.create_subscription(nodes[0], key, "txs", TXS, [dest]),
    ]
    for node in nodes[1:]:
        for sub in subs:
            await _visible_within(rig, node, key, f"/v1/subscriptions/{sub.id}")
    return key, subs


async def _pause_past_the_lease(rig: ClusterRig, holder: ServeNode, others: list[ServeNode]) -> tuple[ServeNode, float]:
    """SIGSTOP the chain's holder for PAUSE_S, until another node holds the chain; SIGCONT it and
    wait for it to say it lost the lease. Returns the new holder and how long the takeover took."""
    holder.pause()
    paused_at = time.monotonic()
    try:
        new = await rig.holder(CHAIN_LEASE, timeout=TAKEOVER_S, among=others)
        took = time.monotonic() - paused_at
        await until(lambda: time.monotonic() - paused_at >= PAUSE_S, PAUSE_S + 1)
    finally:
        holder.resume()
    await until(lambda: _LOST.search(holder.current_output), 15)
    await until_async(lambda: _not_holding(rig, holder), 15)
    return new, took


async def _not_holding(rig: ClusterRig, node: ServeNode) -> bool:
    metrics = await rig.metrics(node)
    return metrics is not None and metrics.leases.get(CHAIN_LEASE) is False


async def test_a_holder_paused_past_its_lease_commits_nothing_after(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path) as rig:
        a, b = await rig.add_nodes(2)
        holder = await _watching(rig)
        key, subs = await _subscribed(rig, [a, b])
        other = b if holder is a else a
        tip = await rig.advance(300)
        await rig.wait_height(holder, 40)
        new, took = await _pause_past_the_lease(rig, holder, [other])
        assert new is other
        await rig.wait_height(other, tip, timeout=90)
        expected = rig.expected(subs, range(2, tip + 1))
        history = await rig.wait_history(other, key, len(expected), timeout=10)
        _assert_each_once(history, expected)
        await rig.wait_webhooks(expected)
        assert (await rig.holders(CHAIN_LEASE)) == [other]
        print(f"{other.name} took the chain {took:.1f} s after {holder.name} was paused; {len(expected)} notifications")


class ReadyLog:
    """`/ready` of some nodes, every 0.2 s, in the background: (node, monotonic time, status, body)."""

    def __init__(self, rig: ClusterRig) -> None:
        self.rig = rig
        self.watch: list[ServeNode] = []
        self.seen: list[tuple[str, float, int, dict[str, Any]]] = []

    async def run(self) -> None:
        while True:
            for node in list(self.watch):
                status, body = await self.rig.ready(node, timeout=2.0)
                self.seen.append((node.name, time.monotonic(), status, body))
            await asyncio.sleep(0.2)

    def not_ready(self, since: float) -> list[tuple[str, float, int, dict[str, Any]]]:
        return [entry for entry in self.seen if entry[1] >= since and entry[2] != 200]


@contextlib.asynccontextmanager
async def _background(*coroutines: Any) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_faults_while_catching_up_and_delivering(tmp_path: Path) -> None:
    # The chain is behind all along (that is the point): its lag must not be what /ready reports.
    lag = "lag_budget_blocks = 100000\n"
    async with cluster_rig(tmp_path, extra=f"[dispatch]\nworkers = {WORKERS}\n", chain_extra=lag) as rig:
        a, b = await rig.add_nodes(2)
        await _watching(rig)
        key, subs = await _subscribed(rig, [a, b])
        ready = ReadyLog(rig)
        feeding = asyncio.Event()
        feeding.set()

        async def feed() -> None:
            """Blocks keep coming (10/s) while the faults happen: the watcher is always catching up."""
            while feeding.is_set():
                await rig.advance(5)
                await asyncio.sleep(0.5)

        report: list[str] = []
        phases: list[tuple[str, float]] = [("before the faults", 0.0)]
        await rig.advance(150)
        async with _background(feed(), ready.run()):
            await until(lambda: len(rig.receiver.received) >= 100, 60)

            # 1. kill -9 of the stream leader of the change log: /ready stays 200 through the election.
            ready.watch = [a, b]
            before = len(rig.receiver.received)
            killed_at = time.monotonic()
            phases.append(("NATS leader killed", killed_at))
            leader = await rig.kill_stream_leader(CHANGES_STREAM)
            new_leader = await rig.nats.stream_leader(CHANGES_STREAM, timeout=20)
            await until(lambda: len(rig.receiver.received) >= before + 100, 60)  # deliveries flow again
            elected = time.monotonic() - killed_at
            await until(lambda: time.monotonic() - killed_at >= 10.0, 11)  # an election of up to 10 s
            not_ready = ready.not_ready(killed_at)
            assert not not_ready, f"/ready not 200 during the NATS leader election: {not_ready[:5]}"
            report.append(f"NATS {leader.name} (leader of {CHANGES_STREAM}) killed, {new_leader.name} leads; "
                          f"deliveries flowed again after {elected:.1f} s; /ready 200 throughout")  # fmt: skip
            ready.watch = []
            leader.start()
            await rig.nats.wait_healthy()

            # 2. kill -9 of the node holding the chain; another takes over; the killed one comes back.
            holder = await rig.holder(CHAIN_LEASE)
            other = b if holder is a else a
            await until(lambda: len(rig.receiver.received) >= before + 300, 60)
            holder.kill()
            killed_at = time.monotonic()
            phases.append(("chain holder killed", killed_at))
            await rig.holder(CHAIN_LEASE, timeout=TAKEOVER_S, among=[other])
            report.append(
                f"{holder.name} killed, {other.name} took the chain after {time.monotonic() - killed_at:.1f} s"
            )
            await holder.start()
            await rig.wait_joined(holder)

            # 3. SIGSTOP the holder past its lease, then SIGCONT it: it is fenced.
            holder = await rig.holder(CHAIN_LEASE)
            other = b if holder is a else a
            phases.append(("chain holder paused", time.monotonic()))
            new, took = await _pause_past_the_lease(rig, holder, [other])
            report.append(f"{holder.name} paused {PAUSE_S:.0f} s, {new.name} took the chain after {took:.1f} s")
            feeding.clear()

        watcher = await rig.holder(CHAIN_LEASE)
        await rig.wait_height(watcher, rig.tip, timeout=120)
        expected = rig.expected(subs, range(2, rig.tip + 1))
        assert len(expected) >= 1_000
        history = await rig.wait_history(watcher, key, len(expected), timeout=10)
        _assert_each_once(history, expected)
        received = await rig.wait_webhooks(expected, timeout=120)
        duplicates = sum(count - 1 for count in received.values())
        repeats = _repeats_by_phase(rig, phases)
        report.append(
            f"{rig.tip - 1} heights, {len(expected)} notifications, {duplicates} repeated webhooks: {repeats}"
        )
        print("\n".join(report))
        # At most WORKERS deliveries are in flight on each of the two nodes when a fault hits;
        # each fault may repeat those (bounded at 3x, as a reasonable margin), nothing more.
        assert all(count <= 3 * WORKERS * 2 for count in repeats.values()), repeats


def _repeats_by_phase(rig: ClusterRig, phases: list[tuple[str, float]]) -> dict[str, int]:
    """Webhooks that arrived again (a `webhook-id` already received), by the fault they followed."""
    seen: set[str] = set()
    repeats = dict.fromkeys((name for name, _ in phases), 0)
    for received in sorted(rig.receiver.received, key=lambda r: r.at):
        webhook_id = received.headers.get("webhook-id", "")
        if webhook_id in seen:
            repeats[next(name for name, at in reversed(phases) if at <= received.at)] += 1
        seen.add(webhook_id)
    return repeats


async def test_nats_unreachable_at_start_then_lost_while_running(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path) as rig:
        for nats_node in rig.nats.nodes:
            nats_node.stop()

        # NATS unreachable at start: the node serves, says why on /ready, keeps trying.
        (a,) = await rig.add_nodes(1, joined=False)
        _, at_start = await _ready_until(rig, a, 503, "cannot reach NATS")
        await _ready_until(rig, a, 503, "cannot reach NATS", seconds_at_least=3)  # it has kept trying
        incidents = [line for line in a.output.splitlines() if "NATS connection" in line]
        assert len(incidents) == 1, a.output  # one line for the incident, not one per retry
        assert "keeps trying to join" in a.output and "Traceback" not in a.output, a.output
        refused = await rig.http.post(f"{a.url}/v1/accounts", json={"email": "x@example.com", "password": "p" * 20})
        _assert_503_problem(refused)
        rig.nats.start()
        await rig.nats.wait_healthy()
        await _ready_until(rig, a, 200)
        (b,) = await rig.add_nodes(1)
        await _watching(rig)
        key, subs = await _subscribed(rig, [a, b])
        await rig.advance(20)
        await rig.wait_webhooks(rig.expected(subs, range(2, rig.tip + 1)), timeout=60)

        # NATS lost while running: /ready 503 with the reason, writes refused with 503, nothing
        # acknowledged that is not kept.
        acknowledged: list[str] = []
        writes = asyncio.Event()
        writes.set()

        async def write() -> None:
            i = 0
            while writes.is_set():
                i += 1
                body = {"kind": "webhook", "url": rig.receiver.url(f"/kept/{i}"), "name": f"kept {i}"}
                r = await rig.call(a, key, "POST", "/v1/destinations", body)
                if r.status_code < 300:
                    acknowledged.append(str(r.json()["id"]))
                await asyncio.sleep(0.05)

        async with _background(write()):
            await until(lambda: len(acknowledged) >= 5, 20)
            for nats_node in rig.nats.nodes:
                nats_node.kill()
            for node in (a, b):
                _, lost_body = await _ready_until(rig, node, 503, "")
                assert lost_body["checks"].get("cluster"), lost_body
            refused = await rig.call(a, key, "POST", "/v1/destinations", {"kind": "webhook", "url": rig.receiver.url()})
            _assert_503_problem(refused)
            tip_before = rig.tip
            await rig.advance(10)  # intake stops: these wait for NATS
            writes.clear()
        for nats_node in rig.nats.nodes:
            nats_node.start()
        await rig.nats.wait_healthy()
        for node in (a, b):
            await _ready_until(rig, node, 200, timeout=60)

        kept = {entry["id"] for entry in await rig.list_all(b, key, "/v1/destinations")}
        lost = [dest for dest in acknowledged if dest not in kept]
        assert not lost, f"{len(lost)} acknowledged writes were not kept: {lost[:3]}"
        await rig.advance(10)
        watcher = await rig.holder(CHAIN_LEASE)
        await rig.wait_height(watcher, rig.tip, timeout=60)
        expected = rig.expected(subs, range(2, rig.tip + 1))
        history = await rig.wait_history(watcher, key, len(expected), timeout=10)
        _assert_each_once(history, expected)
        await rig.wait_webhooks(expected, timeout=60)
        print(f"/ready at start: {at_start}; lost: {lost_body}; {len(acknowledged)} writes acknowledged, all kept; "
              f"heights {tip_before + 1}-{rig.tip} made while NATS was down, all notified after")  # fmt: skip


async def _ready_until(
    rig: ClusterRig,
    node: ServeNode,
    status: int,
    reason: str = "",
    timeout: float = 30.0,
    seconds_at_least: int = 0,
) -> tuple[int, dict[str, Any]]:
    """`/ready` answers `status` and its `cluster` check mentions `reason` (and, with
    `seconds_at_least`, says it has been so for that long: "... (N s)")."""
    last: list[tuple[int, dict[str, Any]]] = [(0, {})]

    async def reached() -> bool:
        last[0] = await rig.ready(node)
        got, body = last[0]
        check = str(body.get("checks", {}).get("cluster", ""))
        since = re.search(r"\((\d+) s\)$", check)
        long_enough = not seconds_at_least or (since is not None and int(since.group(1)) >= seconds_at_least)
        return got == status and reason in check and long_enough

    try:
        await until_async(reached, timeout)
    except AssertionError:
        raise AssertionError(f"/ready of {node.name} not {status} {reason!r}: {last[0]}") from None
    return last[0]


def _assert_503_problem(r: Any) -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json", r.headers
    assert r.json()["status"] == 503 and r.json()["detail"], r.text


async def test_a_node_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path) as rig:
        # The first node of another mempools version stamped the cluster: here, a store of this process.
        config = ClusterConfig(nats=rig.nats.urls, node="other-version")
        connection = await ClusterConnection.open(config)
        store = ClusterStore(connection, RocksStore(tmp_path / "other-version"))
        stop = asyncio.Event()
        try:
            await store.prepare()
            async with _background(store.run(stop)):
                assert await ensure_cluster_schema(store, SCHEMA_VERSION + 1) == SCHEMA_VERSION + 1
        finally:
            stop.set()
            await connection.close()
            store.close()

        node = ServeNode("m1", rig.write_config("m1"))
        rig.nodes.append(node)
        await node.start(wait_api=False)
        assert node.proc is not None
        code = await asyncio.to_thread(node.proc.proc.wait, 60)
        lines = node.output.strip().splitlines()
        assert code == 2, node.output
        assert lines[-1] == (
            f"mempools: the cluster's schema version is {SCHEMA_VERSION + 1}; this mempools has {SCHEMA_VERSION}: "
            "upgrade every node together"
        ), node.output
        assert "Traceback" not in node.output


async def test_a_node_starting_during_a_nats_leader_election_joins(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path) as rig:
        await rig.add_nodes(1)  # the change log exists and has a leader
        (late,) = await rig.add_nodes(1, joined=False)
        # Its API is up; the rest of its join (the change log's state, the schema, the registry)
        # comes next. An election takes 4-9 s: the join meets it (most of the time: it may be done).
        leader = await rig.kill_stream_leader(CHANGES_STREAM)
        await rig.wait_joined(late, timeout=45)
        assert late.running and "Traceback" not in late.output, late.output
        print(f"{late.name} joined through the election after NATS {leader.name} (the log's leader) was killed")

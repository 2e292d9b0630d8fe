"""Cluster mode end to end (issue #16, points 1-3): real `mempools serve` processes on a real
3-node NATS JetStream cluster, a devnet chain, a webhook receiver on loopback (tests/cluster_rig.py).

One system on many nodes (a write through one node is read on the other within 1 s, the next block
matches whichever node watches), one fenced watcher per chain (kill -9 of the holder mid catch-up:
taken over within 15 s, every height's notifications exactly once), deliveries spread over nodes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.cluster_rig import CHAIN_LEASE, CHANGES_STREAM, ClusterRig, ServeNode, Sub, cluster_rig
from tests.polling import until_async

BLOCKS = ["tm.event = 'NewBlock'"]
TXS = ["tm.event = 'Tx' AND message.action EXISTS"]
# /v1/chains too: the node that does not watch the chain tells its progress from the replicated cursor
USER_ROUTES = ("/v1/subscriptions", "/v1/destinations", "/v1/notifications", "/v1/me", "/v1/api-keys", "/v1/chains")
TAKEOVER_S = 15.0  # the bound for another node to take a dead holder's chain


async def _answers(rig: ClusterRig, node: ServeNode, key: str, path: str) -> Any:
    r = await rig.call(node, key, "GET", path)
    assert r.status_code == 200, (node.name, path, r.text)
    return r.json()


async def _same_on_both(rig: ClusterRig, a: ServeNode, b: ServeNode, key: str, path: str) -> None:
    answers: list[Any] = [None, None]

    async def same() -> bool:
        answers[:] = [await _answers(rig, a, key, path), await _answers(rig, b, key, path)]
        return bool(answers[0] == answers[1])

    try:
        await until_async(same, timeout=1.0)
    except AssertionError:
        on_a, on_b = answers
        raise AssertionError(f"{path} differs:\n{a.name}: {json.dumps(on_a)}\n{b.name}: {json.dumps(on_b)}") from None


async def _visible_within(rig: ClusterRig, node: ServeNode, key: str, path: str, seconds: float = 1.0) -> float:
    """How long until `path` answers 200 on `node` (an AssertionError past `seconds`)."""
    started = time.monotonic()

    async def found() -> bool:
        return (await rig.call(node, key, "GET", path)).status_code == 200

    try:
        await until_async(found, seconds)
    except AssertionError:
        r = await rig.call(node, key, "GET", path)
        raise AssertionError(
            f"{path} not visible on {node.name} within {seconds} s: {r.status_code} {r.text}"
        ) from None
    return time.monotonic() - started


def _assert_each_once(history: list[dict[str, Any]], expected: dict[str, int]) -> None:
    """The history lists exactly the reference's notifications, each once, at its height."""
    counts = Counter(n["id"] for n in history)
    twice = {i: c for i, c in counts.items() if c > 1}
    assert not twice, f"{len(twice)} notifications listed more than once, e.g. {list(twice.items())[:3]}"
    missing = set(expected) - set(counts)
    heights = sorted({expected[i] for i in missing})
    assert not missing, f"{len(missing)} notifications missing, at heights {heights[:20]}"
    extra = set(counts) - set(expected)
    assert not extra, f"{len(extra)} notifications the reference does not make"
    assert all(n["height"] == expected[n["id"]] for n in history)


async def _watching(rig: ClusterRig) -> ServeNode:
    """The node holding the chain, once it has processed the devnet's first block (no one is
    subscribed to it: the tests' notifications start at height 2)."""
    holder = await rig.holder(CHAIN_LEASE)
    await rig.wait_height(holder, 1)
    return holder


async def test_two_nodes_are_one_system(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path) as rig:
        a, b = await rig.add_nodes(2)
        holder = await _watching(rig)
        key = await rig.sign_up(a)
        seen_key = await _visible_within(rig, b, key, "/v1/me")  # the key made on A works on B
        dest = await rig.create_destination(b, key)
        blocks = await rig.create_subscription(b, key, "blocks", BLOCKS, [dest])
        txs = await rig.create_subscription(b, key, "txs", TXS, [dest])
        for path in (f"/v1/destinations/{dest}", f"/v1/subscriptions/{blocks.id}", f"/v1/subscriptions/{txs.id}"):
            await _answers(rig, b, key, path)  # at once on the node that wrote
        seen = [await _visible_within(rig, a, key, f"/v1/subscriptions/{s.id}") for s in (blocks, txs)]

        tip = await rig.advance(3)
        expected = rig.expected([blocks, txs], range(2, tip + 1))
        received = await rig.wait_webhooks(expected, timeout=30)
        assert all(received[i] == 1 for i in expected), "a notification was delivered twice without a fault"

        history = await rig.wait_history(a, key, len(expected), timeout=10)
        _assert_each_once(history, expected)
        for path in USER_ROUTES:  # the same answer on both, within the 1 s a write takes to reach every node
            await _same_on_both(rig, a, b, key, path)

        metrics = {node.name: await rig.metrics(node) for node in (a, b)}
        held = {name: m.leases.get(CHAIN_LEASE) for name, m in metrics.items() if m is not None}
        assert held == {holder.name: True, (b if holder is a else a).name: False}, held
        statuses: list[dict[str, Any]] = []

        async def both_listed() -> bool:  # a node's first heartbeat may come seconds after its API
            statuses.append(await rig.cluster_status(a))
            return sorted(n["node"] for n in statuses[-1]["nodes"]) == sorted([a.name, b.name])

        await until_async(both_listed, 15)
        status = statuses[-1]
        assert {"lease": CHAIN_LEASE, "holder": holder.name} in status["leases"], status["leases"]
        assert {lease["holder"] for lease in status["leases"]} <= {a.name, b.name}, status["leases"]
        changes = next(s for s in status["streams"] if s["name"] == CHANGES_STREAM)
        assert changes["replicas"] == 3 and [p["role"] for p in changes["peers"]].count("leader") == 1, changes
        print(f"key on B after {seen_key:.3f} s, subscriptions on A after {max(seen):.3f} s; {len(expected)} made")


async def test_kill_9_of_the_chain_holder_mid_catch_up(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path) as rig:
        a, b = await rig.add_nodes(2)
        holder = await _watching(rig)
        key = await rig.sign_up(a)
        dest = await rig.create_destination(a, key)
        subs = [
            await rig.create_subscription(a, key, "blocks", BLOCKS, [dest]),
            await rig.create_subscription(a, key, "txs", TXS, [dest]),
        ]
        for sub in subs:
            await _visible_within(rig, b, key, f"/v1/subscriptions/{sub.id}")
        other = b if holder is a else a

        tip = await rig.advance(400)
        await rig.wait_height(holder, 60)
        at_kill = (await rig.metrics(holder) or _no_metrics(holder)).height
        holder.kill()
        killed_at = time.monotonic()
        assert at_kill < tip - 50, f"catch-up was over before the kill ({at_kill} of {tip}): nothing was tested"
        await rig.holder(CHAIN_LEASE, timeout=TAKEOVER_S, among=[other])
        takeover = time.monotonic() - killed_at
        await rig.wait_height(other, tip, timeout=90)

        expected = rig.expected(subs, range(2, tip + 1))
        history = await rig.wait_history(other, key, len(expected), timeout=10)
        _assert_each_once(history, expected)
        heights = {n["height"] for n in history if n["subscription_id"] == subs[0].id}
        assert heights == set(range(2, tip + 1)), "a height has no block notification"
        received = await rig.wait_webhooks(expected, timeout=60)
        duplicates = sum(c - 1 for c in received.values())
        print(f"killed {holder.name} at height {at_kill} of {tip}; {other.name} took over after {takeover:.1f} s; "
              f"{len(expected)} notifications, {duplicates} webhooks delivered twice")  # fmt: skip


def _no_metrics(node: ServeNode) -> Any:
    raise AssertionError(f"{node.name} stopped answering /metrics before the kill")


# Destinations hash into 32 partitions by their (random) id, so a node's share of them is itself
# random: with 400 the 15% bound is 3 standard deviations wide (with 100, 1.5: flaky).
DESTINATIONS = 400
DELIVERIES = 10_000


async def _make_many(rig: ClusterRig, nodes: list[ServeNode], key: str, count: int) -> list[Sub]:
    """`count` webhook destinations (each its own path), each with one subscription matching
    every tx, made through the nodes in turn, a few at a time."""
    gate = asyncio.Semaphore(8)

    async def one(i: int) -> Sub:
        async with gate:
            node = nodes[i % len(nodes)]
            dest = await rig.create_destination(node, key, f"/hook/{i}", name=f"hook {i}")
            return await rig.create_subscription(node, key, f"txs {i}", TXS, [dest])

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def test_deliveries_spread_over_the_nodes(tmp_path: Path) -> None:
    async with cluster_rig(tmp_path) as rig:
        nodes = await rig.add_nodes(2)
        await _watching(rig)
        key = await rig.sign_up(nodes[0])
        subs = await _make_many(rig, nodes, key, DESTINATIONS)

        async def everywhere() -> bool:
            counts = [len(await rig.list_all(node, key, "/v1/subscriptions")) for node in nodes]
            return counts == [DESTINATIONS] * len(nodes)

        await until_async(everywhere, 10)
        # Every destination's partition is held by some node before the blocks come.
        await until_async(lambda: _partitions_held(rig, nodes), 30)
        before = [(await rig.metrics(node) or _no_metrics(node)).delivered for node in nodes]

        started = time.monotonic()
        expected: dict[str, int] = {}
        while len(expected) < DELIVERIES:  # one notification per tx and destination
            tip = await rig.advance(1)
            expected |= rig.expected(subs, [tip])
        await rig.wait_webhooks(expected, timeout=120)
        took = time.monotonic() - started

        after = [(await rig.metrics(node) or _no_metrics(node)).delivered for node in nodes]
        shares = [(x - y) for x, y in zip(after, before, strict=True)]
        total = sum(shares)
        assert total >= len(expected), (shares, len(expected))
        print(f"{len(expected)} deliveries in {took:.1f} s ({len(expected) / took:.0f}/s); per node {shares}")
        for node, share in zip(nodes, shares, strict=True):
            assert abs(share / total - 1 / len(nodes)) <= 0.15 / len(nodes), (node.name, shares)


async def _partitions_held(rig: ClusterRig, nodes: list[ServeNode]) -> bool:
    """Each `delivery:<p>` lease is held by exactly one node, and the nodes hold as many each
    (within one): the spread the partitions settle to once every node has joined."""
    held: dict[str, list[str]] = {}
    for node in nodes:
        metrics = await rig.metrics(node)
        if metrics is None:
            return False
        for lease, on in metrics.leases.items():
            if lease.startswith("delivery:") and on:
                held.setdefault(lease, []).append(node.name)
    per_node = Counter(names[0] for names in held.values() if len(names) == 1)
    counts = [per_node[node.name] for node in nodes]
    return len(held) == 32 and all(len(n) == 1 for n in held.values()) and max(counts) - min(counts) <= 1

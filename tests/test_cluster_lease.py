"""Leases on a real 3-node NATS JetStream cluster: one holder, takeover after kill -9, fencing after SIGSTOP."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator

import nats.errors
import pytest
from nats.js.api import Header
from nats.js.errors import APIError

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET, LEASE_BUCKET_NEEDS, Lease, lease_bucket
from core.config import ClusterConfig
from mempools.metrics import Metrics
from tests.nats_cluster import NatsCluster, ScriptProcess
from tests.polling import until, until_async

TTL = 2  # seconds: short, so that the tests are quick; every wait below is on a condition
LEASE = "chain:devnet-1"


@pytest.fixture
async def connection(cluster: NatsCluster) -> AsyncIterator[ClusterConnection]:
    conn = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node="tester"))
    await conn.ensure_kv(lease_bucket(3), LEASE_BUCKET_NEEDS)
    yield conn
    await conn.close()


class Holder(ScriptProcess):
    """`tests/lease_holder.py` in its own process: the node a test kills or pauses."""

    def __init__(self, url: str, node: str) -> None:
        super().__init__("tests.lease_holder", url, LEASE, node, str(TTL))

    @property
    def tokens(self) -> list[int]:
        return self.numbers("held")

    def lost(self) -> list[str]:
        return [line for line in self.lines if line.startswith("lost ")]

    async def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        await self.wait()


@pytest.fixture
async def holders() -> AsyncIterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        await holder.close()


async def _stale_cas_refused(connection: ClusterConnection, token: int) -> APIError:
    """A write fenced by `token`, as work done under the lease would commit it: the server's answer."""
    with pytest.raises(APIError) as info:
        await connection.js.publish(
            f"$KV.{LEASE_BUCKET}.chain.devnet-1",
            b"commit under a stale lease",
            headers={Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(token)},
        )
    return info.value


async def test_two_contenders_one_holds_and_release_hands_it_over(connection: ClusterConnection) -> None:
    a = Lease(connection.js, LEASE_BUCKET, LEASE, "node-a", ttl=TTL)
    b = Lease(connection.js, LEASE_BUCKET, LEASE, "node-b", ttl=TTL)
    metrics_a = Metrics(leases=lambda: {a.name: a.held})
    metrics_b = Metrics(leases=lambda: {b.name: b.held})
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    runs = [asyncio.create_task(a.run(stop_a)), asyncio.create_task(b.run(stop_b))]
    try:
        await until(lambda: a.held or b.held, timeout=10)
        first, second = (a, b) if a.held else (b, a)
        # It keeps it through several refreshes (each a new revision), and the other never gets it.
        start = first.token
        assert start is not None
        await until(lambda: (first.token or 0) >= start + 2 and first.held, timeout=10)
        assert not second.held and second.token is None
        assert await second.holder() == first.node
        shown = {m: m.render().decode() for m in (metrics_a, metrics_b)}
        held_by = metrics_a if first is a else metrics_b
        assert f'mempools_lease_held{{lease="{LEASE}"}} 1.0' in shown[held_by]
        other = metrics_b if held_by is metrics_a else metrics_a
        assert f'mempools_lease_held{{lease="{LEASE}"}} 0.0' in shown[other]
        # Stopping releases it at once: the other takes it well before the TTL would have run out.
        released_at = time.monotonic()
        (stop_a if first is a else stop_b).set()
        await until(lambda: second.held, timeout=TTL + second.refresh_interval + 5)
        assert time.monotonic() - released_at < TTL + second.refresh_interval + 1
        assert await first.holder() == second.node
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(*runs)
    assert await a.holder() is None  # both stopped: released, the next node starts at once


async def test_kill_9_of_the_holder_hands_the_lease_over_within_ttl_and_refresh(
    cluster: NatsCluster, connection: ClusterConnection, holders: list[Holder]
) -> None:
    holder = Holder(cluster.urls[0], "node-a")
    holders.append(holder)
    await until(lambda: holder.tokens, timeout=20)
    other = Lease(connection.js, LEASE_BUCKET, LEASE, "node-b", ttl=TTL)
    stop = asyncio.Event()
    run = asyncio.create_task(other.run(stop))
    try:
        assert await other.holder() == "node-a"
        await until(lambda: len(holder.tokens) >= 3, timeout=10)  # refreshing: alive and holding
        assert not other.held
        holder.proc.kill()
        killed_at = time.monotonic()
        await until(lambda: other.held, timeout=3 * (TTL + other.refresh_interval))
        took = time.monotonic() - killed_at
        print(f"lease taken over {took:.2f} s after kill -9 of its holder (ttl {TTL} s)")
        # The key's TTL runs out (<= TTL after the last refresh), then the next attempt takes it.
        assert took < TTL + other.refresh_interval + 1.5, took
        assert await other.holder() == "node-b"
        refused = await _stale_cas_refused(connection, holder.tokens[-1])
        assert refused.err_code == 10071
    finally:
        stop.set()
        await run


async def test_a_holder_paused_past_its_ttl_knows_it_lost_and_its_token_is_refused(
    cluster: NatsCluster, connection: ClusterConnection, holders: list[Holder]
) -> None:
    holder = Holder(cluster.urls[1], "node-a")
    holders.append(holder)
    await until(lambda: len(holder.tokens) >= 2, timeout=20)
    other = Lease(connection.js, LEASE_BUCKET, LEASE, "node-b", ttl=TTL)
    stop = asyncio.Event()
    run = asyncio.create_task(other.run(stop))
    try:
        holder.proc.send_signal(signal.SIGSTOP)
        stale = holder.tokens[-1]
        await until(lambda: other.held, timeout=3 * (TTL + other.refresh_interval))
        holder.proc.send_signal(signal.SIGCONT)
        # On waking, its next refresh is past its own expiry: it reports the loss and sends nothing.
        await until(lambda: holder.lost(), timeout=10)
        assert "expired" in holder.lost()[0]
        assert holder.tokens[-1] == stale  # it never got a newer token
        refused = await _stale_cas_refused(connection, stale)
        assert refused.err_code == 10071 and "wrong last sequence" in refused.description
        # The new holder keeps refreshing; the woken node keeps contending but does not get it.
        token = other.token
        assert token is not None
        await until(lambda: (other.token or 0) > token + 1 and other.held, timeout=10)
        assert await other.holder() == "node-b" and holder.tokens[-1] == stale
    finally:
        stop.set()
        await run


async def test_a_refresh_due_after_expiry_by_the_clock_is_not_sent(connection: ClusterConnection) -> None:
    now = [1000.0]
    lost: list[str] = []
    lease = Lease(connection.js, LEASE_BUCKET, LEASE, "node-a", ttl=TTL, clock=lambda: now[0], on_lost=lost.append)
    assert await lease.try_acquire() and lease.held
    token = lease.token
    assert token is not None
    now[0] += TTL / 2
    assert await lease.refresh() and lease.held and (lease.token or 0) > token  # within the TTL: refreshed
    token = lease.token
    now[0] += TTL + 0.5  # e.g. the process was stopped: no real waiting, the clock is ours
    assert not lease.held
    assert not await lease.refresh()
    assert lease.token is None and len(lost) == 1 and "expired 0.5 s before" in lost[0]
    message = await connection.js.get_last_msg(f"KV_{LEASE_BUCKET}", f"$KV.{LEASE_BUCKET}.chain.devnet-1")
    assert message.seq == token  # nothing was written after the lease ran out by our clock


async def test_a_refresh_whose_answer_was_lost_is_not_mistaken_for_a_takeover(cluster: NatsCluster) -> None:
    """The bucket's leader is paused while a refresh is on its way: the client times out, yet the
    leader stores the refresh when it wakes. Sent again, the refresh is deduplicated by its
    Nats-Msg-Id and the holder learns its token, instead of losing the lease to itself."""
    connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node="node-a"))
    try:
        await connection.ensure_kv(lease_bucket(3), LEASE_BUCKET_NEEDS)
        js = connection.js
        lost: list[str] = []
        lease = Lease(js, LEASE_BUCKET, LEASE, "node-a", ttl=6, on_lost=lost.append)  # answers awaited 2 s
        assert await lease.try_acquire()
        token = lease.token
        assert token is not None
        leader = await cluster.stream_leader(f"KV_{LEASE_BUCKET}")
        leader.pause()
        try:
            with pytest.raises(nats.errors.TimeoutError):
                await lease.refresh()
        finally:
            leader.resume()

        async def stored() -> bool:
            last = await js.get_last_msg(f"KV_{LEASE_BUCKET}", lease.subject)
            return (last.seq or 0) > token

        await until_async(stored, timeout=10)  # the woken leader stored the refresh nobody heard of
        assert await lease.refresh() and lease.held and lost == []
        assert lease.token is not None and lease.token > token
        assert await lease.refresh() and lost == []  # and it goes on refreshing from the right revision
    finally:
        await connection.close()


async def test_kill_9_of_the_bucket_leader_keeps_the_lease_with_its_holder(
    cluster: NatsCluster, connection: ClusterConnection
) -> None:
    """A JetStream leader election (4-9 s of stalled writes) is shorter than a production-size TTL:
    the holder keeps its lease through it, and nobody else ever holds it meanwhile."""
    a = Lease(connection.js, LEASE_BUCKET, LEASE, "node-a", ttl=12)
    stop = asyncio.Event()
    run = asyncio.create_task(a.run(stop))
    try:
        await until(lambda: a.held, timeout=10)
        leader = await cluster.stream_leader(f"KV_{LEASE_BUCKET}")
        before = a.token
        assert before is not None
        leader.kill()
        killed_at = time.monotonic()
        new_leader = await cluster.stream_leader(f"KV_{LEASE_BUCKET}", timeout=20)
        assert new_leader is not leader
        await until(lambda: (a.token or 0) > before, timeout=20)  # a refresh went through the new leader
        print(f"bucket leader killed: refreshes resumed after {time.monotonic() - killed_at:.1f} s")
        assert a.held and await a.holder() == "node-a"
        leader.start()  # the killed node comes back on its ports and its JetStream directory
        await cluster.wait_healthy()
    finally:
        stop.set()
        await run

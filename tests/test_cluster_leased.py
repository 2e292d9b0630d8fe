"""LeasedRunner on a real NATS server: work runs on one node at a time, and moves when it must."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET, LEASE_BUCKET_NEEDS, Lease, lease_bucket
from core.cluster.leased import LeasedRunner
from core.config import ClusterConfig
from tests.nats_cluster import NatsCluster
from tests.polling import until


class Clock:
    """A monotonic clock the test moves: a lease 'expires' without waiting out its TTL."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Job:
    """Work that records where it runs and how it ended."""

    def __init__(self, node: str, running: dict[str, int]) -> None:
        self.node = node
        self.running = running  # node -> token, while its work runs
        self.tokens: list[int] = []
        self.fail = False

    async def __call__(self, stop: asyncio.Event, token: int) -> None:
        self.tokens.append(token)
        self.running[self.node] = token
        try:
            if self.fail:
                raise RuntimeError("boom")
            await stop.wait()
        finally:
            del self.running[self.node]


@pytest.fixture
async def connection(one_nats: NatsCluster) -> AsyncIterator[ClusterConnection]:
    conn = await ClusterConnection.open(ClusterConfig(nats=one_nats.urls, node="tester", replicas=1))
    await conn.ensure_kv(lease_bucket(1), LEASE_BUCKET_NEEDS)
    yield conn
    await conn.close()


def _runner(connection: ClusterConnection, node: str, running: dict[str, int], **kwargs: object) -> LeasedRunner:
    clock = kwargs.pop("clock", None)
    lease = Lease(connection.js, LEASE_BUCKET, "jobs", node, ttl=2, **({"clock": clock} if clock else {}))
    return LeasedRunner(lease, Job(node, running), **kwargs)  # type: ignore[arg-type]


async def test_work_runs_on_one_node_and_moves_when_its_holder_stops(connection: ClusterConnection) -> None:
    running: dict[str, int] = {}
    a, b = _runner(connection, "a", running), _runner(connection, "b", running)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(a.run(stop_a)), asyncio.create_task(b.run(stop_b))]
    try:
        await until(lambda: len(running) == 1, timeout=10)
        first = next(iter(running))
        assert len(running) == 1 and (a.held if first == "a" else b.held)
        first_token = running[first]
        (stop_a if first == "a" else stop_b).set()  # the holder stops: releases at once
        second = "b" if first == "a" else "a"
        await until(lambda: list(running) == [second], timeout=10)
        # a new holder, a newer fencing token: a commit fenced with the first one is refused
        assert running[second] > first_token
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(*tasks)
    assert running == {}


async def test_a_holder_whose_clock_says_expired_stops_its_work_before_anyone_else_starts(
    connection: ClusterConnection,
) -> None:
    running: dict[str, int] = {}
    clock = Clock()
    a = _runner(connection, "a", running, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(a.run(stop))
    try:
        await until(lambda: "a" in running, timeout=10)
        clock.now += 60  # as after a SIGSTOP past the TTL: the next refresh is not even sent
        await until(lambda: "a" not in running, timeout=10)
        assert not a.held
        await until(lambda: "a" in running, timeout=10)  # free again (released): taken again
        job = a.work
        assert isinstance(job, Job) and len(job.tokens) == 2 and job.tokens[1] > job.tokens[0]
    finally:
        stop.set()
        await task


async def test_a_node_gives_back_a_lease_it_does_not_want(
    connection: ClusterConnection,
) -> None:
    running: dict[str, int] = {}
    want = {"a": True}
    a = _runner(connection, "a", running, wanted=lambda held: want["a"])
    b = _runner(connection, "b", running, wanted=lambda held: not want["a"] or held)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(a.run(stop)), asyncio.create_task(b.run(stop))]
    try:
        await until(lambda: list(running) == ["a"], timeout=10)
        want["a"] = False
        await until(lambda: list(running) == ["b"], timeout=10)
        assert not a.held and b.held
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert running == {}


async def test_work_that_crashes_gives_its_lease_back_to_another_node(connection: ClusterConnection) -> None:
    running: dict[str, int] = {}
    a = _runner(connection, "a", running)
    job_a = a.work
    assert isinstance(job_a, Job)
    job_a.fail = True
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(a.run(stop_a))
    await until(lambda: job_a.tokens != [], timeout=10)  # it ran, and crashed at once
    b = _runner(connection, "b", running)
    task_b = asyncio.create_task(b.run(stop_b))
    try:
        stop_a.set()
        await task_a
        await until(lambda: list(running) == ["b"], timeout=10)
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.gather(task_a, task_b)

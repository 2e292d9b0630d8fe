"""Scheduled jobs in cluster mode: the once-jobs run on the holder of the `jobs` lease only, move
when it dies, and the per-node jobs stay on every node.

Real APScheduler, real leases on a real 1-node NATS server, a RocksDB store per node. No waiting
for intervals: a test makes every job of a scheduler due now, as if its interval had passed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET_NEEDS, lease_bucket
from core.config import ClusterConfig, HistoryConfig
from core.store import RocksStore, open_store
from core.store.repositories import Repositories
from mempools.maintenance import ClusterJobs, Maintenance, build_node_scheduler, build_scheduler
from tests.contender import Contender
from tests.nats_cluster import NatsCluster
from tests.polling import until

TTL = 2


class Node(Contender):
    """One "mempools node": its NATS connection, store, once-jobs under the `jobs` lease."""

    def __init__(self, name: str, path: Path, connection: ClusterConnection) -> None:
        self.name = name
        self.store: RocksStore = open_store(path / "db")
        self.sweeps = 0
        self.maintenance = Maintenance(Repositories(self.store), HistoryConfig())
        self.jobs = ClusterJobs(self.maintenance, extra={"sweep_sessions": (self.sweep, 3600.0)})
        super().__init__(connection, "jobs", name, self.jobs, ttl=TTL, stop_deadline=5.0)
        self.start()

    async def sweep(self) -> None:
        self.sweeps += 1

    async def close(self) -> None:
        await super().close()
        self.store.close()


def make_due(scheduler: AsyncIOScheduler | None) -> None:
    """Every job of `scheduler` due now, as if its interval had passed (nothing without one)."""
    if scheduler is None:
        return
    for job in scheduler.get_jobs():
        job.modify(next_run_time=datetime.now(UTC))
    scheduler.wakeup()


@contextlib.asynccontextmanager
async def two_nodes(tmp_path: Path, one_nats: NatsCluster) -> AsyncIterator[list[Node]]:
    nodes: list[Node] = []
    try:
        for name in ("a", "b"):
            conn = await ClusterConnection.open(ClusterConfig(nats=one_nats.urls, node=name, replicas=1))
            await conn.ensure_kv(lease_bucket(1), LEASE_BUCKET_NEEDS)
            (tmp_path / name).mkdir()
            nodes.append(Node(name, tmp_path / name, conn))
        yield nodes
    finally:
        for node in nodes:
            await node.close()


def scheduling(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n.jobs.scheduler is not None]


async def test_the_once_jobs_run_on_one_node_and_move_when_it_dies(tmp_path: Path, one_nats: NatsCluster) -> None:
    async with two_nodes(tmp_path, one_nats) as nodes:
        await until(lambda: len(scheduling(nodes)) == 1, timeout=10)
        [holder] = scheduling(nodes)
        [other] = [n for n in nodes if n is not holder]
        for node in nodes:  # the interval passes on both nodes
            make_due(node.jobs.scheduler)
        await until(lambda: holder.sweeps == 1, timeout=5)
        assert other.sweeps == 0
        assert holder.jobs.scheduler is not None
        assert {j.id for j in holder.jobs.scheduler.get_jobs()} == {
            "prune_history",
            "expire_dead_letters",
            "sweep_sessions",
        }

        await holder.crash()
        await until(lambda: other.jobs.scheduler is not None, timeout=15)
        assert holder.jobs.scheduler is None  # shut down with its work
        for node in nodes:
            make_due(node.jobs.scheduler)
        await until(lambda: other.sweeps == 1, timeout=5)
        assert holder.sweeps == 1
        assert len(scheduling(nodes)) == 1


async def test_the_per_node_jobs_are_not_among_the_once_jobs(tmp_path: Path) -> None:
    store = open_store(tmp_path / "db")
    try:
        maintenance = Maintenance(Repositories(store), HistoryConfig())
        node = {j.id for j in build_node_scheduler(maintenance).get_jobs()}
        once = set(ClusterJobs(maintenance, extra={"sweep_sessions": (maintenance.probe_endpoints, 1.0)}).jobs)
        assert node == {"probe_endpoints"}
        assert once == {"prune_history", "expire_dead_letters", "sweep_sessions"}
        single = {
            j.id
            for j in build_scheduler(
                maintenance, extra={"sweep_sessions": (maintenance.probe_endpoints, 1.0)}
            ).get_jobs()
        }
        assert single == node | once  # one node runs both kinds, as before
    finally:
        store.close()

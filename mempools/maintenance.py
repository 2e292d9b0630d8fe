"""Scheduled upkeep: history retention, dead-letter expiry, RPC endpoint probes.

Each job is a plain method so it can be tested and run by hand; the schedulers are APScheduler 3
`AsyncIOScheduler`s in the process's one loop. Deletions go in bounded batches (each one
`store.commit`, so in cluster mode through the replicated change log) so a first run over a large
backlog never holds the loop for long.

The jobs come in two kinds, because in cluster mode they run on different sets of nodes:
- once cluster-wide (`once_jobs`): `prune_history`, `expire_dead_letters` and the `extra` jobs
  the runtime adds (`sweep_sessions`). They change shared data; two nodes running them would do
  the same deletions twice. `ClusterJobs` is their `LeasedWork` for the `jobs` lease: it starts
  their scheduler when the lease is acquired and shuts it down when it is lost.
- per node (`node_jobs`): `probe_endpoints`, since each node has its own endpoint pools;
  `build_node_scheduler` runs them on every node.
Single node: `build_scheduler` runs both kinds on one scheduler, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from core.chain.errors import RpcError
from core.config import HistoryConfig
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.timeutil import utcnow

log = logging.getLogger("mempools.maintenance")

BATCH = 1000


class Maintenance:
    def __init__(
        self,
        repos: Repositories,
        history: HistoryConfig,
        probes: Mapping[str, Callable[[], Awaitable[object]]] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repos = repos
        self.history = history
        self.probes = dict(probes or {})
        self.clock = clock

    async def prune_history(self) -> int:
        """Delete notifications (and their attempt records) older than the retention period."""
        cutoff = self.clock() - timedelta(days=self.history.retention_days)
        removed = 0
        while batch_items := self.repos.notifications.older_than(cutoff, BATCH):
            batch = WriteBatch()
            for notification in batch_items:
                self.repos.notifications.delete(notification.id, batch=batch)
                for attempt in self.repos.attempts.of_notification(notification.id):
                    self.repos.attempts.delete(
                        attempt.notification_id, attempt.destination_id, attempt.attempt, batch=batch
                    )
            await self.repos.store.commit(batch)
            removed += len(batch_items)
            await asyncio.sleep(0)  # let deliveries and API requests through between batches
        if removed:
            log.info("retention: removed %d notifications older than %s", removed, cutoff.date())
        return removed

    async def expire_dead_letters(self) -> int:
        cutoff = self.clock() - timedelta(days=self.history.dead_letter_days)
        removed = 0
        while batch_items := self.repos.dead_letters.older_than(cutoff, BATCH):
            batch = WriteBatch()
            for dead in batch_items:
                self.repos.dead_letters.delete(dead.notification_id, dead.destination_id, batch=batch)
            await self.repos.store.commit(batch)
            removed += len(batch_items)
            await asyncio.sleep(0)
        if removed:
            log.info("retention: removed %d dead letters older than %s", removed, cutoff.date())
        return removed

    async def probe_endpoints(self) -> None:
        """Ask every chain's endpoints for /status, so health ranks stay fresh between blocks."""
        for chain_id, probe in self.probes.items():
            try:
                await probe()
            except RpcError as exc:
                log.debug("probe of %s failed: %s", chain_id, exc)


#: A scheduled job: (the coroutine function, its interval in seconds), by name.
Jobs = Mapping[str, tuple[Callable[[], Awaitable[object]], float]]


def once_jobs(
    maintenance: Maintenance, extra: Jobs | None = None
) -> dict[str, tuple[Callable[[], Awaitable[object]], float]]:
    """The jobs that must run once cluster-wide; `extra` adds more of that kind (session sweep)."""
    return {
        "prune_history": (maintenance.prune_history, 3600.0),
        "expire_dead_letters": (maintenance.expire_dead_letters, 3600.0),
        **(extra or {}),
    }


def node_jobs(maintenance: Maintenance) -> dict[str, tuple[Callable[[], Awaitable[object]], float]]:
    """The jobs every node runs for itself (its own endpoint pools)."""
    return {"probe_endpoints": (maintenance.probe_endpoints, 60.0)}


def scheduler_of(jobs: Jobs) -> AsyncIOScheduler:
    """A scheduler (not started) with `jobs`, each first due after its interval (at most 30 s)."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    for name, (job, seconds) in jobs.items():
        scheduler.add_job(
            job,
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            coalesce=True,
            max_instances=1,
            next_run_time=utcnow() + timedelta(seconds=min(30.0, seconds)),
        )
    return scheduler


def build_scheduler(maintenance: Maintenance, extra: Jobs | None = None) -> AsyncIOScheduler:
    """Single node: every job, on the running loop. `extra` adds (job, interval seconds) pairs by name."""
    return scheduler_of({**once_jobs(maintenance), **node_jobs(maintenance), **(extra or {})})


def build_node_scheduler(maintenance: Maintenance) -> AsyncIOScheduler:
    """Cluster mode, every node: the per-node jobs only (the once-jobs run under `ClusterJobs`)."""
    return scheduler_of(node_jobs(maintenance))


class ClusterJobs:
    """The once-jobs as `LeasedWork` for the `jobs` lease: `LeasedRunner(lease, ClusterJobs(...))`.

    Called with the work's `stop` event when the lease is acquired: starts a fresh scheduler of
    the once-jobs, and shuts it down (a job in progress is left to finish) when `stop` is set
    because the lease was lost or the node stops. A job that overlaps a lease move by a few
    seconds is harmless: they are idempotent deletions of expired data."""

    def __init__(self, maintenance: Maintenance, extra: Jobs | None = None) -> None:
        self.jobs = once_jobs(maintenance, extra)
        #: The running scheduler while this node holds the lease, else None (tests, status).
        self.scheduler: AsyncIOScheduler | None = None

    async def __call__(self, stop: asyncio.Event, token: int) -> None:
        scheduler = scheduler_of(self.jobs)
        scheduler.start()
        self.scheduler = scheduler
        log.info("scheduled jobs run on this node now: %s", ", ".join(self.jobs))
        try:
            await stop.wait()
        finally:
            self.scheduler = None
            scheduler.shutdown(wait=False)

"""Scheduled upkeep: history retention, dead-letter expiry, RPC endpoint probes.

Each job is a plain method so it can be tested and run by hand; `build_scheduler` puts them on an
APScheduler 3 `AsyncIOScheduler` in the process's one loop. Deletions go in bounded batches so a
first run over a large backlog never holds the loop for long.
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


def build_scheduler(
    maintenance: Maintenance, extra: Mapping[str, tuple[Callable[[], Awaitable[object]], float]] | None = None
) -> AsyncIOScheduler:
    """The jobs, on the running loop. `extra` adds (job, interval seconds) pairs by name."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    jobs: dict[str, tuple[Callable[[], Awaitable[object]], float]] = {
        "prune_history": (maintenance.prune_history, 3600.0),
        "expire_dead_letters": (maintenance.expire_dead_letters, 3600.0),
        "probe_endpoints": (maintenance.probe_endpoints, 60.0),
        **(extra or {}),
    }
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

"""Scheduled upkeep: retention of history and dead letters, and the scheduler running in the loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from core.config import HistoryConfig
from core.models import DeadLetter, DeliveryAttempt
from core.store import WriteBatch, open_store
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from mempools.maintenance import Maintenance, build_scheduler
from tests.seeding import put_now
from tests.test_repositories import _notification


async def test_retention_removes_only_old_history_with_its_attempts(tmp_path: Path) -> None:
    store = open_store(tmp_path / "db")
    try:
        repos = Repositories(store)
        now = utcnow()
        batch = WriteBatch()
        old, fresh = [], []
        for n in range(1, 2501):
            notification = _notification("acc_a", n)
            notification.time = now - timedelta(days=100 if n <= 2400 else 1)
            (old if n <= 2400 else fresh).append(notification.id)
            repos.notifications.add(notification, batch)
            repos.attempts.put(
                DeliveryAttempt(
                    notification_id=notification.id, destination_id="dst_1", attempt=1, at=now, outcome="delivered"
                ),
                batch,
            )
        store.write(batch)
        for n in range(3):
            put_now(
                repos.dead_letters,
                DeadLetter(
                    notification_id=f"ntf_{n}",
                    destination_id="dst_1",
                    owner_id="acc_a",
                    attempts=8,
                    last_error="x",
                    dead_at=now - timedelta(days=40 if n < 2 else 1),
                ),
            )
        jobs = Maintenance(repos, HistoryConfig(retention_days=90, dead_letter_days=30), clock=lambda: now)
        assert await jobs.prune_history() == 2400
        assert {n.id for n in repos.notifications.scan()} == set(fresh)
        assert all(repos.attempts.of_notification(i) == [] for i in old[:50])
        assert len(repos.attempts.of_notification(fresh[0])) == 1
        page = repos.notifications.page_of_owner("acc_a", limit=1000)
        assert {n.id for n in page.items} == set(fresh)  # no dangling index entries
        assert await jobs.expire_dead_letters() == 2
        assert [d.notification_id for d in repos.dead_letters.scan()] == ["ntf_2"]
        assert await jobs.prune_history() == 0
    finally:
        store.close()


async def test_scheduler_runs_jobs_in_the_loop(tmp_path: Path) -> None:
    store = open_store(tmp_path / "db")
    ran = asyncio.Event()

    async def tick() -> None:
        ran.set()

    try:
        jobs = Maintenance(Repositories(store), HistoryConfig())
        scheduler = build_scheduler(jobs, extra={"tick": (tick, 0.05)})
        scheduler.start()
        try:
            await asyncio.wait_for(ran.wait(), 5)
        finally:
            scheduler.shutdown(wait=False)
        assert {j.id for j in scheduler.get_jobs()} >= {"prune_history", "expire_dead_letters", "probe_endpoints"}
    finally:
        store.close()

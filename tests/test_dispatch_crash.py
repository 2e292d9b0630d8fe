"""Crash test: a real dispatcher process over a real RocksDB store, SIGKILLed 20 times at random
moments and restarted on the same data directory. Every notification must arrive at least once;
every duplicate must carry the same webhook-id and the same body; every signature must verify."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import defaultdict
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from core.dispatch.outbox import Outbox
from core.store import WriteBatch, open_store
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from tests.fakes.records import entry_for, make_notification, webhook_destination
from tests.fakes.webhook_receiver import Reply, WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent
NOTIFICATIONS = 1000
KILLS = 20


def _seed(path: Path, receiver: WebhookReceiver) -> tuple[dict[str, str], set[str]]:
    store = open_store(path)
    try:
        repos, outbox = Repositories(store), Outbox(store)
        secrets: dict[str, str] = {}
        for i in range(4):
            hook = webhook_destination(f"dst_{i}", "acc_a", receiver.url(f"/hook/{i}"))
            repos.destinations.put(hook)
            secrets[f"/hook/{i}"] = hook.secret
        ids: set[str] = set()
        batch = WriteBatch()
        now = utcnow()
        for n in range(NOTIFICATIONS):
            notification = make_notification("acc_a", (f"dst_{n % 4}",), height=1000 + n, created_at=now)
            repos.notifications.add(notification, batch)
            outbox.enqueue([entry_for(notification, f"dst_{n % 4}", now)], batch)
            ids.add(notification.id)
        store.write(batch)
        return secrets, ids
    finally:
        store.close()


async def _start(path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.dispatch_runner", str(path), "16",
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def test_sigkill_twenty_times_loses_nothing(tmp_path: Path) -> None:
    rng = random.Random(5)
    async with WebhookReceiver(default=Reply(status=200, delay=0.05)) as receiver:
        data = tmp_path / "db"
        secrets, ids = _seed(data, receiver)
        kills = 0
        for _ in range(KILLS):
            process = await _start(data)
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 15)
            if line.strip() == b"ready":
                await asyncio.sleep(rng.uniform(0.0, 0.12))
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            await process.wait()
        assert kills == KILLS
        killed_at = len(receiver.received)
        process = await _start(data)
        output, _ = await asyncio.wait_for(process.communicate(), 40)
        assert process.returncode == 0, output.decode()

    assert 0 < killed_at < len(receiver.received)  # the kills landed mid-delivery
    by_id: dict[str, list] = defaultdict(list)
    for got in receiver.received:
        Webhook(secrets[got.path]).verify(got.body, got.headers)  # raises if a signature is wrong
        by_id[got.headers["webhook-id"]].append(got)
    assert set(by_id) == ids  # nothing lost, nothing invented
    for deliveries in by_id.values():
        assert len({d.body for d in deliveries}) == 1  # a duplicate is byte-identical
    store = open_store(data)
    try:
        assert Outbox(store).depth() == 0
    finally:
        store.close()

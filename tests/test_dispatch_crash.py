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

from core.chain.decoder import BlockDecoder
from core.dispatch.outbox import Outbox
from core.store import WriteBatch, open_store
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from tests.fakes.records import FakeClock, entry_for, make_notification, telegram_destination, webhook_destination
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.polling import until
from tests.seeding import put_now
from tests.test_dispatch_bundle import ALICES, CHAT, TREASURY, Rig, subscription, transfer_block

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
            put_now(repos.destinations, hook)
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


async def _start(path: Path, *telegram_api: str) -> asyncio.subprocess.Process:
    """The dispatcher runner on `path`; with (Bot API base URL, token), it delivers to Telegram too."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.dispatch_runner", str(path), "16", *telegram_api,
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


async def test_sigkill_between_claim_and_delivery_redelivers_the_bundle_once(
    tmp_path: Path, api: FakeTelegramApi
) -> None:
    """A block's 3 txs matching 2 subscriptions go to one chat as one bundle. The dispatcher is
    killed while its sendMessage is held at Telegram (claimed, not delivered): the restarted one
    delivers the whole bundle as ONE message, and each of the 6 notifications has its record."""
    data = tmp_path / "db"
    store = open_store(data)
    try:
        rig = Rig(store, {}, FakeClock(utcnow()))
        put_now(rig.repos.destinations, telegram_destination("dst_tg", "acc_a", CHAT))
        rig.subscribe(*(subscription(*s, ["dst_tg"]) for s in (ALICES, TREASURY)))
        await rig.processor.process(BlockDecoder().decode(*transfer_block(3)))
        [entry] = list(rig.outbox.entries.scan())
    finally:
        store.close()
    ids = (entry.notification_id, *entry.bundle)
    assert len(ids) == 6

    api.hold_sends = asyncio.Event()  # never set: the first run's request never completes
    process = await _start(data, api.base_url, api.token)
    await until(lambda: any(method == "sendMessage" for method, _ in api.calls), timeout=15)
    process.send_signal(signal.SIGKILL)
    await process.wait()
    assert api.sent == []

    api.hold_sends = None
    process = await _start(data, api.base_url, api.token)
    output, _ = await asyncio.wait_for(process.communicate(), 40)
    assert process.returncode == 0, output.decode()

    [sent] = api.sent  # the bundle again, once, as one message
    assert sent.chat_id == CHAT
    assert sent.text.split("\n")[:2] == ["<b>3 transfers, 4.5 ATOM in all</b>", "<i>Alice&#x27;s wallet · Treasury</i>"]
    store = open_store(data)
    try:
        repos = Repositories(store)
        for notification_id in ids:
            assert [a.outcome for a in repos.attempts.of_notification(notification_id)] == ["delivered"]
        assert Outbox(store).depth() == 0
    finally:
        store.close()

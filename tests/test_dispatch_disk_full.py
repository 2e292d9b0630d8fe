"""The dispatcher on a full disk: it waits instead of delivering what it could not record.

A delivery whose attempt cannot be written would be made again after the store recovers (at
least once), and again at every restart of the stalled dispatcher meanwhile: endpoints would get
the same notification over and over for as long as the disk is full. So while the store refuses
writes, nothing is claimed; once space is back, every entry is delivered once and recorded.
Real RocksDB on a real small tmpfs (tests/tmpfs.py), real HTTP on loopback.
"""

from __future__ import annotations

from pathlib import Path

from core.dispatch.dispatcher import Dispatcher
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.webhook import WebhookChannel
from core.store import RocksStore, WriteBatch
from core.store.repositories import Repositories
from tests.fakes.records import COSMOS, entry_for, make_notification, webhook_destination
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.polling import until
from tests.seeding import put_now
from tests.tmpfs import fill_until_refused, small_tmpfs


async def test_nothing_is_delivered_while_the_store_refuses_writes_and_all_once_it_accepts_them(
    tmp_path: Path,
) -> None:
    with small_tmpfs(tmp_path / "disk", 8) as disk:
        store = RocksStore(disk / "db", reopen_interval=0.05)
        async with WebhookReceiver() as receiver:
            client = HttpClient(allow_private_networks=True)
            try:
                repos, outbox = Repositories(store), Outbox(store)
                put_now(repos.destinations, webhook_destination("dst_1", "acc_1", receiver.url()))
                notifications = [make_notification("acc_1", ("dst_1",), index=i) for i in range(5)]
                batch = WriteBatch()
                for n in notifications:
                    repos.notifications.add(n, batch)
                    outbox.enqueue([entry_for(n, "dst_1", n.created_at)], batch)
                store.write(batch)
                dispatcher = Dispatcher(outbox, repos, {"webhook": WebhookChannel(client)}, {COSMOS.id: COSMOS}.get)

                ballast = fill_until_refused(disk, store)
                assert not store.accepts_writes()
                assert await dispatcher.pump() == 0  # nothing claimed, nothing sent
                assert receiver.received == []
                assert outbox.size() == 5

                ballast.unlink()
                await until(store.accepts_writes, timeout=20)  # the store reopens by itself
                assert await dispatcher.pump() == 5
                assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(n.id for n in notifications)
                assert outbox.size() == 0
                for n in notifications:
                    outcomes = [a.outcome for a in repos.attempts.of_notification(n.id)]
                    assert outcomes == ["delivered"]
            finally:
                await client.close()
                store.close()

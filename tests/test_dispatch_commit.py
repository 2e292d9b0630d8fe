"""The dispatcher records its flushes with `await store.commit(batch)`; a commit in flight (in
cluster mode a round trip through the replicated log) does not stall claiming and sending."""

from __future__ import annotations

import asyncio
from pathlib import Path

from core.dispatch.dispatcher import STALLED_COMMIT_S, Dispatcher, DispatchLimits
from core.dispatch.outbox import Outbox
from core.store import WriteBatch
from core.store.repositories import Repositories
from core.store.rocks import RocksStore
from tests.fakes.records import COSMOS, FakeClock, entry_for, make_notification, webhook_destination
from tests.polling import until
from tests.test_dispatch_dispatcher import SlowChannel


class GatedStore(RocksStore):
    """A real RocksDB store whose commits wait at a gate first: a slow commit, held open."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0  # commits held at the gate now
        self.commits: list[int] = []  # operations of each commit applied, in order

    async def commit(self, batch: WriteBatch) -> None:
        self.waiting += 1
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        await super().commit(batch)
        self.commits.append(len(batch))


async def test_deliveries_go_on_while_a_flush_commits_and_gather_for_the_next(tmp_path: Path) -> None:
    store = GatedStore(tmp_path / "db")
    repos, outbox = Repositories(store), Outbox(store)
    notifications = [make_notification("acc_a", (f"dst_{i}",), height=i) for i in range(20)]
    batch = WriteBatch()
    for i, notification in enumerate(notifications):
        repos.destinations.put(webhook_destination(f"dst_{i}", "acc_a", "http://127.0.0.1/x"), batch)
        repos.notifications.add(notification, batch)
        outbox.enqueue([entry_for(notification, f"dst_{i}")], batch)
    store.write(batch)
    channel = SlowChannel(0.0)
    dispatcher = Dispatcher(
        outbox, repos, {"webhook": channel}, {COSMOS.id: COSMOS}.get, limits=DispatchLimits(workers=2)
    )
    store.gate.clear()
    pumping = asyncio.create_task(dispatcher.pump())
    # Every delivery is made while the first flush's commit is held: nothing waits for it.
    await until(lambda: channel.done == 20 and store.waiting == 1)
    assert store.commits == [] and outbox.depth() == 20
    store.gate.set()
    assert await asyncio.wait_for(pumping, 5) == 20
    assert outbox.depth() == 0 and dispatcher.delivered == 20
    # The first flush, then one with everything that finished while it committed.
    assert len(store.commits) == 2 and sum(store.commits) == 2 * 20  # an attempt and a removal each
    store.close()


async def test_a_commit_stalled_past_a_second_stops_new_sends_until_it_returns(tmp_path: Path) -> None:
    """In a cluster a commit can hang for the seconds of a NATS leader election: what is sent
    meanwhile could not be recorded (and may be sent again if the partition moves), so after
    `STALLED_COMMIT_S` the dispatcher sends nothing new; once the commit returns it goes on."""
    store = GatedStore(tmp_path / "db")
    clock = FakeClock()
    repos, outbox = Repositories(store), Outbox(store, clock=clock)
    notifications = [make_notification("acc_a", (f"dst_{i}",), height=i) for i in range(20)]
    batch = WriteBatch()
    for i, notification in enumerate(notifications):
        repos.destinations.put(webhook_destination(f"dst_{i}", "acc_a", "http://127.0.0.1/x"), batch)
        repos.notifications.add(notification, batch)
        outbox.enqueue([entry_for(notification, f"dst_{i}", clock())], batch)
    store.write(batch)
    channel = SlowChannel(0.05)
    dispatcher = Dispatcher(
        outbox, repos, {"webhook": channel}, {COSMOS.id: COSMOS}.get, limits=DispatchLimits(workers=2), clock=clock
    )
    store.gate.clear()
    pumping = asyncio.create_task(dispatcher.pump())
    await until(lambda: store.waiting == 1)  # the first flush is committing, held
    clock.advance(STALLED_COMMIT_S + 0.1)  # ... for longer than a commit should take
    sent = len(channel.started_at)
    await until(lambda: channel.done == sent and not dispatcher._workers)  # what was on the wire finished
    assert len(channel.started_at) == sent < 20  # and no worker is left to send more
    store.gate.set()  # the log takes writes again
    assert await asyncio.wait_for(pumping, 10) == 20
    assert dispatcher.delivered == 20 and outbox.depth() == 0
    store.close()

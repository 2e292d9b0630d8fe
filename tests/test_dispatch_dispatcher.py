"""The dispatcher over a real RocksDB store: delivery, the retry schedule (on an injected clock),
Retry-After, dead letters and redelivery, skipped and disabled destinations, concurrency, drain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from standardwebhooks.webhooks import Webhook

from core.dispatch.channel import DeliveryResult
from core.dispatch.dispatcher import RETRY_DELAYS, Dispatcher, DispatchLimits, DispatchStalledError
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.render import Rendered, render
from core.dispatch.webhook import WebhookChannel
from core.errors import NotFoundError, StoreError, ValidationError
from core.models import Chain, Destination, Notification
from core.services.deliveries import DeliveryService
from core.store import WriteBatch, open_store
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from tests.fakes.records import (
    COSMOS,
    T0,
    FakeClock,
    entry_for,
    make_notification,
    telegram_destination,
    webhook_destination,
)
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.polling import until
from tests.seeding import delete_now, put_now


class World:
    def __init__(self, path: Path, clock: FakeClock) -> None:
        self.store = open_store(path)
        self.repos = Repositories(self.store)
        self.outbox = Outbox(self.store, clock=clock)
        self.clock = clock
        self.service = DeliveryService(self.repos, self.outbox, clock=clock)

    def add(self, *destinations: Destination) -> None:
        for destination in destinations:
            put_now(self.repos.destinations, destination)

    def seed(self, *notifications: Notification, hand_over: bool = False) -> None:
        """Store notifications and their outbox entries; `hand_over` as the watcher does (the
        outbox keeps the notification, so the dispatcher does not read it back)."""
        batch = WriteBatch()
        for notification in notifications:
            self.repos.notifications.add(notification, batch)
            entries = [entry_for(notification, d, self.clock()) for d in notification.destination_ids]
            self.outbox.enqueue(entries, batch, notification=notification if hand_over else None)
        self.store.write(batch)
        self.outbox.notify()

    def dispatcher(self, channels: dict, **limits: object) -> Dispatcher:
        return Dispatcher(
            self.outbox,
            self.repos,
            channels,
            {COSMOS.id: COSMOS}.get,
            clock=self.clock,
            limits=DispatchLimits(**limits),  # type: ignore[arg-type]
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utcnow())  # real "now" so the reference verifier accepts the timestamps


@pytest.fixture
def world(tmp_path: Path, clock: FakeClock):
    w = World(tmp_path / "db", clock)
    yield w
    w.store.close()


@pytest.fixture
async def receiver():
    async with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def webhook_channel(clock: FakeClock):
    channel = WebhookChannel(HttpClient(allow_private_networks=True), clock=clock)
    yield channel
    await channel.client.close()


async def test_delivers_records_and_removes(world: World, receiver: WebhookReceiver, webhook_channel) -> None:
    hook = webhook_destination("dst_1", "acc_a", receiver.url())
    world.add(hook)
    notifications = [make_notification("acc_a", ("dst_1",), height=h) for h in (1, 2, 3)]
    world.seed(*notifications)
    dispatcher = world.dispatcher({"webhook": webhook_channel})
    assert await dispatcher.pump() == 3
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(n.id for n in notifications)
    for got in receiver.received:
        Webhook(hook.secret).verify(got.body, got.headers)
    assert world.outbox.depth() == 0
    attempts = world.repos.attempts.of_notification(notifications[0].id)
    assert len(attempts) == 1
    assert attempts[0].outcome == "delivered" and attempts[0].http_status == 200 and attempts[0].latency_ms
    assert await dispatcher.pump() == 0


async def test_retry_schedule_then_dead_letter_then_redeliver(
    world: World, receiver: WebhookReceiver, webhook_channel, clock: FakeClock
) -> None:
    receiver.default = Reply(status=500, body=b"down")
    hook = webhook_destination("dst_1", "acc_a", receiver.url())
    world.add(hook)
    notification = make_notification("acc_a", ("dst_1",))
    world.seed(notification)
    dispatcher = world.dispatcher({"webhook": webhook_channel})
    start = clock()
    assert await dispatcher.pump() == 1  # attempt 1, immediately
    elapsed = 0.0
    for n, delay in enumerate(RETRY_DELAYS, start=2):
        entry = world.outbox.get(notification.id, "dst_1")
        assert entry is not None and entry.attempts == n - 1
        assert entry.due_at == start + timedelta(seconds=elapsed + delay)
        assert entry.last_error == "HTTP 500: down"
        clock.advance(delay - 1)
        assert await dispatcher.pump() == 0  # not yet due: nothing is sent early
        clock.advance(1)
        assert await dispatcher.pump() == 1
        elapsed += delay
    assert len(receiver.received) == 8
    assert world.outbox.get(notification.id, "dst_1") is None
    outcomes = [a.outcome for a in world.repos.attempts.of_notification(notification.id)]
    assert outcomes == ["failed"] * 7 + ["dead_letter"]
    dead = world.repos.dead_letters.page_of_owner("acc_a", limit=50).items
    assert [(d.notification_id, d.attempts, d.last_error) for d in dead] == [(notification.id, 8, "HTTP 500: down")]
    assert world.repos.dead_letters.page_of_owner("acc_b", limit=50).items == []

    # Only the owner can redeliver; then it goes out again with the same id and body.
    with pytest.raises(NotFoundError):
        await world.service.redeliver("acc_b", notification.id)
    with pytest.raises(NotFoundError):
        await world.service.redeliver("acc_a", notification.id, "dst_someone_elses")
    receiver.default = Reply(status=204)
    entries = await world.service.redeliver("acc_a", notification.id)
    assert [e.destination_id for e in entries] == ["dst_1"] and world.repos.dead_letters.page_of_owner(
        "acc_a", limit=50
    ).items == []
    assert await dispatcher.pump() == 1
    first, last = receiver.received[0], receiver.received[-1]
    assert last.headers["webhook-id"] == first.headers["webhook-id"] == notification.id
    assert last.body == first.body
    attempts = world.repos.attempts.of_notification(notification.id)
    assert [a.attempt for a in attempts] == list(range(1, 10))  # the redelivery continued the log
    assert attempts[-1].outcome == "delivered"
    assert world.repos.destinations.get("dst_1").failing_since is None  # type: ignore[union-attr]


async def test_retry_after_postpones_the_next_attempt(
    world: World, receiver: WebhookReceiver, webhook_channel, clock: FakeClock
) -> None:
    receiver.script(Reply(status=429, headers={"Retry-After": "600"}))
    world.add(webhook_destination("dst_1", "acc_a", receiver.url()))
    notification = make_notification("acc_a", ("dst_1",))
    world.seed(notification)
    dispatcher = world.dispatcher({"webhook": webhook_channel})
    start = clock()
    await dispatcher.pump()
    entry = world.outbox.get(notification.id, "dst_1")
    assert entry is not None and entry.due_at == start + timedelta(seconds=600)
    attempt = world.repos.attempts.of_notification(notification.id)[0]
    assert attempt.outcome == "failed" and attempt.http_status == 429


async def test_disabled_and_deleted_destinations_are_skipped(
    world: World, receiver: WebhookReceiver, webhook_channel
) -> None:
    hook = webhook_destination("dst_1", "acc_a", receiver.url())
    world.add(msgspec.structs.replace(hook, enabled=False, disabled_reason="paused by owner"))
    notification = make_notification("acc_a", ("dst_1", "dst_gone"))
    world.seed(notification)
    await world.dispatcher({"webhook": webhook_channel}).pump()
    assert receiver.received == [] and world.outbox.depth() == 0
    attempts = {a.destination_id: a for a in world.repos.attempts.of_notification(notification.id)}
    assert attempts["dst_1"].outcome == "skipped" and "paused by owner" in (attempts["dst_1"].error or "")
    assert attempts["dst_gone"].outcome == "skipped" and "deleted" in (attempts["dst_gone"].error or "")
    with pytest.raises(ValidationError, match="disabled"):
        await world.service.redeliver("acc_a", notification.id, "dst_1")


async def test_permanent_failure_disables_and_tells_the_owner_elsewhere(
    world: World, receiver: WebhookReceiver, webhook_channel
) -> None:
    broken = webhook_destination("dst_1", "acc_a", receiver.url("/broken"))
    other = webhook_destination("dst_2", "acc_a", receiver.url("/other"))
    world.add(broken, other)
    receiver.script(Reply(status=410, body=b"gone"))
    notification = make_notification("acc_a", ("dst_1",))
    world.seed(notification)
    await world.dispatcher({"webhook": webhook_channel}).pump()
    disabled = world.repos.destinations.get("dst_1")
    assert disabled is not None and not disabled.enabled and "410" in (disabled.disabled_reason or "")
    assert [a.outcome for a in world.repos.attempts.of_notification(notification.id)] == ["dead_letter"]
    notice = receiver.received[-1]
    assert notice.path == "/other"
    payload = Webhook(other.secret).verify(notice.body, notice.headers)
    assert payload["type"] == "system.notice"
    assert 'destination "hook dst_1" was disabled' in payload["data"]["summary"]
    history = world.repos.notifications.page_of_owner("acc_a", limit=10).items
    assert any(n.subscription_id == "system" for n in history)


async def test_five_days_of_failures_disable_the_destination(
    world: World, receiver: WebhookReceiver, webhook_channel, clock: FakeClock
) -> None:
    receiver.default = Reply(status=503)
    failing = webhook_destination("dst_1", "acc_a", receiver.url("/failing"))
    world.add(msgspec.structs.replace(failing, failing_since=clock() - timedelta(days=4, hours=23)))
    chat = telegram_destination("dst_tg", "acc_a", 42)
    world.add(chat)

    class Chats:
        kind = "telegram"
        sent: list[Rendered] = []

        async def deliver(self, notification: Notification, destination: Destination, chain: Chain | None):
            self.sent.append(render(notification, chain))
            return DeliveryResult(ok=True, status=200)

    chats = Chats()
    dispatcher = world.dispatcher({"webhook": webhook_channel, "telegram": chats})
    world.seed(make_notification("acc_a", ("dst_1",), height=1))
    await dispatcher.pump()
    assert world.repos.destinations.get("dst_1").enabled  # type: ignore[union-attr]  # 4 d 23 h: not yet
    clock.advance(3600)
    await dispatcher.pump()  # the retry fails, now 5 days after the first failure
    disabled = world.repos.destinations.get("dst_1")
    assert disabled is not None and not disabled.enabled
    assert "kept failing since" in (disabled.disabled_reason or "")
    assert len(chats.sent) == 1 and chats.sent[0].system
    assert 'webhook destination "hook dst_1" was disabled' in chats.sent[0].headline


async def test_success_clears_failing_since(world: World, receiver: WebhookReceiver, webhook_channel) -> None:
    hook = webhook_destination("dst_1", "acc_a", receiver.url())
    world.add(msgspec.structs.replace(hook, failing_since=T0))
    world.seed(make_notification("acc_a", ("dst_1",)))
    await world.dispatcher({"webhook": webhook_channel}).pump()
    assert world.repos.destinations.get("dst_1").failing_since is None  # type: ignore[union-attr]


class SlowChannel:
    kind = "webhook"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.peak_total = 0
        self.done = 0
        self.started_at: list = []  # utcnow() as each delivery began

    async def deliver(self, notification: Notification, destination: Destination, chain: Chain | None):
        self.started_at.append(utcnow())
        self.running[destination.id] = self.running.get(destination.id, 0) + 1
        self.peak[destination.id] = max(self.peak.get(destination.id, 0), self.running[destination.id])
        self.peak_total = max(self.peak_total, sum(self.running.values()))
        try:
            await asyncio.sleep(self.seconds)
        finally:
            self.running[destination.id] -= 1
        self.done += 1
        return DeliveryResult(ok=True, status=200)


async def test_concurrency_is_capped_per_destination_and_overall(world: World) -> None:
    world.add(*(webhook_destination(f"dst_{i}", "acc_a", "http://127.0.0.1/x") for i in range(4)))
    world.seed(*(make_notification("acc_a", (f"dst_{i % 4}",), height=i) for i in range(40)))
    channel = SlowChannel(0.02)
    await world.dispatcher({"webhook": channel}, workers=6, per_destination=2).pump()
    assert channel.done == 40 and world.outbox.depth() == 0
    assert max(channel.peak.values()) == 2 and channel.peak_total == 6


async def test_run_wakes_on_notify_and_on_due_time_then_drains(tmp_path: Path) -> None:
    """run() sleeps on the outbox for real (the loop's timers), so this test keeps the real clock;
    it waits on conditions, and the idle wait is far longer than the test so that only a notify
    or the due time can wake the dispatcher."""
    world = World(tmp_path / "db", FakeClock())
    world.clock = utcnow  # type: ignore[assignment]  # real time: run() sleeps for real
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1/x"))
    channel = SlowChannel(0.0)
    dispatcher = Dispatcher(
        world.outbox, world.repos, {"webhook": channel}, {}.get, limits=DispatchLimits(idle_wait=600.0)
    )
    claims = _count_claims(world.outbox)
    stop = asyncio.Event()
    runner = asyncio.create_task(dispatcher.run(stop, drain_deadline_s=0.2))
    await until(lambda: claims() >= 1)  # it looked, found nothing, and sleeps for the idle wait
    notification = make_notification("acc_a", ("dst_1",), height=1)
    batch = WriteBatch()
    world.repos.notifications.add(notification, batch)
    world.outbox.enqueue([entry_for(notification, "dst_1", utcnow())], batch)
    world.store.write(batch)
    world.outbox.notify()
    await until(lambda: channel.done == 1)
    later = make_notification("acc_a", ("dst_1",), height=2)
    due_at = utcnow() + timedelta(seconds=0.3)
    due_at = due_at.replace(microsecond=due_at.microsecond // 1000 * 1000)  # the outbox keeps milliseconds
    batch = WriteBatch()
    world.repos.notifications.add(later, batch)
    world.outbox.enqueue([entry_for(later, "dst_1", due_at)], batch)
    world.store.write(batch)  # no notify: the dispatcher must wake at the due time by itself
    world.outbox.notify()  # (re-plans its sleep)
    await until(lambda: channel.done == 2)
    assert channel.started_at[1] >= due_at  # not before it was due
    # Drain: a delivery slower than the deadline is cancelled and stays in the outbox.
    channel.seconds = 5
    world.seed(make_notification("acc_a", ("dst_1",), height=3))
    await until(lambda: channel.running["dst_1"] == 1)
    stop.set()
    await asyncio.wait_for(runner, 2)
    assert world.outbox.depth() == 1
    world.store.close()


async def test_drain_lets_inflight_deliveries_finish(world: World) -> None:
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1/x"))
    world.seed(*(make_notification("acc_a", ("dst_1",), height=i) for i in range(3)))
    channel = SlowChannel(0.2)
    dispatcher = world.dispatcher({"webhook": channel})
    dispatcher.fill()
    await dispatcher.drain(2.0)
    assert channel.done == 3 and world.outbox.depth() == 0
    assert dispatcher.fill() == 0  # draining: takes no new work


async def test_handed_over_and_stored_notifications_are_delivered_alike(
    world: World, receiver: WebhookReceiver, webhook_channel
) -> None:
    """The watcher hands its notifications to the outbox; after a restart they are read back."""
    world.add(webhook_destination("dst_1", "acc_a", receiver.url()))
    handed = make_notification("acc_a", ("dst_1",), height=1)
    stored = make_notification("acc_a", ("dst_1",), height=2)
    world.seed(handed, hand_over=True)
    world.seed(stored)
    assert await world.dispatcher({"webhook": webhook_channel}).pump() == 2
    restarted = Outbox(world.store)  # as after a restart: it knows only the records, now none
    assert await Dispatcher(restarted, world.repos, {"webhook": webhook_channel}, {}.get).pump() == 0
    bodies = {r.headers["webhook-id"]: msgspec.json.decode(r.body) for r in receiver.received}
    assert bodies.keys() == {handed.id, stored.id}
    assert bodies[handed.id]["data"]["height"] == 1 and bodies[stored.id]["data"]["height"] == 2


async def test_an_unwritten_batch_queues_nothing(world: World, webhook_channel) -> None:
    """The in-memory outbox changes only when the records do (a failed block write sends nothing)."""
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1:9/x"))
    notification = make_notification("acc_a", ("dst_1",))
    batch = WriteBatch()
    world.repos.notifications.add(notification, batch)
    world.outbox.enqueue([entry_for(notification, "dst_1", world.clock())], batch, notification=notification)
    # The batch is dropped, as when the store refuses the write.
    assert await world.dispatcher({"webhook": webhook_channel}).pump() == 0
    assert world.repos.attempts.of_notification(notification.id) == []


async def test_a_destination_changed_elsewhere_is_seen_at_once(world: World) -> None:
    """The dispatcher caches destinations; a change through any other repository object is seen."""
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1/x"))
    channel = SlowChannel(0.0)
    dispatcher = world.dispatcher({"webhook": channel})
    world.seed(make_notification("acc_a", ("dst_1",), height=1))
    assert await dispatcher.pump() == 1 and channel.done == 1
    others = Repositories(world.store)  # e.g. the REST API's services
    paused = others.destinations.get("dst_1")
    assert paused is not None
    put_now(others.destinations, msgspec.structs.replace(paused, enabled=False, disabled_reason="paused by owner"))
    second = make_notification("acc_a", ("dst_1",), height=2)
    world.seed(second)
    assert await dispatcher.pump() == 1 and channel.done == 1
    [attempt] = world.repos.attempts.of_notification(second.id)
    assert attempt.outcome == "skipped" and "paused by owner" in (attempt.error or "")
    delete_now(others.destinations, "dst_1")
    third = make_notification("acc_a", ("dst_1",), height=3)
    world.seed(third)
    assert await dispatcher.pump() == 1
    [attempt] = world.repos.attempts.of_notification(third.id)
    assert attempt.outcome == "skipped" and "deleted" in (attempt.error or "")


async def test_a_rate_limited_channel_cannot_hold_every_worker(world: World) -> None:
    """A burst to many Telegram chats (each delivery waiting out Telegram's rate limit) leaves
    workers for the webhooks: they all go out while the chats are still being served."""
    world.add(*(telegram_destination(f"dst_tg{i}", "acc_a", 1000 + i) for i in range(12)))
    world.add(*(webhook_destination(f"dst_wh{i}", "acc_a", "http://127.0.0.1/x") for i in range(4)))
    world.seed(*(make_notification("acc_a", (f"dst_tg{i}",), height=i) for i in range(12)))
    world.seed(*(make_notification("acc_a", (f"dst_wh{i % 4}",), height=100 + i) for i in range(12)))
    chats, hooks = SlowChannel(0.1), SlowChannel(0.0)
    dispatcher = world.dispatcher({"telegram": chats, "webhook": hooks}, workers=4, per_channel={"telegram": 2})
    pumping = asyncio.create_task(dispatcher.pump())
    await until(lambda: hooks.done == 12)
    assert chats.done <= 4  # the webhooks did not queue behind the slow chats
    assert await pumping == 24 and chats.done == 12
    assert chats.peak_total == 2 and world.outbox.depth() == 0


async def test_a_backlog_does_not_hold_its_notifications_in_memory(world: World) -> None:
    world.outbox.MAX_HELD_NOTIFICATIONS = 3
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1:9/x"))
    world.seed(*(make_notification("acc_a", ("dst_1",), height=i) for i in range(5)), hand_over=True)
    claimed = world.outbox.due(world.clock(), 10)
    assert len(claimed) == 5
    assert [item.notification is not None for item in claimed] == [True, True, True, False, False]
    world.outbox.release(claimed)
    assert await world.dispatcher({"webhook": SlowChannel(0.0)}).pump() == 5  # all delivered alike
    assert world.outbox.depth() == 0 and world.outbox._held == 0


def _count_claims(outbox: Outbox) -> Callable[[], int]:
    """Count the dispatcher's claims (`Outbox.due` calls): a positive signal that it looked."""
    claims = 0
    due = outbox.due

    def counted_due(*args: object, **kwargs: object) -> list:
        nonlocal claims
        claims += 1
        return due(*args, **kwargs)  # type: ignore[arg-type]  # passed through as given

    outbox.due = counted_due  # type: ignore[method-assign]  # an observer around the real method
    return lambda: claims


async def _loop_turns(turns: int) -> None:
    """Let every other task run `turns` times: a spinning loop claims once a turn or so."""
    for _ in range(turns):
        await asyncio.sleep(0)


async def test_an_idle_dispatcher_does_not_spin_while_a_slow_delivery_is_in_flight(
    world: World, clock: FakeClock
) -> None:
    """The outbox reloads itself when it runs empty; an entry in flight must not then look due
    again and again (the loop would spin at 100% CPU until the delivery ends)."""
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1/x"))
    channel = SlowChannel(3600.0)  # in flight until the drain cancels it
    dispatcher = world.dispatcher({"webhook": channel})
    claims = _count_claims(world.outbox)
    stop = asyncio.Event()
    runner = asyncio.create_task(dispatcher.run(stop, drain_deadline_s=0))
    world.seed(make_notification("acc_a", ("dst_1",)))
    await until(lambda: channel.running.get("dst_1") == 1)
    clock.advance(Outbox.RELOAD_WHEN_EMPTY_EVERY + 0.1)  # past the outbox's reload-when-empty
    assert world.outbox.size() == 1  # a metrics scrape: the outbox reloads while the entry is in flight
    before = claims()
    world.outbox.notify()  # a new block
    await until(lambda: claims() > before)
    await _loop_turns(200)
    assert claims() - before < 5, f"{claims() - before} claims while one delivery was in flight"
    stop.set()
    await asyncio.wait_for(runner, 10)
    assert channel.done == 0 and world.outbox.depth() == 1  # cancelled by the drain: delivered after restart


async def test_entries_another_outbox_wrote_are_found_once_the_clock_passes_the_reload_interval(
    world: World, clock: FakeClock
) -> None:
    """An empty outbox looks at the records again every RELOAD_WHEN_EMPTY_EVERY by its clock,
    so entries written through another `Outbox` over the same store (a tool, a second process
    view) are delivered without a restart, and an idle dispatcher does not rescan at every call."""
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1/x"))
    channel = SlowChannel(0.0)
    dispatcher = world.dispatcher({"webhook": channel})
    assert await dispatcher.pump() == 0
    other = Outbox(world.store, clock=clock)
    notification = make_notification("acc_a", ("dst_1",))
    batch = WriteBatch()
    world.repos.notifications.add(notification, batch)
    other.enqueue([entry_for(notification, "dst_1", clock())], batch)
    world.store.write(batch)
    assert await dispatcher.pump() == 0  # within the interval: not looked for yet
    clock.advance(Outbox.RELOAD_WHEN_EMPTY_EVERY + 0.1)
    assert await dispatcher.pump() == 1
    assert channel.done == 1 and world.outbox.depth() == 0
    [attempt] = world.repos.attempts.of_notification(notification.id)
    assert attempt.outcome == "delivered"


async def test_attempts_that_cannot_be_recorded_stop_the_dispatcher_and_are_made_again(
    world: World, monkeypatch
) -> None:
    """The store refuses the batch recording some attempts (a full disk): the dispatcher stops
    instead of delivering them again and again, nothing is lost, and once the store works they
    are delivered again (at least once) and recorded."""
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1/x"))
    notifications = [make_notification("acc_a", ("dst_1",), height=i) for i in range(3)]
    world.seed(*notifications)
    channel = SlowChannel(0.0)
    dispatcher = world.dispatcher({"webhook": channel})
    write = world.store.write
    broken = True

    def failing_write(batch: WriteBatch) -> None:
        if broken:
            raise StoreError("disk full")
        write(batch)

    monkeypatch.setattr(world.store, "write", failing_write)
    with pytest.raises(DispatchStalledError, match="cannot record delivery attempts: disk full"):
        await dispatcher.pump()
    assert channel.done == 3 and world.outbox.depth() == 3
    broken = False
    assert await dispatcher.pump() == 3
    assert channel.done == 6 and world.outbox.depth() == 0
    for notification in notifications:
        [attempt] = world.repos.attempts.of_notification(notification.id)
        assert attempt.outcome == "delivered"


async def test_run_stops_for_its_supervisor_when_attempts_cannot_be_recorded(world: World, monkeypatch) -> None:
    world.clock = utcnow  # type: ignore[assignment]  # real time: run() sleeps for real
    world.add(webhook_destination("dst_1", "acc_a", "http://127.0.0.1/x"))
    channel = SlowChannel(0.0)
    dispatcher = Dispatcher(world.outbox, world.repos, {"webhook": channel}, {}.get)
    write = world.store.write

    def failing_write(batch: WriteBatch) -> None:
        if any(key.startswith(b"att") for key, _ in batch.ops):
            raise StoreError("disk full")
        write(batch)

    monkeypatch.setattr(world.store, "write", failing_write)
    runner = asyncio.create_task(dispatcher.run(asyncio.Event(), drain_deadline_s=1))
    world.seed(make_notification("acc_a", ("dst_1",)))
    with pytest.raises(DispatchStalledError):
        await asyncio.wait_for(runner, 5)
    assert channel.done == 1 and world.outbox.depth() == 1  # delivered once, not in a loop


class RoutedChannel:
    """Delivers through the channel its destination id starts with (`hang` or `fast`)."""

    kind = "webhook"

    def __init__(self, **routes: SlowChannel) -> None:
        self.routes = routes

    async def deliver(self, notification: Notification, destination: Destination, chain: Chain | None):
        route = destination.id.removeprefix("dst_").rstrip("0123456789")
        return await self.routes[route].deliver(notification, destination, chain)


async def test_failing_destinations_cannot_hold_every_worker(world: World) -> None:
    """Endpoints that hang (each attempt holds a worker until the timeout) get at most `failing`
    workers: the healthy endpoints are served meanwhile."""
    failing = webhook_destination("dst_hang0", "acc_a", "http://127.0.0.1/x")
    world.add(*(msgspec.structs.replace(failing, id=f"dst_hang{i}", failing_since=world.clock()) for i in range(6)))
    world.add(*(webhook_destination(f"dst_fast{i}", "acc_a", "http://127.0.0.1/x") for i in range(4)))
    world.seed(*(make_notification("acc_a", (f"dst_hang{i}",), height=i) for i in range(6)))
    world.seed(*(make_notification("acc_a", (f"dst_fast{i % 4}",), height=100 + i) for i in range(12)))
    hang, fast = SlowChannel(0.3), SlowChannel(0.0)
    dispatcher = world.dispatcher({"webhook": RoutedChannel(hang=hang, fast=fast)}, workers=4, failing=2)
    pumping = asyncio.create_task(dispatcher.pump())
    await until(lambda: fast.done == 12)
    assert hang.done <= 2  # the healthy ones did not queue behind the hanging ones
    assert await pumping == 18 and hang.done == 6 and hang.peak_total == 2

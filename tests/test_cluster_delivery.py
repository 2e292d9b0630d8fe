"""Retries, dead letters, redelivery and the 5-day disable on two cluster nodes, as on one node.

Issue #16 point 3: whichever node a person reaches, and whichever node holds the destination's
delivery partition, they see what one node would show them. Two "nodes" in one process (each its
RocksDB replica, `ClusterStore`, outbox in cluster mode, dispatcher and services) on a real 3-node
NATS cluster, one injected clock for both (time moves, nothing waits for it), a loopback webhook
that fails on demand. Who delivers is set by hand (`outbox.adopt` / `drop`, what the partition
leases do in `core/cluster/partitions.py`), so each test decides which node owns the destination.

The retry schedule is checked against a run of the same scenario on one node (a plain RocksDB
store), not only against `RETRY_DELAYS`: what a user sees must be the same, attempt for attempt.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from core.cluster.store import ClusterStore
from core.dispatch.dispatcher import RETRY_DELAYS, Dispatcher
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.partition import partition_of
from core.dispatch.webhook import WebhookChannel
from core.errors import ValidationError
from core.models import Notification, WebhookDestination
from core.services import Services
from core.store import WriteBatch, open_store
from core.store.base import KVStore
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from core.watch.matching import SubscriptionMatcher
from tests.apikit import fast_passwords, make_config
from tests.fakes.records import COSMOS, FakeClock, entry_for, make_notification
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.polling import until
from tests.replica_node import ReplicaNode

DAY = 24 * 3600.0


class Node:
    """One node's delivery side over `store`: outbox, dispatcher and services, on `clock`.

    `cluster`: the outbox holds no partition until `adopt` and follows the other node's writes
    (what `mempools serve` builds in cluster mode); else it owns everything (one node)."""

    def __init__(self, store: KVStore, clock: FakeClock, *, cluster: bool) -> None:
        self.store = store
        self.repos = Repositories(store)
        self.outbox = Outbox(store, clock=clock, partitions=set() if cluster else None, follow=cluster)
        self.services = Services.build(
            make_config(), self.repos, SubscriptionMatcher(), self.outbox, passwords=fast_passwords(), clock=clock
        )
        self.client = HttpClient(allow_private_networks=True)
        channel = WebhookChannel(self.client, clock=clock)
        self.dispatcher = Dispatcher(
            self.outbox, self.repos, {"webhook": channel}, {COSMOS.id: COSMOS}.get, clock=clock
        )

    def owns(self, *destinations: WebhookDestination) -> None:
        for destination in destinations:
            self.outbox.adopt(partition_of(destination.id))

    def gives_up(self, *destinations: WebhookDestination) -> None:
        for destination in destinations:
            self.outbox.drop(partition_of(destination.id))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(utcnow().replace(microsecond=0))  # the outbox's heap keeps milliseconds


@pytest.fixture
async def nodes(replicas: list[ReplicaNode], clock: FakeClock) -> AsyncIterator[list[Node]]:
    built = [Node(r.store, clock, cluster=True) for r in replicas]
    yield built
    for node in built:
        await node.client.close()


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


async def user_with_webhook(node: Node, url: str, email: str = "ada@example.org") -> tuple[str, WebhookDestination]:
    """An account and its webhook, made through `node`'s services (as the REST API does)."""
    account = await node.services.accounts.register(email, "correct horse battery")
    return account.id, await node.services.destinations.create_webhook(account.id, url)


async def user_webhook(node: Node, account_id: str, url: str) -> WebhookDestination:
    return await node.services.destinations.create_webhook(account_id, url)


_heights = itertools.count(1)


async def seed(watcher: Node, owner_id: str, *destinations: WebhookDestination) -> Notification:
    """A notification and its outbox entries committed through `watcher`, as a chain's watcher
    does (handing the notification over): on the node holding that chain's lease, which need not
    be the one delivering."""
    notification = make_notification(owner_id, tuple(d.id for d in destinations), height=next(_heights))
    batch = WriteBatch()
    watcher.repos.notifications.add(notification, batch)
    entries = [entry_for(notification, d.id, watcher.outbox.clock()) for d in destinations]
    watcher.outbox.enqueue(entries, batch, notification=notification)
    await watcher.store.commit(batch)
    watcher.outbox.notify()
    return notification


async def pumped(*nodes: Node) -> list[int]:
    """Each node's dispatcher delivers what is due now by the clock: how many each made."""
    return [await node.dispatcher.pump() for node in nodes]


async def holds(node: Node, count: int) -> None:
    """Wait until `node`'s outbox holds `count` entries (another node's commit is applied here
    within the apply lag)."""
    await until(lambda: node.outbox.size() == count)


def attempts_seen(node: Node, owner_id: str, notification_id: str, start: datetime) -> list[tuple[object, ...]]:
    """The notification's attempts as its owner sees them through `node` (GET /v1/notifications/{id}):
    (number, seconds after `start`, outcome, HTTP status, error)."""
    detail = node.services.history.notification(owner_id, notification_id)
    return [(a.attempt, (a.at - start).total_seconds(), a.outcome, a.http_status, a.error) for a in detail.attempts]


async def caught_up(reader: Node, writer: Node) -> None:
    """Wait until `reader`'s replica applied every change `writer`'s has."""

    def applied(node: Node) -> int:
        assert isinstance(node.store, ClusterStore)
        return node.store.applied_sequence

    await until(lambda: applied(reader) >= applied(writer))


async def sees_attempts(node: Node, owner_id: str, notification_id: str, count: int) -> None:
    await until(lambda: len(node.services.history.notification(owner_id, notification_id).attempts) == count)


def dead_letters_seen(node: Node, owner_id: str, start: datetime) -> list[tuple[object, ...]]:
    """GET /v1/dead-letters through `node`: (notification, destination, attempts, error, seconds after `start`)."""
    return [
        (d.notification_id, d.destination_id, d.attempts, d.last_error, (d.dead_at - start).total_seconds())
        for d in node.services.history.dead_letters(owner_id).items
    ]


class Seen(msgspec.Struct, frozen=True):
    """What the user saw of one failing notification, times relative to its first attempt."""

    attempts: list[tuple[object, ...]]
    dead_letters: list[tuple[object, ...]]
    received: int


async def retry_dead_letter_redeliver(
    owner: Node, other: Node, idle: Iterable[Node], receiver: WebhookReceiver, clock: FakeClock
) -> Seen:
    """The single-node test's scenario (tests/test_dispatch_dispatcher.py), spread over nodes:
    `owner` delivers, `other` runs the watcher and the user's requests, `idle` must never send."""
    idle = list(idle)
    receiver.default = Reply(status=500, body=b"down")
    account_id, hook = await user_with_webhook(other, receiver.url())
    owner.owns(hook)
    start = clock()
    notification = await seed(other, account_id, hook)
    await holds(owner, 1)
    assert await pumped(owner, *idle) == [1] + [0] * len(idle)  # attempt 1, immediately
    elapsed = 0.0
    for n, delay in enumerate(RETRY_DELAYS, start=2):
        entry = owner.outbox.get(notification.id, hook.id)
        assert entry is not None and entry.attempts == n - 1 and entry.last_error == "HTTP 500: down"
        assert entry.due_at == start + timedelta(seconds=elapsed + delay)
        clock.advance(delay - 1)
        assert await pumped(owner, *idle) == [0] + [0] * len(idle)  # not due yet: nothing is sent early
        clock.advance(1)
        assert await pumped(owner, *idle) == [1] + [0] * len(idle)
        elapsed += delay
    await sees_attempts(other, account_id, notification.id, 8)
    await until(lambda: dead_letters_seen(other, account_id, start) != [])
    dead = dead_letters_seen(other, account_id, start)
    seen = attempts_seen(other, account_id, notification.id, start)

    # Redelivery asked through the other node (POST /v1/notifications/{id}/redeliver).
    receiver.default = Reply(status=204)
    assert await other.services.history.redeliver(account_id, notification.id) == [hook.id]
    assert dead_letters_seen(other, account_id, start) == []  # its own write: at once
    await holds(owner, 1)
    assert await pumped(owner, *idle) == [1] + [0] * len(idle)
    clock.advance(DAY)
    assert await pumped(owner, *idle) == [0] + [0] * len(idle)  # once
    await sees_attempts(other, account_id, notification.id, 9)
    first, last = receiver.received[0], receiver.received[-1]
    assert last.headers["webhook-id"] == first.headers["webhook-id"] == notification.id
    assert last.body == first.body
    redelivered = attempts_seen(other, account_id, notification.id, start)
    assert redelivered[:8] == seen and redelivered[8][0] == 9 and redelivered[8][2:4] == ("delivered", 204)
    assert other.services.destinations.get(account_id, hook.id).failing_since is None
    assert owner.outbox.depth() == 0 and owner.outbox.size() == 0
    return Seen(attempts=seen, dead_letters=[d[2:] for d in dead], received=len(receiver.received))


async def test_a_failing_endpoint_is_retried_dead_lettered_and_redelivered_as_on_one_node(
    nodes: list[Node], receiver: WebhookReceiver, clock: FakeClock, tmp_path: Path
) -> None:
    """Points 1-3: A holds the partition and makes every attempt on the one-node schedule; B
    never sends; the dead letter shows through B; a redelivery asked through B goes out from A,
    once, with the same webhook-id and body; each exactly what one node shows."""
    a, b = nodes
    on_cluster = await retry_dead_letter_redeliver(a, b, [b], receiver, clock)

    store, single_clock = open_store(tmp_path / "single"), FakeClock(utcnow())
    single = Node(store, single_clock, cluster=False)
    try:
        async with WebhookReceiver() as alone:
            on_one_node = await retry_dead_letter_redeliver(single, single, [], alone, single_clock)
    finally:
        await single.client.close()
        store.close()

    assert on_cluster == on_one_node
    offsets = [0.0, *itertools.accumulate(RETRY_DELAYS)]
    assert [(a[0], a[1], a[2]) for a in on_cluster.attempts] == [
        (n, offsets[n - 1], "failed" if n < 8 else "dead_letter") for n in range(1, 9)
    ]
    assert on_cluster.dead_letters == [(8, "HTTP 500: down", offsets[-1])]
    assert on_cluster.received == 9


async def test_a_partition_moving_mid_retry_continues_the_stored_schedule(
    nodes: list[Node], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    """Point 4: A delivers one notification and fails another twice; the partition moves to B,
    which retries at the stored due time with the next delay of the schedule (not from scratch),
    and never sends what A delivered."""
    a, b = nodes
    account_id, hook = await user_with_webhook(a, receiver.url())
    a.owns(hook)
    delivered = await seed(b, account_id, hook)
    await holds(a, 1)
    assert await pumped(a, b) == [1, 0]
    receiver.default = Reply(status=500, body=b"down")
    start = clock()
    failing = await seed(b, account_id, hook)
    await holds(a, 1)
    assert await pumped(a, b) == [1, 0]
    clock.advance(RETRY_DELAYS[0])
    assert await pumped(a, b) == [1, 0]

    # The lease moves (its TTL is seconds, far beyond the apply lag: B has A's last write).
    await caught_up(b, a)
    a.gives_up(hook)
    b.owns(hook)
    assert a.outbox.size() == 0 and b.outbox.size() == 1  # the delivered one is gone, the failing one kept
    due = start + timedelta(seconds=RETRY_DELAYS[0] + RETRY_DELAYS[1])
    assert b.outbox.next_due_at() == due
    clock.advance(RETRY_DELAYS[1] - 1)
    assert await pumped(a, b) == [0, 0]
    clock.advance(1)
    assert await pumped(a, b) == [0, 1]  # attempt 3, from B
    entry = b.outbox.get(failing.id, hook.id)
    assert entry is not None and entry.attempts == 3 and entry.due_at == due + timedelta(seconds=RETRY_DELAYS[2])
    receiver.default = Reply(status=200)
    clock.advance(RETRY_DELAYS[2] - 1)
    assert await pumped(a, b) == [0, 0]
    clock.advance(1)
    assert await pumped(a, b) == [0, 1]
    clock.advance(DAY)
    assert await pumped(a, b) == [0, 0]

    await sees_attempts(a, account_id, failing.id, 4)
    t = list(itertools.accumulate(RETRY_DELAYS, initial=0.0))
    assert [x[:4] for x in attempts_seen(a, account_id, failing.id, start)] == [
        (1, t[0], "failed", 500),
        (2, t[1], "failed", 500),
        (3, t[2], "failed", 500),
        (4, t[3], "delivered", 200),
    ]
    assert [x[2] for x in attempts_seen(b, account_id, delivered.id, start)] == ["delivered"]
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert ids == [delivered.id] + [failing.id] * 4
    assert a.outbox.depth() == 0 and b.outbox.size() == 0 and a.outbox.size() == 0


async def test_a_delivery_in_flight_when_the_partition_moves_is_recorded_and_followed_by_the_new_holder(
    nodes: list[Node], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    """Point 4, the harder half: the partition moves while A's attempt is on the wire. A still
    records it; B, which adopted the entry as it was (due now), follows A's reschedule when it
    is applied, so it waits for the schedule's next due time instead of sending at once."""
    a, b = nodes
    account_id, hook = await user_with_webhook(a, receiver.url())
    a.owns(hook)
    receiver.script(Reply(status=500, body=b"down", delay=0.3))
    start = clock()
    notification = await seed(a, account_id, hook)
    delivering = asyncio.create_task(a.dispatcher.pump())
    await until(lambda: len(receiver.received) == 1)  # on the wire
    a.gives_up(hook)
    b.owns(hook)
    assert b.outbox.next_due_at() == start  # the record as it was: due now
    assert await delivering == 1  # A finishes and records what it had in flight
    due = start + timedelta(seconds=RETRY_DELAYS[0])
    await until(lambda: b.outbox.next_due_at() == due)
    assert a.outbox.size() == 0 and b.outbox.size() == 1
    assert await pumped(a, b) == [0, 0]
    receiver.default = Reply(status=200)
    clock.advance(RETRY_DELAYS[0])
    assert await pumped(a, b) == [0, 1]
    await sees_attempts(a, account_id, notification.id, 2)
    assert [x[:3] for x in attempts_seen(a, account_id, notification.id, start)] == [
        (1, 0.0, "failed"),
        (2, RETRY_DELAYS[0], "delivered"),
    ]
    assert len(receiver.received) == 2


async def test_entries_claimed_but_not_yet_sent_when_the_partition_moves_are_left_to_the_new_holder(
    nodes: list[Node], receiver: WebhookReceiver
) -> None:
    """A node sends only what it still owns: of 10 entries claimed for one destination, 4 are on
    the wire (its per-destination cap) when the partition moves; the 6 waiting behind them are not
    sent by the old holder but by the new one. Each webhook arrives once."""
    a, b = nodes
    account_id, hook = await user_with_webhook(a, receiver.url())
    a.owns(hook)
    receiver.default = Reply(status=200, delay=0.3)
    for _ in range(10):
        await seed(a, account_id, hook)
    delivering = asyncio.create_task(a.dispatcher.pump())
    await until(lambda: len(receiver.received) == a.dispatcher.limits.per_destination)  # 4 on the wire
    a.gives_up(hook)
    assert await delivering == 10  # claimed: 4 sent and recorded, 6 handed back unsent
    assert len(receiver.received) == 4
    b.owns(hook)
    await caught_up(b, a)  # A's 4 results applied on B: B adopts only the 6 still due
    await until(lambda: b.outbox.size() == 6)
    assert await pumped(a, b) == [0, 6]
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == len(set(ids)) == 10


async def test_five_days_of_failures_disable_the_destination_on_every_node(
    nodes: list[Node], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    """Point 5: B makes the first failing attempt; the partition moves to A, whose attempt 4 d 23 h
    later leaves the destination enabled and whose attempt at 5 days disables it (B's
    `failing_since` counts), tells the owner through their other webhook, and dead-letters the
    entry. B sees it disabled; when the partition comes back, B skips the destination, and a
    redelivery is refused, as on one node."""
    a, b = nodes
    receiver.default = Reply(status=503, body=b"unavailable")
    async with WebhookReceiver() as healthy:
        account_id, failing = await user_with_webhook(a, receiver.url("/failing"))
        other = await user_webhook(a, account_id, healthy.url("/other"))
        while partition_of(other.id) == partition_of(failing.id):  # 1 in 32: the test needs two partitions
            await a.services.destinations.delete(account_id, other.id)
            other = await user_webhook(a, account_id, healthy.url("/other"))
        b.owns(failing)
        a.owns(other)
        start = clock()
        first = await seed(a, account_id, failing)
        await holds(b, 1)
        assert await pumped(a, b) == [0, 1]
        await until(lambda: a.services.destinations.get(account_id, failing.id).failing_since == start)

        await caught_up(a, b)
        b.gives_up(failing)
        a.owns(failing)
        clock.advance(4 * DAY + 23 * 3600)
        assert await pumped(a, b) == [1, 0]
        assert a.services.destinations.get(account_id, failing.id).enabled  # 4 d 23 h: not yet
        clock.advance(3600)
        assert await pumped(a, b) == [2, 0]  # the attempt that disables it, and the notice to /other

        def disabled_on_b() -> bool:
            return not b.services.destinations.get(account_id, failing.id).enabled

        await until(disabled_on_b)
        seen = b.services.destinations.get(account_id, failing.id)
        since = f"{start:%Y-%m-%d %H:%M}"
        assert seen.disabled_reason == f"deliveries kept failing since {since} UTC (last error: HTTP 503: unavailable)"
        await sees_attempts(b, account_id, first.id, 3)
        assert [x[:3] for x in attempts_seen(b, account_id, first.id, start)] == [
            (1, 0.0, "failed"),
            (2, 4 * DAY + 23 * 3600, "failed"),
            (3, 5 * DAY, "dead_letter"),
        ]
        assert [d[:3] for d in dead_letters_seen(b, account_id, start)] == [(first.id, failing.id, 3)]
        [notice] = healthy.received
        assert notice.path == "/other" and b"was disabled" in notice.body
        await until(lambda: len(b.services.history.notifications(account_id).items) == 2)
        assert {n.subscription_id for n in b.services.history.notifications(account_id).items} == {"sub_1", "system"}

        # The partition comes back to B: what the watcher queues now is skipped, nothing is sent.
        a.gives_up(failing)
        b.owns(failing)
        later = await seed(a, account_id, failing)
        await holds(b, 1)
        assert await pumped(a, b) == [0, 1]
        [skipped] = attempts_seen(b, account_id, later.id, start)
        assert skipped[2] == "skipped" and "destination is disabled (deliveries kept failing" in str(skipped[4])
        assert [r.headers["webhook-id"] for r in receiver.received] == [first.id] * 3
        with pytest.raises(ValidationError, match="is disabled"):
            await b.services.history.redeliver(account_id, first.id)
        assert len(healthy.received) == 1


async def test_a_running_dispatcher_wakes_for_entries_committed_on_the_other_node(
    nodes: list[Node], receiver: WebhookReceiver, clock: FakeClock
) -> None:
    """`run()`, not `pump()`: A sleeps for its idle wait (60 s) and still delivers within the apply
    lag what B's watcher queued, or what a redelivery through B queued, because following the log
    notifies A's outbox (on one node the writer's own outbox is notified)."""
    a, b = nodes
    account_id, hook = await user_with_webhook(a, receiver.url())
    a.owns(hook)
    stop = asyncio.Event()
    running = asyncio.create_task(a.dispatcher.run(stop, drain_deadline_s=1))
    try:
        started = asyncio.get_running_loop().time()
        queued = await seed(b, account_id, hook)
        await until(lambda: len(receiver.received) == 1)
        assert asyncio.get_running_loop().time() - started < 1.0
        await sees_attempts(b, account_id, queued.id, 1)
        assert await b.services.history.redeliver(account_id, queued.id) == [hook.id]
        await until(lambda: len(receiver.received) == 2)
        assert [r.headers["webhook-id"] for r in receiver.received] == [queued.id] * 2
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    await sees_attempts(b, account_id, queued.id, 2)
    assert [x[2] for x in attempts_seen(b, account_id, queued.id, clock())] == ["delivered", "delivered"]

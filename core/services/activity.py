"""Live activity per account: its new notifications and delivery attempt outcomes, as written.

`GET /v1/stream` (server-sent events) and the web console both read it. It follows the store's
committed writes (`KVStore.observe`) rather than the watcher's and dispatcher's code paths, so a
notification matched or an attempt made on another cluster node reaches a listener on this one
as its change is applied here: one code path for one node and for a cluster.

The writer must never wait for a reader. Each listener has a bounded queue; offering an event is
O(1) and never blocks. A listener whose queue is full (a client that stopped reading) is cut
off: its queue is emptied, it receives one `LaggedEvent`, and then its iteration ends, so its
client reconnects and reloads what it missed from the history. Other listeners are unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec

from core.dispatch.outbox import Outbox
from core.errors import OverloadedError, Throttled
from core.models import DeliveryAttempt, DeliveryOutcome, Notification
from core.store.keys import prefix
from core.store.repositories import Repositories

#: Events a listener may have waiting before it counts as stuck and is cut off.
MAX_QUEUED = 1_000
#: Streams one account may hold open at once: one tenant cannot use up the server.
MAX_PER_ACCOUNT = 5
#: Streams the whole process holds open at once.
MAX_LISTENERS = 2_000


class AttemptOutcome(msgspec.Struct, kw_only=True, gc=False):
    """A delivery attempt as the notification detail lists it, and when the next one is due."""

    notification_id: str
    destination_id: str
    attempt: int
    at: datetime
    outcome: DeliveryOutcome
    http_status: int | None = None
    error: str | None = None
    latency_ms: float | None = None
    # A failed attempt that will be retried: when (the outbox entry's new due time). Else null.
    next_attempt_at: datetime | None = None

    @classmethod
    def of(cls, attempt: DeliveryAttempt, next_attempt_at: datetime | None) -> AttemptOutcome:
        return cls(**msgspec.structs.asdict(attempt), next_attempt_at=next_attempt_at)


class NotificationEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A new notification of the account (the same record `GET /v1/notifications` lists)."""

    id: int  # increasing within this process (the SSE `id:`)
    notification: Notification


class AttemptEvent(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: int
    attempt: AttemptOutcome


class LaggedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The listener fell `dropped` events behind and is closed: reload the history, reconnect."""

    id: int
    dropped: int


ActivityEvent = NotificationEvent | AttemptEvent | LaggedEvent


class _Owned(msgspec.Struct):
    """Only the owner of a record: a third of the cost of decoding a whole notification."""

    owner_id: str


_owner_of_record = msgspec.msgpack.Decoder(_Owned).decode


class ActivityListener:
    """One reader's queue of events. Iterate it, or call `next(timeout)` to wait with a timeout."""

    def __init__(self, account_id: str, max_queued: int) -> None:
        self.account_id = account_id
        self._max = max_queued
        self._items: deque[ActivityEvent] = deque()
        self._ready = asyncio.Event()
        self._lagged: LaggedEvent | None = None
        self._finished = False
        self.closed = False

    def offer(self, event: ActivityEvent) -> None:
        """Queue `event` without ever waiting; a full queue cuts the listener off instead."""
        if self._lagged is not None or self.closed:
            return
        if len(self._items) >= self._max:
            self._lagged = LaggedEvent(id=event.id, dropped=len(self._items) + 1)
            self._items.clear()
        else:
            self._items.append(event)
        self._ready.set()

    async def next(self, timeout: float | None = None) -> ActivityEvent | None:
        """The next event; None when `timeout` seconds pass without one (a heartbeat is due).

        StopAsyncIteration once the listener was cut off (after its one `LaggedEvent`) or closed.
        """
        while True:
            if self._items:
                return self._items.popleft()
            if self._finished or self.closed:
                raise StopAsyncIteration
            if self._lagged is not None:
                self._finished = True
                return self._lagged
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None

    def __aiter__(self) -> AsyncIterator[ActivityEvent]:
        return self

    async def __anext__(self) -> ActivityEvent:
        event = await self.next()
        assert event is not None  # no timeout: it waits for one
        return event


class ActivityFeed:
    """Turns committed writes into per-account events and fans them out to the listeners.

    Nothing is decoded while nobody listens. A notification record is read for its owner first,
    and decoded whole only when that owner listens;
    an attempt's owner is its destination's (a small cache; a destination never changes owner),
    and a failed attempt's next due time comes from the outbox entry written in the same batch.
    """

    def __init__(
        self,
        repos: Repositories,
        outbox: Outbox,
        *,
        max_queued: int = MAX_QUEUED,
        max_per_account: int = MAX_PER_ACCOUNT,
        max_listeners: int = MAX_LISTENERS,
    ) -> None:
        self._repos = repos
        self._entries = outbox.entries
        self._max_queued = max_queued
        self._max_per_account = max_per_account
        self._max_listeners = max_listeners
        self._by_account: dict[str, set[ActivityListener]] = {}
        self._count = 0
        self._ids = itertools.count(1)
        self._owners: dict[str, str] = {}  # destination id -> owner id
        self._notification_prefix = prefix(repos.notifications.table)
        self._attempt_prefix = prefix(repos.attempts.table)
        self._entry_prefix = prefix(outbox.entries.table)
        repos.store.observe(self._written)

    def listeners(self, account_id: str | None = None) -> int:
        """Open listeners (of one account, or in all)."""
        if account_id is None:
            return self._count
        return len(self._by_account.get(account_id, ()))

    def open(self, account_id: str) -> ActivityListener:
        """A new listener of the account's events; `close` it when done (or use `subscribe`).

        Throttled (429) past MAX_PER_ACCOUNT open listeners of one account, OverloadedError past
        MAX_LISTENERS in all.
        """
        mine = self._by_account.get(account_id, set())
        if len(mine) >= self._max_per_account:
            raise Throttled(
                f"at most {self._max_per_account} live streams per account are open at once; close one first",
                retry_after=5,
            )
        if self._count >= self._max_listeners:
            raise OverloadedError("too many live streams are open; try again shortly", retry_after=5)
        listener = ActivityListener(account_id, self._max_queued)
        self._by_account.setdefault(account_id, mine).add(listener)
        self._count += 1
        return listener

    def close(self, listener: ActivityListener) -> None:
        """Forget `listener` (idempotent); a reader waiting on it stops."""
        if listener.closed:
            return
        listener.closed = True
        listener._ready.set()
        mine = self._by_account.get(listener.account_id)
        if mine is not None and listener in mine:
            mine.discard(listener)
            self._count -= 1
            if not mine:
                del self._by_account[listener.account_id]

    def close_all(self) -> int:
        """End every listener (shutdown: open streams finish instead of holding the server up)."""
        everyone = [listener for mine in self._by_account.values() for listener in mine]
        for listener in everyone:
            self.close(listener)
        return len(everyone)

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: str) -> AsyncIterator[ActivityListener]:
        """`async with feed.subscribe(account) as events: async for event in events: ...`"""
        listener = self.open(account_id)
        try:
            yield listener
        finally:
            self.close(listener)

    # -- from the store -------------------------------------------------------------------------
    def _written(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        if not self._by_account:
            return
        ntf, att, obx = self._notification_prefix, self._attempt_prefix, self._entry_prefix
        attempts: list[DeliveryAttempt] = []
        due: dict[tuple[str, str], datetime] = {}
        for key, value in ops:
            if value is None:
                continue
            if key.startswith(ntf):
                notification_owner = _owner_of_record(value).owner_id
                if notification_owner in self._by_account:
                    notification = self._repos.notifications.decode(value)
                    self._emit(notification_owner, NotificationEvent(id=next(self._ids), notification=notification))
            elif key.startswith(att):
                attempts.append(self._repos.attempts.decode(value))
            elif key.startswith(obx):
                entry = self._entries.decode(value)
                due[(entry.notification_id, entry.destination_id)] = entry.due_at
        for attempt in attempts:
            owner = self._owner_of(attempt)
            if owner is None or owner not in self._by_account:
                continue
            later = due.get((attempt.notification_id, attempt.destination_id)) if attempt.outcome == "failed" else None
            self._emit(owner, AttemptEvent(id=next(self._ids), attempt=AttemptOutcome.of(attempt, later)))

    def _owner_of(self, attempt: DeliveryAttempt) -> str | None:
        owner = self._owners.get(attempt.destination_id)
        if owner is not None:
            return owner
        destination = self._repos.destinations.get(attempt.destination_id)
        if destination is None:  # deleted since: the notification still says whose it is
            notification = self._repos.notifications.get(attempt.notification_id)
            return notification.owner_id if notification is not None else None
        if len(self._owners) >= 100_000:
            self._owners.clear()
        self._owners[attempt.destination_id] = destination.owner_id
        return destination.owner_id

    def _emit(self, owner_id: str, event: ActivityEvent) -> None:
        for listener in tuple(self._by_account.get(owner_id, ())):
            listener.offer(event)

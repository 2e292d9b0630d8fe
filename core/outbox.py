"""The outbox: deliveries still to be made, ordered by when they are due.

The watcher is the producer: it adds one entry per (notification, destination) in the same
write batch that stores the notifications and moves the chain cursor, so a block's deliveries
exist if and only if the block counts as processed. The dispatcher is the consumer: it takes
due entries, and removes, reschedules or buries each one in the same batch that records the
attempt. Behind this small interface the store could be replaced by a stream (NATS JetStream,
see DESIGN.md) without touching either side.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Iterable
from datetime import datetime
from functools import partial

from core.models import DeadLetter, Notification, OutboxEntry
from core.repositories import DeadLetterRepository
from core.store.base import KVStore, WriteBatch
from core.store.collection import Collection
from core.store.keys import prefix
from core.timeutil import from_millis, to_millis


class Pending:
    """An outbox entry as the outbox holds it in memory, while it waits or is in flight.

    `key` is its record's key (built once); `notification` is the notification it delivers when
    the producer handed it over with the entries, so the dispatcher need not read it back and
    decode it. It is None for entries read from the store (after a restart), after a reschedule
    (a retry reads the store, so an endpoint that is down does not pin its backlog in memory),
    and beyond `Outbox.MAX_HELD_NOTIFICATIONS`.
    """

    __slots__ = ("claimed", "entry", "ident", "key", "notification")

    def __init__(self, entry: OutboxEntry, key: bytes, notification: Notification | None = None) -> None:
        self.entry = entry
        self.ident = (entry.notification_id, entry.destination_id)
        self.key = key
        self.notification = notification
        self.claimed = False  # taken by `due()`, until completed, rescheduled, buried or released


class Outbox:
    """Durable queue in the KV store, mirrored in memory: a map of the entries and a due-time heap.

    The records (`obx` table) are the truth and survive crashes. The mirror changes through
    `WriteBatch.on_commit`, i.e. exactly when the records it mirrors are written, so claiming a
    due entry is a heap pop with no store read or decode (scanning RocksDB for due entries walks
    the tombstones of delivered ones; reading each claimed record back cost more than the claim
    itself). The mirror is rebuilt from the records at start (and whenever it
    runs empty, so entries written by another `Outbox` over the same store are found too). A heap
    item stands for its entry only while the map still holds that very `Pending` and nobody has
    claimed it: a completed entry is gone from the map, a rescheduled one was replaced by a newer
    `Pending`, and a claimed one comes back only through `release`.

    A process keeps one `Outbox` per store (the runtime hands the same one to the watcher, the
    dispatcher and the services): a second one would see the first one's writes only when its
    own mirror runs empty and is reloaded.
    """

    RELOAD_WHEN_EMPTY_EVERY = 1.0  # seconds
    #: At most this many entries hold their handed-over notification: beyond it (a huge fan-out,
    #: a dispatcher far behind) notifications are read back from the store instead of held.
    MAX_HELD_NOTIFICATIONS = 20_000

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.entries: Collection[OutboxEntry] = Collection(
            store, "obx", OutboxEntry, lambda e: (e.notification_id, e.destination_id)
        )
        self.dead_letters = DeadLetterRepository(store)
        self._wakeup = asyncio.Event()
        self._waiting: dict[tuple[str, str], Pending] = {}
        self._heap: list[tuple[int, int, Pending]] = []
        self._pushed = itertools.count()  # ties in due time go first-in, first-out
        self._loaded_at = 0.0
        self._held = 0  # entries holding a notification, in the mirror or in a batch not yet written
        self._load()  # now, so entries committed from here on join the mirror instead of a later scan

    def release(self, pending: Iterable[Pending]) -> None:
        """Give back entries taken by `due()` and not settled (never attempted, or their record
        could not be written): they are due again as they were."""
        for item in pending:
            item.claimed = False
            if self._waiting.get(item.ident) is item:
                self._push(item)

    def _load(self) -> None:
        record_key = self.entries.record_key
        known, self._waiting = self._waiting, {}
        for entry in self.entries.scan():
            ident = (entry.notification_id, entry.destination_id)
            item = known.get(ident)
            if item is None or item.entry != entry:  # else keep it, with the notification it may hold
                item = Pending(entry, record_key(*ident))
            self._waiting[ident] = item
        self._held = sum(1 for item in self._waiting.values() if item.notification is not None)
        self._heap = [
            (to_millis(item.entry.due_at), next(self._pushed), item)
            for item in self._waiting.values()
            if not item.claimed  # in flight: its outcome puts it back if it is still due
        ]
        heapq.heapify(self._heap)
        self._loaded_at = time.monotonic()

    def _ensure_loaded(self) -> None:
        if not self._heap and time.monotonic() - self._loaded_at > self.RELOAD_WHEN_EMPTY_EVERY:
            self._load()

    def _push(self, item: Pending) -> None:
        heapq.heappush(self._heap, (to_millis(item.entry.due_at), next(self._pushed), item))

    def _stored(self, items: list[Pending]) -> None:
        for item in items:
            replaced = self._waiting.get(item.ident)
            if replaced is not item:
                self._dropped(replaced)
            self._waiting[item.ident] = item
            self._push(item)

    def _forget(self, ident: tuple[str, str]) -> None:
        self._dropped(self._waiting.pop(ident, None))

    def _dropped(self, item: Pending | None) -> None:
        """`item` left the mirror: the notification it held no longer counts."""
        if item is not None and item.notification is not None:
            self._held -= 1

    # -- producer -----------------------------------------------------------------------------
    def enqueue(
        self, entries: Iterable[OutboxEntry], batch: WriteBatch, *, notification: Notification | None = None
    ) -> int:
        """Add entries to `batch` (they become due once it is written); call `notify()` after.

        Pass `notification` when every entry delivers it (the usual case: one notification to
        each of its destinations) to spare the dispatcher reading it back.
        """
        encode, record_key = self.entries.encode, self.entries.record_key
        added: list[Pending] = []
        for entry in entries:
            held = notification if self._held < self.MAX_HELD_NOTIFICATIONS else None
            if held is not None:
                self._held += 1
            item = Pending(entry, record_key(entry.notification_id, entry.destination_id), held)
            batch.put(item.key, encode(entry))  # no indexes on this table: nothing to read first
            added.append(item)
        if added:
            batch.on_commit(partial(self._stored, added))
        return len(added)

    def notify(self) -> None:
        """Tell a waiting consumer that entries may be due now."""
        self._wakeup.set()

    # -- consumer -----------------------------------------------------------------------------
    def due(self, now: datetime, limit: int) -> list[Pending]:
        """Claim entries due at or before `now`, earliest first.

        The caller owns what is returned until it calls `complete`, `reschedule`, `bury` or
        `release` (or the process ends, and the next start reloads it from the records).
        """
        self._ensure_loaded()
        now_ms = to_millis(now)
        heap = self._heap
        found: list[Pending] = []
        while heap and heap[0][0] <= now_ms and len(found) < limit:
            item = heapq.heappop(heap)[2]
            if item.claimed or self._waiting.get(item.ident) is not item:
                continue  # in flight, delivered, or rescheduled (a newer item stands for it)
            item.claimed = True
            found.append(item)
        return found

    def next_due_at(self) -> datetime | None:
        """When the earliest entry that can be claimed is due (None: nothing waits)."""
        self._ensure_loaded()
        heap = self._heap
        while heap and (heap[0][2].claimed or self._waiting.get(heap[0][2].ident) is not heap[0][2]):
            heapq.heappop(heap)  # not claimable: in flight, delivered or rescheduled
        return from_millis(heap[0][0]) if heap else None

    async def wait(self, timeout: float) -> None:
        """Sleep until `notify()` or `timeout` seconds, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        self._wakeup.clear()

    def get(self, notification_id: str, destination_id: str) -> OutboxEntry | None:
        return self.entries.get(notification_id, destination_id)

    def complete(self, item: Pending, batch: WriteBatch) -> None:
        batch.delete(item.key)
        batch.on_commit(partial(self._forget, item.ident))

    def reschedule(self, item: Pending, entry: OutboxEntry, batch: WriteBatch) -> None:
        """Store `entry`, the item's new state (`due_at`, `attempts`), due again at that time."""
        batch.put(item.key, self.entries.encode(entry))
        batch.on_commit(partial(self._stored, [Pending(entry, item.key)]))

    def bury(self, item: Pending, dead: DeadLetter, batch: WriteBatch) -> None:
        """Move the entry to the dead letters, where its owner can list and redeliver it."""
        self.complete(item, batch)
        self.dead_letters.put(dead, batch)

    def size(self) -> int:
        """Entries waiting or in flight, as the mirror knows them (O(1): for the metrics)."""
        self._ensure_loaded()
        return len(self._waiting)

    def depth(self) -> int:
        """Entries waiting, counted from the records (exact, but O(n): for tests and tools)."""
        return sum(1 for _ in self.store.scan(prefix(self.entries.table)))

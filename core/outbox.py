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
import time
from collections.abc import Iterable
from datetime import datetime

from core.models import DeadLetter, OutboxEntry
from core.repositories import DeadLetterRepository
from core.store.base import KVStore, WriteBatch
from core.store.collection import Collection
from core.store.keys import prefix
from core.timeutil import from_millis, to_millis


class Outbox:
    """Durable queue in the KV store; what is due when is kept in memory, in a heap.

    The records (`obx` table) are the truth and survive crashes. Finding what is due is a heap
    pop, not a store scan: scanning a RocksDB range right after deleting thousands of entries
    walks their tombstones, which made the dispatcher's claim step its slowest part. The heap is
    rebuilt from the records at start (and whenever it runs empty, so entries written by another
    `Outbox` over the same store are found too), and every item is checked against its record
    when popped: an item whose record is gone (delivered) or carries another due time
    (rescheduled: a newer item stands for it) is dropped.
    """

    RELOAD_WHEN_EMPTY_EVERY = 1.0  # seconds

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.entries: Collection[OutboxEntry] = Collection(
            store, "obx", OutboxEntry, lambda e: (e.notification_id, e.destination_id)
        )
        self.dead_letters = DeadLetterRepository(store)
        self._wakeup = asyncio.Event()
        self._heap: list[tuple[int, str, str]] = []
        self._loaded_at: float | None = None

    def reload(self) -> None:
        """Forget what the heap knows and read it again from the records."""
        self._load()

    def release(self, entries: Iterable[OutboxEntry]) -> None:
        """Give back entries taken by `due()` but never attempted (e.g. at shutdown)."""
        for entry in entries:
            heapq.heappush(self._heap, (to_millis(entry.due_at), entry.notification_id, entry.destination_id))

    def _load(self) -> None:
        self._heap = [(to_millis(e.due_at), e.notification_id, e.destination_id) for e in self.entries.scan()]
        heapq.heapify(self._heap)
        self._loaded_at = time.monotonic()

    def _ensure_loaded(self) -> None:
        if self._loaded_at is None or (
            not self._heap and time.monotonic() - self._loaded_at > self.RELOAD_WHEN_EMPTY_EVERY
        ):
            self._load()

    # -- producer -----------------------------------------------------------------------------
    def enqueue(self, entries: Iterable[OutboxEntry], batch: WriteBatch) -> int:
        """Add entries to `batch`; call `notify()` once the batch is written."""
        count = 0
        for entry in entries:
            self.entries.put(entry, batch)
            heapq.heappush(self._heap, (to_millis(entry.due_at), entry.notification_id, entry.destination_id))
            count += 1
        return count

    def notify(self) -> None:
        """Tell a waiting consumer that entries may be due now."""
        self._wakeup.set()

    # -- consumer -----------------------------------------------------------------------------
    def due(self, now: datetime, limit: int, skip: set[tuple[str, str]] | None = None) -> list[OutboxEntry]:
        """Entries due at or before `now`, earliest first, leaving out those in `skip` (in flight).

        What is returned leaves the heap: the caller owns it until it calls `complete`,
        `reschedule` or `bury` (or the process ends, and the next start reloads it).
        """
        self._ensure_loaded()
        now_ms = to_millis(now)
        found: list[OutboxEntry] = []
        taken: set[tuple[str, str]] = set()
        kept: list[tuple[int, str, str]] = []
        while self._heap and self._heap[0][0] <= now_ms and len(found) < limit:
            item = heapq.heappop(self._heap)
            ident = (item[1], item[2])
            if ident in taken:
                continue
            if skip and ident in skip:
                kept.append(item)  # in flight: its outcome decides whether this item still matters
                continue
            raw = self.store.get(self.entries.record_key(*ident))
            if raw is None:
                continue
            entry = self.entries.decode(raw)
            if to_millis(entry.due_at) != item[0]:
                continue
            taken.add(ident)
            found.append(entry)
        for item in kept:
            heapq.heappush(self._heap, item)
        return found

    def next_due_at(self) -> datetime | None:
        """When the earliest entry is due, as far as the heap knows (None: nothing waits)."""
        self._ensure_loaded()
        return from_millis(self._heap[0][0]) if self._heap else None

    async def wait(self, timeout: float) -> None:
        """Sleep until `notify()` or `timeout` seconds, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        self._wakeup.clear()

    def get(self, notification_id: str, destination_id: str) -> OutboxEntry | None:
        return self.entries.get(notification_id, destination_id)

    def complete(self, entry: OutboxEntry, batch: WriteBatch) -> None:
        batch.delete(self.entries.record_key(entry.notification_id, entry.destination_id))

    def reschedule(self, entry: OutboxEntry, batch: WriteBatch) -> None:
        """Store the entry's new `due_at`/`attempts`, and make it due again at that time."""
        self.entries.put(entry, batch)
        heapq.heappush(self._heap, (to_millis(entry.due_at), entry.notification_id, entry.destination_id))

    def bury(self, entry: OutboxEntry, dead: DeadLetter, batch: WriteBatch) -> None:
        """Move the entry to the dead letters, where its owner can list and redeliver it."""
        self.complete(entry, batch)
        self.dead_letters.put(dead, batch)

    def depth(self) -> int:
        """Entries waiting, counted from the records (exact; O(n), for metrics and tests)."""
        return sum(1 for _ in self.store.scan(prefix(self.entries.table)))

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
from collections.abc import Iterable
from datetime import datetime

from core.models import DeadLetter, OutboxEntry
from core.repositories import DeadLetterRepository
from core.store.base import KVStore, WriteBatch
from core.store.collection import Collection, Index
from core.store.keys import key, prefix
from core.timeutil import to_millis


class Outbox:
    """Durable due-time queue in the KV store, with an in-process wake-up for the consumer."""

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.entries: Collection[OutboxEntry] = Collection(
            store,
            "obx",
            OutboxEntry,
            lambda e: (e.notification_id, e.destination_id),
            [Index("due", lambda e: [(to_millis(e.due_at),)])],
        )
        self.dead_letters = DeadLetterRepository(store)
        self._wakeup = asyncio.Event()

    # -- producer -----------------------------------------------------------------------------
    def enqueue(self, entries: Iterable[OutboxEntry], batch: WriteBatch) -> int:
        """Add entries to `batch`; call `notify()` once the batch is written."""
        count = 0
        for entry in entries:
            self.entries.put(entry, batch)
            count += 1
        return count

    def notify(self) -> None:
        """Tell a waiting consumer that entries may be due now."""
        self._wakeup.set()

    # -- consumer -----------------------------------------------------------------------------
    def due(
        self,
        now: datetime,
        limit: int,
        skip: set[tuple[str, str]] | None = None,
        since: datetime | None = None,
    ) -> list[OutboxEntry]:
        """Entries due at or before `now`, earliest first, leaving out those in `skip` (in flight).

        `since` starts the scan at that due time: a consumer that knows nothing earlier is waiting
        uses it to avoid re-reading the head of the queue, where RocksDB keeps the tombstones of
        every entry it just removed.
        """
        found: list[OutboxEntry] = []
        base = prefix("ix.obx.due")
        start = base + key(to_millis(since)) if since is not None else None
        for _, record_key in self.store.scan(base, start=start, stop=base + key(to_millis(now) + 1)):
            if skip:
                # The record key is `obx\0<notification>\0<destination>`: skip in-flight entries
                # without reading and decoding them (the dispatcher skips hundreds per scan).
                _, nid, did = record_key.split(b"\x00", 2)
                if (nid.decode(), did.decode()) in skip:
                    continue
            raw = self.store.get(record_key)
            if raw is None:
                continue
            found.append(self.entries.decode(raw))
            if len(found) >= limit:
                break
        return found

    def next_due_at(self) -> datetime | None:
        """When the earliest entry is due (None: the outbox is empty)."""
        for _, entry in self.entries.scan_index("due", limit=1):
            return entry.due_at
        return None

    async def wait(self, timeout: float) -> None:
        """Sleep until `notify()` or `timeout` seconds, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        self._wakeup.clear()

    def get(self, notification_id: str, destination_id: str) -> OutboxEntry | None:
        return self.entries.get(notification_id, destination_id)

    def complete(self, entry: OutboxEntry, batch: WriteBatch) -> None:
        self.entries.delete(entry.notification_id, entry.destination_id, batch=batch)

    def reschedule(self, entry: OutboxEntry, batch: WriteBatch) -> None:
        """Store the entry's new `due_at`/`attempts`; its due-index entry moves with it."""
        self.entries.put(entry, batch)

    def bury(self, entry: OutboxEntry, dead: DeadLetter, batch: WriteBatch) -> None:
        """Move the entry to the dead letters, where its owner can list and redeliver it."""
        self.entries.delete(entry.notification_id, entry.destination_id, batch=batch)
        self.dead_letters.put(dead, batch)

    def depth(self) -> int:
        """Entries waiting (for metrics); counts index entries, not records."""
        return sum(1 for _ in self.store.scan(b"ix.obx.due\x00"))

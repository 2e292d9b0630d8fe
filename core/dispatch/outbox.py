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
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime
from functools import partial

import msgspec

from core.dispatch.partition import partition_of
from core.models import DeadLetter, Notification, OutboxEntry
from core.store.base import KVStore, WriteBatch
from core.store.collection import Collection
from core.store.keys import SEP, prefix
from core.store.repositories import DeadLetterRepository
from core.support.timeutil import from_millis, to_millis, utcnow


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
    """Durable queue in the KV store, mirrored in memory: a map of the entries and due-time heaps.

    The records (`obx` table) are the truth and survive crashes. The mirror changes through
    `WriteBatch.on_commit`, i.e. exactly when the records it mirrors are written, so claiming a
    due entry is a heap pop with no store read or decode (scanning RocksDB for due entries walks
    the tombstones of delivered ones; reading each claimed record back cost more than the claim
    itself). The mirror is rebuilt from the records at start (and whenever it
    runs empty, so entries written by another `Outbox` over the same store are found too). A heap
    item stands for its entry only while the map still holds that very `Pending` and nobody has
    claimed it: a completed entry is gone from the map, a rescheduled one was replaced by a newer
    `Pending`, and a claimed one comes back only through `release`.

    Claims are fair between accounts: each owner has its own heap, and `due()` takes one entry
    from each owner with due entries in turn (earliest first within an owner), so an account
    with 100k entries due ahead of another's cannot fill the claim limit with its own. Owners
    that are not due yet wait in a heap by their earliest entry (`_later`, a hint: an owner may
    be in it with an earlier time than its earliest live entry, and is then looked at again).

    A process keeps one `Outbox` per store (the runtime hands the same one to the watcher, the
    dispatcher and the services): a second one would see the first one's writes only when its
    own mirror runs empty and is reloaded.

    Cluster mode (docs/CLUSTER.md point 6): `partitions` is the set of delivery partitions this
    node holds (`core.dispatch.partition`; None, on one node: all of them). The mirror holds only
    owned entries, so `due()` hands out nothing else; `adopt(p)` and `drop(p)` follow the leases.
    Entries written by the local watcher join through `on_commit` as on one node (holding their
    notification); with `follow`, entries written on other nodes (and deletions: a partition
    that moved and was delivered there) arrive through `store.observe`. Following decodes every
    outbox record any node writes, so it is off on one node, where every write is local.
    """

    RELOAD_WHEN_EMPTY_EVERY = 1.0  # seconds
    #: At most this many entries hold their handed-over notification: beyond it (a huge fan-out,
    #: a dispatcher far behind) notifications are read back from the store instead of held.
    MAX_HELD_NOTIFICATIONS = 20_000

    def __init__(
        self,
        store: KVStore,
        *,
        clock: Callable[[], datetime] = utcnow,
        partitions: set[int] | None = None,
        follow: bool = False,
    ) -> None:
        self.store = store
        self.partitions = set(partitions) if partitions is not None else None
        self.follow = follow
        self._partition_of: dict[str, int] = {}  # by destination id: hashing once per destination
        # The clock that spaces reloads when the mirror is empty: injected so tests move time
        # instead of waiting out RELOAD_WHEN_EMPTY_EVERY (the dispatcher takes the same clock).
        self.clock = clock
        self.entries: Collection[OutboxEntry] = Collection(
            store, "obx", OutboxEntry, lambda e: (e.notification_id, e.destination_id)
        )
        self.dead_letters = DeadLetterRepository(store)
        self._wakeup = asyncio.Event()
        self._waiting: dict[tuple[str, str], Pending] = {}
        self._heaps: dict[str, list[tuple[int, int, Pending]]] = {}  # by owner
        self._later: list[tuple[int, int, str]] = []  # (earliest due, tie, owner) of owners not in turn
        self._turns: deque[str] = deque()  # owners with entries due, in round-robin order
        self._in_turn: set[str] = set()  # == set(self._turns)
        self._pushed = itertools.count()  # ties in due time go first-in, first-out
        self._loaded_at = clock()
        self._held = 0  # entries holding a notification, in the mirror or in a batch not yet written
        self._record_prefix = prefix(self.entries.table)
        self._load()  # now, so entries committed from here on join the mirror instead of a later scan
        if follow:
            store.observe(self._observed)

    # -- ownership (cluster mode) ---------------------------------------------------------------
    def partition(self, destination_id: str) -> int:
        found = self._partition_of.get(destination_id)
        if found is None:
            if len(self._partition_of) > 100_000:
                self._partition_of.clear()
            found = self._partition_of[destination_id] = partition_of(destination_id)
        return found

    def owns(self, entry: OutboxEntry) -> bool:
        """True if this node delivers `entry` (always on one node)."""
        return self.partitions is None or self.partition(entry.destination_id) in self.partitions

    def adopt(self, partition: int) -> int:
        """Take over `partition`: its entries join the mirror, due as their records say.

        A scan of the whole table, filtered: partitions move rarely. Returns how many joined.
        """
        if self.partitions is None:
            return 0
        self.partitions.add(partition)
        record_key = self.entries.record_key
        added: list[Pending] = []
        for entry in self.entries.scan():
            ident = (entry.notification_id, entry.destination_id)
            if ident not in self._waiting and self.partition(entry.destination_id) == partition:
                added.append(Pending(entry, record_key(*ident)))
        self._stored(added)
        if added:
            self.notify()
        return len(added)

    def drop(self, partition: int) -> int:
        """Give up `partition`: its entries leave the mirror, so `due()` no longer hands them out.

        Entries claimed now stay the caller's: those already sent have their results committed (a
        delete or a reschedule in the store, which the new holder follows), those not sent yet the
        dispatcher hands back unsent (`owns`), and none comes back into this mirror (`release` and
        `reschedule` put back only entries the mirror still holds or owns). The new holder may
        deliver one that was on the wire too: a duplicate, never a loss.
        """
        if self.partitions is None:
            return 0
        self.partitions.discard(partition)
        gone = [ident for ident in self._waiting if self.partition(ident[1]) == partition]
        for ident in gone:
            self._forget(ident)
        return len(gone)

    def _observed(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        """A write was applied (here or on another node): follow the outbox records it changed.

        Idempotent with the local `on_commit` path: an entry the mirror already holds as stored
        is left alone (with the notification it may hold); `_stored` replaces what this adds
        when the local writer's callbacks run after it.
        """
        start, decode = self._record_prefix, self.entries.decode
        added: list[Pending] = []
        for key, value in ops:
            if not key.startswith(start):
                continue
            if value is None:
                self._forget_key(key)
                continue
            entry = decode(value)
            if not self.owns(entry):
                continue
            ident = (entry.notification_id, entry.destination_id)
            known = self._waiting.get(ident)
            if known is None or known.entry != entry:
                added.append(Pending(entry, key))
        if added:
            self._stored(added)
            self.notify()

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
        for entry in self.entries.scan() if self.partitions is None or self.partitions else ():
            if self.partitions is not None and self.partition(entry.destination_id) not in self.partitions:
                continue
            ident = (entry.notification_id, entry.destination_id)
            item = known.get(ident)
            if item is None or item.entry != entry:  # else keep it, with the notification it may hold
                item = Pending(entry, record_key(*ident))
            self._waiting[ident] = item
        self._held = sum(1 for item in self._waiting.values() if item.notification is not None)
        self._heaps, self._later, self._in_turn = {}, [], set()
        self._turns.clear()
        for item in self._waiting.values():
            if not item.claimed:  # in flight: its outcome puts it back if it is still due
                heap = self._heaps.setdefault(item.entry.owner_id, [])
                heap.append((to_millis(item.entry.due_at), next(self._pushed), item))
        for owner, heap in self._heaps.items():
            heapq.heapify(heap)
            self._later.append((heap[0][0], next(self._pushed), owner))
        heapq.heapify(self._later)
        self._loaded_at = self.clock()

    def _ensure_loaded(self) -> None:
        if self._heaps or self.follow:  # a follower learns of every write: nothing to look for
            return
        since = (self.clock() - self._loaded_at).total_seconds()
        if not 0 <= since <= self.RELOAD_WHEN_EMPTY_EVERY:  # a wall clock set back reloads too
            self._load()

    def _push(self, item: Pending) -> None:
        owner = item.entry.owner_id
        due_ms = to_millis(item.entry.due_at)
        heap = self._heaps.get(owner)
        if heap is None:
            heap = self._heaps[owner] = []
        elif heap[0][0] <= due_ms:  # not the owner's earliest: its place in `_later` stands
            heapq.heappush(heap, (due_ms, next(self._pushed), item))
            return
        heapq.heappush(heap, (due_ms, next(self._pushed), item))
        if owner not in self._in_turn:
            heapq.heappush(self._later, (due_ms, next(self._pushed), owner))

    def _live_top(self, owner: str) -> int | None:
        """Due time (ms) of the owner's earliest claimable entry, dropping dead heap items first
        (claimed, delivered or rescheduled); None, and the owner's heap is gone, when it has none."""
        heap = self._heaps.get(owner)
        if heap is None:
            return None
        waiting = self._waiting
        while heap:
            item = heap[0][2]
            if not item.claimed and waiting.get(item.ident) is item:
                return heap[0][0]
            heapq.heappop(heap)
        del self._heaps[owner]
        return None

    def _take_turns(self, now_ms: int) -> None:
        """Owners whose earliest entry is due by `now_ms` join the round-robin."""
        later, in_turn = self._later, self._in_turn
        while later and later[0][0] <= now_ms:
            owner = heapq.heappop(later)[2]
            if owner not in in_turn and owner in self._heaps:
                in_turn.add(owner)
                self._turns.append(owner)

    def _leave_turns(self) -> None:
        """The owner at the front of the round-robin has nothing due now: back to `_later`."""
        owner = self._turns.popleft()
        self._in_turn.discard(owner)
        top = self._live_top(owner)
        if top is not None:
            heapq.heappush(self._later, (top, next(self._pushed), owner))

    def _stored(self, items: list[Pending]) -> None:
        owned = self.partitions
        for item in items:
            if owned is not None and self.partition(item.entry.destination_id) not in owned:
                self._dropped(item)  # another node's partition (or one given up): not ours to deliver
                continue
            replaced = self._waiting.get(item.ident)
            if replaced is not item:
                self._dropped(replaced)
            self._waiting[item.ident] = item
            self._push(item)

    def _forget(self, ident: tuple[str, str]) -> None:
        self._dropped(self._waiting.pop(ident, None))

    def _forget_key(self, key: bytes) -> None:
        """An entry's record was deleted (by whichever node): it leaves the mirror."""
        parts = key[len(self._record_prefix) :].split(SEP, 1)  # notification id, destination id
        if len(parts) == 2:
            self._forget((parts[0].decode(), parts[1].decode()))

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
    def due(self, now: datetime, limit: int, room: Callable[[str], int] | None = None) -> list[Pending]:
        """Claim up to `limit` entries due at or before `now`: one per owner in turn, each
        owner's earliest first. `room(owner)`, when given, is how many more of that owner's
        entries the caller takes now (a per-account cap); an owner without room keeps its turn.

        The caller owns what is returned until it calls `complete`, `reschedule`, `bury` or
        `release` (or the process ends, and the next start reloads it from the records).
        """
        self._ensure_loaded()
        now_ms = to_millis(now)
        self._take_turns(now_ms)
        turns, heaps = self._turns, self._heaps
        found: list[Pending] = []
        taken: dict[str, int] = {}
        passed = 0  # owners in a row that had no room
        while turns and len(found) < limit and passed < len(turns):
            owner = turns[0]
            top = self._live_top(owner)
            if top is None or top > now_ms:
                self._leave_turns()
                continue
            if room is not None:
                count = taken.get(owner, 0)
                if count >= room(owner):
                    turns.rotate(-1)
                    passed += 1
                    continue
                taken[owner] = count + 1
            heap = heaps[owner]
            item = heapq.heappop(heap)[2]
            if not heap:
                del heaps[owner]  # it leaves the turns when they come round to it
            item.claimed = True
            found.append(item)
            turns.rotate(-1)
            passed = 0
        return found

    def next_due_at(self, room: Callable[[str], int] | None = None) -> datetime | None:
        """When the earliest entry that can be claimed is due (None: nothing waits).

        With `room` (as for `due`), owners whose turn has come but who have no room do not
        count: the caller would wake only to claim nothing. An owner not due yet counts even
        without room: when its time comes it joins the turns, and from then on it does not.
        """
        self._ensure_loaded()
        earliest: int | None = None
        for owner in list(self._turns):
            top = self._live_top(owner)
            if top is not None and (room is None or room(owner) > 0) and (earliest is None or top < earliest):
                earliest = top
        later = self._later
        while later:
            hinted, _, owner = later[0]
            if owner in self._in_turn:
                heapq.heappop(later)  # counted above
                continue
            top = self._live_top(owner)
            if top is None:
                heapq.heappop(later)
                continue
            if top != hinted:  # its earliest entry went: the owner's place moves
                heapq.heapreplace(later, (top, next(self._pushed), owner))
                continue
            if earliest is None or top < earliest:
                earliest = top
            break
        return from_millis(earliest) if earliest is not None else None

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

    def hasten(self, entry: OutboxEntry, now: datetime, batch: WriteBatch) -> OutboxEntry:
        """Make a waiting entry (not in flight: it is due later) due at `now`, its retry
        schedule otherwise kept; returns the entry as it will be stored."""
        sooner = msgspec.structs.replace(entry, due_at=now)
        entry_key = self.entries.record_key(entry.notification_id, entry.destination_id)
        batch.put(entry_key, self.entries.encode(sooner))
        batch.on_commit(partial(self._stored, [Pending(sooner, entry_key)]))
        return sooner

    def bury(self, item: Pending, dead: Iterable[DeadLetter], batch: WriteBatch) -> None:
        """Move the entry to the dead letters, where its owner can list and redeliver it (one
        for each notification of a bundle)."""
        self.complete(item, batch)
        for letter in dead:
            self.dead_letters.put(letter, batch)

    def size(self) -> int:
        """Entries waiting or in flight, as the mirror knows them (O(1): for the metrics)."""
        self._ensure_loaded()
        return len(self._waiting)

    def depth(self) -> int:
        """Entries waiting, counted from the records (exact, but O(n): for tests and tools)."""
        return sum(1 for _ in self.store.scan(prefix(self.entries.table)))

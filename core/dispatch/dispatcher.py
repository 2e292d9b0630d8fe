"""The dispatcher: takes due outbox entries and delivers them, at least once, on a retry schedule.

How an entry flows:
1. `fill()` claims due entries from the outbox's in-memory mirror, up to `max_claimed`, taking
   accounts in turn (each account's earliest first) and at most `max_claimed_per_account` of
   any one account; past `max_claimed`, an account holding fewer than `per_account` claims may
   still claim up to that many (within twice `max_claimed`), so accounts whose backlogs fill the
   claims cannot keep a newcomer's entries unclaimed. Claimed entries stay in the outbox (that
   is what makes delivery survive a crash) and are only skipped by later claims.
2. Up to `workers` long-lived worker tasks deliver them, at most `per_destination` at once to any
   one destination, `per_account` for any one account, `per_channel` over a rate-limited
   channel (Telegram, Discord), `failing` to destinations that are failing and `slow` to
   destinations that answer slowly (an average of their recent latencies above
   `slow_after_ms`); an entry that has to wait for any of these waits in memory.
   Destinations come from a cache that every committed write to them clears; the notification is
   the one the watcher handed over with the entry, or is read from the store (retries, after a
   restart).
3. Each finished delivery is recorded by a flush, which runs once per loop iteration for all
   deliveries that finished in it: one WriteBatch holds every attempt record together with the
   outbox change it implies (removed on success, rescheduled, or buried as a dead letter), and
   goes to the store with `await store.commit(batch)`. A crash before that write means the
   delivery is made again, with the same `webhook-id` and body. One commit is in flight at a
   time: in cluster mode a commit is a round trip through the replicated log (1-3 ms), and the
   deliveries that finish meanwhile gather for the next one, which starts as soon as it returns,
   so claiming and sending never wait for a commit and the batches grow with the load.
4. The loop sleeps until `outbox.notify()` (the watcher calls it after committing a block; the
   dispatcher calls it when capacity frees up) or until the next entry is due: no polling.

Decisions:
- No account can starve another. Without the account caps, one account's flood of due entries
  filled every claim (the others' entries were never even claimed), and 16 of its webhooks
  answering 200 after 14 s held all 64 workers: they succeed, so the failing pool never applied.
  A slow endpoint is found by measuring; it then shares the `slow` pool, and leaves it when its
  latency drops again. Before its first answer, a delivery still running after `slow_after_ms`
  marks its destination slow and gives its worker slot back (up to `workers` such deliveries),
  so several accounts' unmeasured slow endpoints cannot hold every worker either.
- A destination that is deleted, disabled, or no longer its owner's: the entry is removed and the
  attempt recorded as "skipped" (the notification stays in the history).
- A delivery the channel defers (its own rate limit would hold the worker too long) is due again
  after the wait, with no attempt counted or logged.
- A permanent failure (Telegram 403, Discord 403/404, HTTP 410) buries the entry at once and,
  when the channel says so, disables the destination.
- A destination failing without a single success for `disable_after` (5 days) is disabled; the
  entry is buried. Either way the owner is told through another of their enabled destinations
  (chat destinations first) by a system notice that goes through this same outbox, so it is
  durable, retried and listed in their history like any notification.
- While the store refuses writes (a full disk), nothing is claimed: what was delivered then could
  not be recorded and would be delivered again. It looks again every second (`STORE_RECHECK_S`).
- Attempts the store refuses to record anyway (the disk filled during the delivery): their
  entries go back to the outbox and the dispatcher stops with `DispatchStalledError`, for its
  supervisor to restart it with a growing backoff (and /ready to show why). Going on would
  deliver them again as fast as endpoints answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import msgspec

from core.config import DispatchConfig
from core.dispatch.channel import Channel, DeliveryResult, clip
from core.dispatch.notices import queue_notice
from core.dispatch.outbox import Outbox, Pending
from core.errors import InternalError, StoreUnavailableError
from core.models import (
    Chain,
    DeadLetter,
    DeliveryAttempt,
    DeliveryOutcome,
    Destination,
    Notification,
    OutboxEntry,
)
from core.store.base import WriteBatch
from core.store.collection import RecordCache
from core.store.repositories import Repositories
from core.support.incidents import IncidentLog
from core.support.timeutil import utcnow

log = logging.getLogger("mempools.dispatch")

#: The pool of destinations that are failing (`DispatchLimits.failing`); not a channel kind.
FAILING = "(failing)"
#: The pool of destinations that answer slowly (`DispatchLimits.slow`); not a channel kind.
SLOW = "(slow)"
#: Weight of the newest attempt in a destination's average latency (an EWMA): a few slow
#: answers in a row make it slow, a few fast ones make it fast again.
LATENCY_WEIGHT = 0.3

#: While the store refuses writes, the dispatcher looks again this often (seconds).
STORE_RECHECK_S = 1.0
#: A flush's commit running longer than this (a cluster's change log without a leader, 4-9 s)
#: stops new sends until it returns: what is delivered meanwhile could not be recorded, and each
#: such delivery is one more that may be sent again if this node's partitions move.
STALLED_COMMIT_S = 1.0

#: Waits after attempts 1..7 (attempt 1 is immediate): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_DELAYS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


_CONFIGURED = DispatchConfig()  # the defaults of the `[dispatch]` keys are the limits' defaults


def _chat_channel_caps() -> dict[str, int]:
    return {"telegram": _CONFIGURED.telegram_workers, "discord": _CONFIGURED.discord_workers}


class DispatchLimits(msgspec.Struct, kw_only=True, frozen=True):
    workers: int = _CONFIGURED.workers
    per_destination: int = _CONFIGURED.per_destination
    # At most this many workers per rate-limited channel: Telegram allows 30 messages/s in all
    # and a worker waits out the rate limiter, so without a cap a burst to many chats would hold
    # every worker and starve the webhooks.
    per_channel: dict[str, int] = msgspec.field(default_factory=_chat_channel_caps)
    # At most this many workers on destinations that are failing (an endpoint that hangs holds a
    # worker until the timeout), so the healthy ones keep the rest.
    failing: int = _CONFIGURED.failing_workers
    # At most this many deliveries of one account at once: the others keep the rest.
    per_account: int = _CONFIGURED.per_account
    # At most this many workers on destinations whose average latency is above `slow_after_ms`
    # (an endpoint answering 200 after 14 s holds a worker as long as a hanging one).
    slow: int = _CONFIGURED.slow_workers
    slow_after_ms: float = _CONFIGURED.slow_after_ms
    max_claimed: int = 512
    # At most this many of `max_claimed` for one account, so one account's backlog cannot fill
    # the claims (what waits for a worker is claimed too) and leave the others' unclaimed.
    max_claimed_per_account: int = 128
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    disable_after: timedelta = timedelta(days=5)
    max_retry_after: float = 24 * 3600.0
    idle_wait: float = 60.0

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays) + 1

    @classmethod
    def from_config(cls, config: DispatchConfig) -> DispatchLimits:
        return cls(
            workers=config.workers,
            per_destination=config.per_destination,
            per_channel={"telegram": config.telegram_workers, "discord": config.discord_workers},
            failing=config.failing_workers,
            per_account=config.per_account,
            slow=config.slow_workers,
            slow_after_ms=config.slow_after_ms,
        )


def retry_delay(attempts_made: int, delays: tuple[float, ...] = RETRY_DELAYS) -> float | None:
    """Seconds to wait after `attempts_made` failed attempts; None when the schedule is spent."""
    return delays[attempts_made - 1] if 1 <= attempts_made <= len(delays) else None


def _unpark(parked: dict[str, deque[Pending]], key: str, ready: deque[Pending]) -> bool:
    """Move the first entry waiting under `key` to the front of `ready`; False if none waits."""
    queue = parked.get(key)
    if not queue:
        return False
    ready.appendleft(queue.popleft())
    if not queue:
        del parked[key]
    return True


class DispatchStalledError(InternalError):
    """The dispatcher stopped because it cannot record what it delivers."""


class _Done(msgspec.Struct):
    pending: Pending
    started_at: datetime
    result: DeliveryResult | None = None  # None: skipped
    skip_reason: str | None = None


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        repos: Repositories,
        channels: Mapping[str, Channel],
        chains: Callable[[str], Chain | None],
        *,
        clock: Callable[[], datetime] = utcnow,
        limits: DispatchLimits | None = None,
        on_attempt: Callable[[str, str, float | None], None] | None = None,
    ) -> None:
        self.on_attempt = on_attempt  # (channel kind, outcome, latency seconds): for metrics
        self.outbox = outbox
        self.repos = repos
        self.channels = dict(channels)
        self.chains = chains
        self.clock = clock
        self.limits = limits or DispatchLimits()
        self._destinations = RecordCache(repos.destinations)
        self._claimed: set[tuple[str, str]] = set()
        self._claimed_by_owner: dict[str, int] = {}
        self._ready: deque[Pending] = deque()
        self._parked: dict[str, deque[Pending]] = {}  # by destination id
        self._inflight: dict[str, int] = {}
        self._parked_by_owner: dict[str, deque[Pending]] = {}
        self._owner_load: dict[str, int] = {}
        self._latency: dict[str, float] = {}  # by destination id: average of recent attempts, ms
        self._running: dict[Pending, float] = {}  # deliveries in flight: when they started (loop time)
        self._overdue: set[Pending] = set()  # ... those running longer than `slow_after_ms`
        self._watch: asyncio.TimerHandle | None = None  # looks for overdue deliveries while saturated
        # Capped pools of workers: each rate-limited channel, the destinations that are failing,
        # and those that are slow.
        self._pool_caps = {**self.limits.per_channel, FAILING: self.limits.failing, SLOW: self.limits.slow}
        self._parked_by_pool: dict[str, deque[Pending]] = {}
        self._pool_load: dict[str, int] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._done: list[_Done] = []
        self._flush_handle: asyncio.Handle | None = None
        self._flushing: asyncio.Task[None] | None = None  # the flush whose commit is in flight
        self._settled = asyncio.Event()
        self._unrecorded: Exception | None = None  # why the last flush could not be written
        self._incidents = IncidentLog(log)  # outlives restarts by the supervisor: one line per incident
        self._draining = False
        self._paused = False  # the store refused writes at the last `fill()`
        self._commit_started: datetime | None = None  # when the flush commit in flight began
        self._encode_attempt = msgspec.msgpack.Encoder().encode
        self.delivered = 0  # counters for metrics and the benchmark
        self.failed = 0

    # -- the loop -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, drain_deadline_s: float = 10.0) -> None:
        """Deliver until `stop` is set, then drain (in-flight deliveries get `drain_deadline_s`)."""
        self._draining = False
        waker = asyncio.create_task(self._wake_on(stop))
        try:
            while not stop.is_set():
                self._raise_if_unrecorded()
                self.fill()
                await self.outbox.wait(self._idle_timeout())
        finally:
            waker.cancel()
            await self.drain(drain_deadline_s)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.outbox.notify()

    def _idle_timeout(self) -> float:
        if self._paused:
            return STORE_RECHECK_S  # the store refuses writes: look again soon
        if len(self._claimed) >= 2 * self.limits.max_claimed:
            return self.limits.idle_wait  # a flush will notify when room frees up
        upcoming = self.outbox.next_due_at(self._claim_room)  # likewise for accounts without room
        if upcoming is None:
            return self.limits.idle_wait
        wait = (upcoming - self.clock()).total_seconds()
        return min(max(wait, 0.0), self.limits.idle_wait)

    async def drain(self, deadline_s: float) -> None:
        """Stop taking work; let in-flight deliveries finish for up to `deadline_s`, record them.

        Deliveries still running at the deadline are cancelled; their entries are still in the
        outbox, so they are delivered again after restart (at least once, never lost).
        """
        self._draining = True
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        parked = [*self._parked.values(), *self._parked_by_pool.values(), *self._parked_by_owner.values()]
        unstarted = [*self._ready, *(item for queue in parked for item in queue)]
        for item in unstarted:
            self._unclaim(item)
        self.outbox.release(unstarted)
        self._ready.clear()
        self._parked.clear()
        self._parked_by_pool.clear()
        self._parked_by_owner.clear()
        if self._workers:
            _, pending = await asyncio.wait(set(self._workers), timeout=max(deadline_s, 0.0))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("drain deadline passed; %d deliveries will be retried after restart", len(pending))
        await self.flushed()

    async def flushed(self) -> None:
        """Record every finished delivery: wait for the flush in flight, then flush the rest."""
        while self._flushing is not None or self._done:
            if self._flushing is None:
                self._flush()
            if self._flushing is not None:
                await asyncio.shield(self._flushing)

    async def pump(self) -> int:
        """Deliver every entry due now (by the clock) and wait until all are recorded.

        For tests and one-shot tools: `run()` is the long-running form.
        """
        self._draining = False
        total = 0
        while True:
            claimed = self.fill()
            total += claimed
            if not claimed and not self._workers and not self._done and not self._ready and not self._flushing:
                return total
            self._settled.clear()
            if self._workers or self._done or self._flushing:
                await self._settled.wait()
            self._raise_if_unrecorded()

    def _raise_if_unrecorded(self) -> None:
        """Stop when attempts could not be recorded (a full disk, a broken store).

        Their entries are back in the outbox; going on would deliver them again and again as
        fast as the endpoints answer. Raising hands the dispatcher to its supervisor, which
        restarts it with a growing backoff and shows the error in /ready.
        """
        if self._unrecorded is not None:
            error, self._unrecorded = self._unrecorded, None
            raise DispatchStalledError(f"cannot record delivery attempts: {error}") from error

    # -- claiming and delivering --------------------------------------------------------------
    def fill(self) -> int:
        """Claim due entries up to the limits and put workers on them; returns how many were claimed.

        Nothing is claimed while the store refuses writes (a full disk): what was delivered then
        could not be recorded, so it would be delivered again and again until space is back.
        """
        if self._draining:
            return 0
        if not self.outbox.store.accepts_writes() or self._commit_stalled():
            self._paused = True
            return 0
        self._paused = False
        now, limit = self.clock(), self.limits.max_claimed
        count = self._claim(now, limit - len(self._claimed), self._shared_room)
        count += self._claim(now, 2 * limit - len(self._claimed), self._reserved_room)
        self._staff()
        return count

    def _claim(self, now: datetime, limit: int, room: Callable[[str], int]) -> int:
        if limit <= 0:
            return 0
        claimed = self.outbox.due(now, limit, room)
        by_owner = self._claimed_by_owner
        for item in claimed:
            self._claimed.add(item.ident)
            owner = item.entry.owner_id
            by_owner[owner] = by_owner.get(owner, 0) + 1
        self._ready.extend(claimed)
        return len(claimed)

    def _shared_room(self, owner: str) -> int:
        """How many more of `owner`'s entries may be claimed within `max_claimed`."""
        return self.limits.max_claimed_per_account - self._claimed_by_owner.get(owner, 0)

    def _reserved_room(self, owner: str) -> int:
        """... and beyond it: up to `per_account`, so a newcomer gets its share at once."""
        return self.limits.per_account - self._claimed_by_owner.get(owner, 0)

    def _claim_room(self, owner: str) -> int:
        """How many more of `owner`'s entries may be claimed now, one way or the other."""
        if len(self._claimed) < self.limits.max_claimed:
            return max(self._shared_room(owner), self._reserved_room(owner))
        return self._reserved_room(owner)

    def _unclaim(self, item: Pending) -> None:
        claimed = self._claimed
        if item.ident in claimed:
            claimed.remove(item.ident)
            owner = item.entry.owner_id
            left = self._claimed_by_owner[owner] - 1
            if left:
                self._claimed_by_owner[owner] = left
            else:
                del self._claimed_by_owner[owner]

    def _staff(self) -> None:
        """Put workers on ready entries, up to the limit.

        A worker is started with its first entry already taken (so it is in flight from then
        on), keeps taking entries while there are any (one task per delivery cost more than the
        rest of the bookkeeping), and ends when nothing is ready: an idle dispatcher holds no
        tasks, and `fill()` starts them again.
        """
        limit = self.limits.workers
        limit += min(len(self._overdue), limit)
        while len(self._workers) < limit and (taken := self._take()) is not None:
            self._workers.add(asyncio.create_task(self._work(*taken)))
        if self._ready and len(self._workers) >= limit and self._watch is None and not self._draining:
            self._watch = asyncio.get_running_loop().call_later(
                self.limits.slow_after_ms / 4000, self._find_overdue
            )  # saturated: a worker held by a slow delivery would keep the ready ones waiting

    def _find_overdue(self) -> None:
        """Deliveries running longer than `slow_after_ms` give their worker slot back, and their
        destination counts as slow from now on (its next entries go to the `slow` pool)."""
        self._watch = None
        now = asyncio.get_running_loop().time()
        threshold = self.limits.slow_after_ms / 1000
        latency, overdue = self._latency, self._overdue
        for item, started in self._running.items():
            if item not in overdue and now - started > threshold:
                overdue.add(item)
                did = item.entry.destination_id
                latency[did] = max(latency.get(did, 0.0), (now - started) * 1000)
        self._staff()

    async def _work(self, item: Pending, pool: str | None) -> None:
        running, overdue, clock = self._running, self._overdue, asyncio.get_running_loop().time
        moved = False  # entries the last delivery unparked, for this worker or others to take
        try:
            while True:
                running[item] = clock()
                try:
                    done = await self._attempt(item)
                except asyncio.CancelledError:
                    # Cancelled at the drain deadline: unrecorded, so due again as it was.
                    self._unclaim(item)
                    self.outbox.release([item])
                    raise
                finally:
                    del running[item]
                    overdue.discard(item)
                    moved = self._free(item, pool)
                if done.result is not None and done.result.latency_ms is not None:
                    self._measured(item.entry.destination_id, done.result.latency_ms)
                self._done.append(done)
                if self._flush_handle is None:
                    self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
                if len(self._workers) - len(overdue) > self.limits.workers:
                    break  # others were started while this one was overdue
                taken = self._take()
                if moved and self._ready:
                    self._staff()  # more was unparked than this worker takes
                moved = False
                if taken is None:
                    break
                item, pool = taken
        finally:
            # Synchronously, not in a done callback: `pump()` must see this worker gone by the
            # time the flush it scheduled has run.
            self._workers.discard(asyncio.current_task())
            if moved:
                self._staff()

    def _take(self) -> tuple[Pending, str | None] | None:
        """The next ready entry that may start now, with the capped pool it counts in (or None).

        The others wait in memory behind a delivery that frees their slot: one to the same
        destination (`per_destination`), of the same account (`per_account`), or in the same
        pool: a rate-limited channel (`per_channel`), or the destinations that are failing
        (`failing`) or slow (`slow`).
        """
        cap, ready, inflight, by_pool = self.limits.per_destination, self._ready, self._inflight, self._pool_load
        account_cap, by_owner = self.limits.per_account, self._owner_load
        if self._commit_stalled():
            return None  # nothing new on the wire until the results so far are recorded
        owns = self.outbox.owns
        while ready and not self._draining:
            item = ready.popleft()
            if not owns(item.entry):  # its partition moved to another node since it was claimed
                self.outbox.release((item,))  # not sent here: the new holder has it (none come back)
                continue
            did = item.entry.destination_id
            busy = inflight.get(did, 0)
            if busy >= cap:
                self._parked.setdefault(did, deque()).append(item)
                continue
            owner = item.entry.owner_id
            owner_busy = by_owner.get(owner, 0)
            if owner_busy >= account_cap:
                self._parked_by_owner.setdefault(owner, deque()).append(item)
                continue
            pool = self._pool(did)
            if pool is not None:
                if by_pool.get(pool, 0) >= self._pool_caps[pool]:
                    self._parked_by_pool.setdefault(pool, deque()).append(item)
                    continue
                by_pool[pool] = by_pool.get(pool, 0) + 1
            inflight[did] = busy + 1
            by_owner[owner] = owner_busy + 1
            return item, pool
        return None

    def _commit_stalled(self) -> bool:
        started = self._commit_started
        return started is not None and (self.clock() - started).total_seconds() > STALLED_COMMIT_S

    def _pool(self, did: str) -> str | None:
        destination = self._destinations.get(did)
        if destination is None:
            return None
        if destination.kind in self._pool_caps:
            return destination.kind
        if destination.failing_since is not None:
            return FAILING
        return SLOW if self._latency.get(did, 0.0) > self.limits.slow_after_ms else None

    def _measured(self, did: str, latency_ms: float) -> None:
        """Fold one attempt's latency into the destination's average (what makes it slow)."""
        average = self._latency.get(did)
        self._latency[did] = latency_ms if average is None else average + LATENCY_WEIGHT * (latency_ms - average)

    def _free(self, item: Pending, pool: str | None) -> bool:
        """A delivery ended: free its slots and move up the entries that were waiting for them.

        True if any moved up. The worker that ended the delivery takes the first of them itself
        (starting a task per delivery instead cost more than the rest of the bookkeeping).
        """
        did, owner = item.entry.destination_id, item.entry.owner_id
        left = self._inflight[did] - 1
        if left:
            self._inflight[did] = left
        else:
            del self._inflight[did]
        left = self._owner_load[owner] - 1
        if left:
            self._owner_load[owner] = left
        else:
            del self._owner_load[owner]
        moved = _unpark(self._parked, did, self._ready)
        moved |= _unpark(self._parked_by_owner, owner, self._ready)
        if pool is not None:
            self._pool_load[pool] -= 1
            moved |= _unpark(self._parked_by_pool, pool, self._ready)
        return moved

    async def _attempt(self, item: Pending) -> _Done:
        entry = item.entry
        started_at = self.clock()
        try:
            destination = self._destinations.get(entry.destination_id)
            if destination is None:
                return _Done(item, started_at, skip_reason="destination was deleted")
            if destination.owner_id != entry.owner_id:
                return _Done(item, started_at, skip_reason="destination belongs to another account")
            if not destination.enabled:
                reason = f"destination is disabled ({destination.disabled_reason or 'by its owner'})"
                return _Done(item, started_at, skip_reason=reason)
            notification = item.notification or self.repos.notifications.get(entry.notification_id)
            if notification is None:
                return _Done(item, started_at, skip_reason="notification is no longer stored")
            channel = self.channels.get(destination.kind)
            if channel is None:
                missing = DeliveryResult(ok=False, error=f"no {destination.kind} channel is configured")
                return _Done(item, started_at, missing)
            chain = self.chains(notification.chain_id)
            if entry.bundle:
                result = await self._deliver_bundle(channel, [notification, *self._bundled(entry)], destination, chain)
            else:
                result = await channel.deliver(notification, destination, chain)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("delivery of %s to %s failed unexpectedly", entry.notification_id, entry.destination_id)
            result = DeliveryResult(ok=False, error=clip(f"internal error: {type(exc).__name__}: {exc}"))
        return _Done(item, started_at, result)

    def _bundled(self, entry: OutboxEntry) -> list[Notification]:
        """The other notifications an entry delivers in its one message, those still stored."""
        found = (self.repos.notifications.get(i) for i in entry.bundle)
        return [n for n in found if n is not None]

    @staticmethod
    async def _deliver_bundle(
        channel: Channel, notifications: list[Notification], destination: Destination, chain: Chain | None
    ) -> DeliveryResult:
        deliver = getattr(channel, "deliver_bundle", None)
        if deliver is None:  # bundles go to chats only (core.watch.grouping): a bug, not an endpoint's fault
            return DeliveryResult(ok=False, permanent=True, error=f"the {channel.kind} channel cannot send bundles")
        result: DeliveryResult = await deliver(notifications, destination, chain)
        return result

    # -- recording ----------------------------------------------------------------------------
    def _flush(self) -> None:
        """Start recording the finished deliveries, unless a flush is in flight (it takes them
        when its commit returns)."""
        self._flush_handle = None
        if self._flushing is not None:
            return
        if not self._done:
            self._settled.set()
            return
        self._flushing = asyncio.get_running_loop().create_task(self._flushes())

    async def _flushes(self) -> None:
        """Commit batches of finished deliveries, one at a time, until none is left."""
        try:
            while self._done:
                done, self._done = self._done, []
                self._commit_started = self.clock()
                try:
                    await self._commit(done)
                finally:
                    self._commit_started = None
        finally:
            self._flushing = None
            self._settled.set()
            if self._paused or (self._ready and not self._workers):
                self.outbox.notify()  # sends stopped for this commit: take them up again now

    async def _commit(self, done: list[_Done]) -> None:
        """Record `done` in one batch, then release their claims."""
        batch = WriteBatch()
        changed: dict[str, Destination] = {}
        try:
            now = self.clock()
            for item in done:
                self._record(item, now, batch, changed)
            for destination in changed.values():
                self.repos.destinations.put(destination, batch)
            await self.outbox.store.commit(batch)
            self._incidents.resolved("dispatch:store")
        except Exception as exc:
            if isinstance(exc, StoreUnavailableError):  # a full disk: expected, logged once per incident
                self._incidents.failure(
                    "dispatch:store", "cannot record %d delivery attempts (%s); they will be made again", len(done), exc
                )
            else:
                log.exception("cannot record %d delivery attempts; they will be made again", len(done))
            self.outbox.release([item.pending for item in done])  # their records are unchanged
            self._unrecorded = exc
        finally:
            for item in done:
                self._unclaim(item.pending)
            # Room freed up, at least for the accounts of these entries (claims are capped per
            # account, so waiting for many to free up could leave one account's entries unclaimed).
            self.outbox.notify()

    def _record(self, item: _Done, now: datetime, batch: WriteBatch, changed: dict[str, Destination]) -> bool:
        """Add one attempt's record and its outbox change to `batch`; True if a notice was enqueued.

        `changed` collects destinations to store with the batch (the latest version of each).
        """
        pending, result = item.pending, item.result
        entry = pending.entry
        number = entry.attempts + 1  # within this entry's retry schedule
        destination = changed.get(entry.destination_id) or self._destinations.get(entry.destination_id)

        if result is None:
            self._log_attempt(item, number, "skipped", item.skip_reason, destination, batch)
            self.outbox.complete(pending, batch)
            return False
        if result.deferred:  # nothing was sent: due again later, no attempt used up
            self._count(destination, "deferred", None)
            later = now + timedelta(seconds=min(result.retry_after or 1.0, self.limits.max_retry_after))
            self.outbox.reschedule(pending, msgspec.structs.replace(entry, due_at=later), batch)
            return False
        if destination is not None and result.destination_update:
            destination = changed[destination.id] = msgspec.structs.replace(destination, **result.destination_update)
            log.info("destination %s moved: %s", destination.id, result.destination_update)
        if result.ok:
            self.delivered += 1
            self._log_attempt(item, number, "delivered", None, destination, batch)
            self.outbox.complete(pending, batch)
            if destination is not None and destination.failing_since is not None:
                changed[destination.id] = msgspec.structs.replace(destination, failing_since=None)
            return False

        self.failed += 1
        error = result.error or (f"HTTP {result.status}" if result.status else "failed")
        failing_since = (destination.failing_since if destination else None) or now
        if destination is not None and destination.failing_since is None:
            destination = changed[destination.id] = msgspec.structs.replace(destination, failing_since=now)
        disable_reason = result.disable_reason
        if (
            disable_reason is None
            and destination is not None
            and destination.enabled
            and now - failing_since >= self.limits.disable_after
        ):
            disable_reason = f"deliveries kept failing since {failing_since:%Y-%m-%d %H:%M} UTC (last error: {error})"
        delay = retry_delay(number, self.limits.retry_delays)
        if result.permanent or disable_reason is not None or delay is None:
            self._log_attempt(item, number, "dead_letter", error, destination, batch)
            # A bundle leaves a dead letter per notification: each can be listed and redelivered.
            self.outbox.bury(
                pending,
                [
                    DeadLetter(
                        notification_id=notification_id,
                        destination_id=entry.destination_id,
                        owner_id=entry.owner_id,
                        attempts=number,
                        last_error=error,
                        dead_at=now,
                    )
                    for notification_id in (entry.notification_id, *entry.bundle)
                ],
                batch,
            )
            if disable_reason is not None and destination is not None and destination.enabled:
                changed[destination.id] = msgspec.structs.replace(
                    destination, enabled=False, disabled_reason=clip(disable_reason)
                )
                log.warning("destination %s disabled: %s", destination.id, disable_reason)
                return self._notice_owner(destination, clip(disable_reason), now, batch)
            return False
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, self.limits.max_retry_after))
        self._log_attempt(item, number, "failed", error, destination, batch)
        self.outbox.reschedule(
            pending,
            msgspec.structs.replace(
                entry,
                attempts=number,
                due_at=now + timedelta(seconds=delay),
                first_failure_at=entry.first_failure_at or now,
                last_error=error,
            ),
            batch,
        )
        return False

    def _count(self, destination: Destination | None, outcome: str, latency_ms: float | None) -> None:
        """Tell the metrics (`on_attempt`) about one outcome."""
        if self.on_attempt is not None:
            kind = destination.kind if destination is not None else "unknown"
            self.on_attempt(kind, outcome, latency_ms / 1000 if latency_ms is not None else None)

    def _log_attempt(
        self,
        item: _Done,
        number: int,
        outcome: DeliveryOutcome,
        error: str | None,
        destination: Destination | None,
        batch: WriteBatch,
    ) -> None:
        entry, result = item.pending.entry, item.result
        latency_ms = result.latency_ms if result is not None else None
        self._count(destination, outcome, latency_ms)
        # The log numbers on across redeliveries (`attempts_before`), so none overwrites history.
        # A new record in a table without indexes: put directly, without `Collection.put`'s read
        # of a previous version (there is none).
        # Each notification of a bundle has its own record of the one message that carried it.
        log_number = entry.attempts_before + number
        for notification_id in (entry.notification_id, *entry.bundle):
            batch.put(
                self.repos.attempts.record_key(notification_id, entry.destination_id, log_number),
                self._encode_attempt(
                    DeliveryAttempt(
                        notification_id=notification_id,
                        destination_id=entry.destination_id,
                        attempt=log_number,
                        at=item.started_at,
                        outcome=outcome,
                        http_status=result.status if result is not None else None,
                        error=error,
                        latency_ms=latency_ms,
                    )
                ),
            )

    def _notice_owner(self, disabled: Destination, reason: str, now: datetime, batch: WriteBatch) -> bool:
        """Queue a system notice to another enabled destination of the owner (chats first)."""
        others = [d for d in self.repos.destinations.of_owner(disabled.owner_id) if d.enabled and d.id != disabled.id]
        if not others:
            return False
        target = sorted(others, key=lambda d: (d.kind == "webhook", d.created_at))[0]
        message = (
            f'Your {disabled.kind} destination "{disabled.name}" was disabled: {reason}. '
            "Fix it and enable it again; undelivered notifications are in your dead letters."
        )
        notice = queue_notice(
            self.repos,
            self.outbox,
            batch,
            owner_id=disabled.owner_id,
            destination_id=target.id,
            kind="destination_disabled",
            title="Mempools: destination disabled",
            message=message,
            now=now,
            attributes=(("destination_id", disabled.id), ("destination", disabled.name), ("reason", reason)),
        )
        return notice is not None

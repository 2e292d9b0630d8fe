"""The dispatcher: takes due outbox entries and delivers them, at least once, on a retry schedule.

How an entry flows:
1. `fill()` claims due entries (earliest first) into memory, up to `max_claimed`; claimed
   entries stay in the outbox (that is what makes delivery survive a crash) and are only
   skipped by later scans.
2. At most `workers` deliveries run at once, at most `per_destination` to any one destination;
   an entry whose destination is busy waits in memory behind it.
3. Each finished delivery is recorded by `_flush()`, which runs once per loop iteration for all
   deliveries that finished in it: one WriteBatch holds every attempt record together with the
   outbox change it implies (removed on success, rescheduled, or buried as a dead letter). A
   crash before that write means the delivery is made again, with the same `webhook-id` and body.
4. The loop sleeps until `outbox.notify()` (the watcher calls it after committing a block; the
   dispatcher calls it when capacity frees up) or until the next entry is due: no polling.

Decisions:
- A destination that is deleted, disabled, or no longer its owner's: the entry is removed and the
  attempt recorded as "skipped" (the notification stays in the history).
- A permanent failure (Telegram 403, Discord 403/404, HTTP 410) buries the entry at once and,
  when the channel says so, disables the destination.
- A destination failing without a single success for `disable_after` (5 days) is disabled; the
  entry is buried. Either way the owner is told through another of their enabled destinations
  (chat destinations first) by a system notice that goes through this same outbox, so it is
  durable, retried and listed in their history like any notification.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import msgspec

from core.dispatch.channel import Channel, DeliveryResult, clip
from core.dispatch.notices import queue_notice
from core.models import (
    Chain,
    DeadLetter,
    DeliveryAttempt,
    DeliveryOutcome,
    Destination,
    OutboxEntry,
)
from core.outbox import Outbox
from core.repositories import Repositories
from core.store.base import WriteBatch
from core.timeutil import utcnow

log = logging.getLogger("mempools.dispatch")

#: Waits after attempts 1..7 (attempt 1 is immediate): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
RETRY_DELAYS: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class DispatchLimits(msgspec.Struct, kw_only=True, frozen=True):
    workers: int = 64
    per_destination: int = 4
    max_claimed: int = 512
    retry_delays: tuple[float, ...] = RETRY_DELAYS
    disable_after: timedelta = timedelta(days=5)
    max_retry_after: float = 24 * 3600.0
    idle_wait: float = 60.0

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays) + 1


def retry_delay(attempts_made: int, delays: tuple[float, ...] = RETRY_DELAYS) -> float | None:
    """Seconds to wait after `attempts_made` failed attempts; None when the schedule is spent."""
    return delays[attempts_made - 1] if 1 <= attempts_made <= len(delays) else None


class _Done(msgspec.Struct, kw_only=True):
    entry: OutboxEntry
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
        self._claimed: set[tuple[str, str]] = set()
        self._ready: deque[OutboxEntry] = deque()
        self._parked: dict[str, deque[OutboxEntry]] = {}
        self._inflight: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._done: list[_Done] = []
        self._flush_handle: asyncio.Handle | None = None
        self._settled = asyncio.Event()
        self._draining = False
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
                self.fill()
                await self.outbox.wait(self._idle_timeout())
        finally:
            waker.cancel()
            await self.drain(drain_deadline_s)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.outbox.notify()

    def _idle_timeout(self) -> float:
        if len(self._claimed) >= self.limits.max_claimed:
            return self.limits.idle_wait  # a flush will notify when room frees up
        upcoming = self.outbox.next_due_at()
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
        unstarted = [*self._ready, *(entry for parked in self._parked.values() for entry in parked)]
        for entry in unstarted:
            self._claimed.discard((entry.notification_id, entry.destination_id))
        self.outbox.release(unstarted)
        self._ready.clear()
        self._parked.clear()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=max(deadline_s, 0.0))
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("drain deadline passed; %d deliveries will be retried after restart", len(pending))
        self._flush()

    async def pump(self) -> int:
        """Deliver every entry due now (by the clock) and wait until all are recorded.

        For tests and one-shot tools: `run()` is the long-running form.
        """
        self._draining = False
        total = 0
        while True:
            claimed = self.fill()
            total += claimed
            if not claimed and not self._tasks and not self._done and not self._ready:
                return total
            self._settled.clear()
            if self._tasks or self._done:
                await self._settled.wait()

    # -- claiming and starting ----------------------------------------------------------------
    def fill(self) -> int:
        """Claim due entries up to the limits and start what can start; returns how many were claimed."""
        if self._draining:
            return 0
        room = self.limits.max_claimed - len(self._claimed)
        if room <= 0:
            return 0
        entries = self.outbox.due(self.clock(), room, skip=self._claimed)
        for entry in entries:
            self._claimed.add((entry.notification_id, entry.destination_id))
            self._ready.append(entry)
        self._start_ready()
        return len(entries)

    def _start_ready(self) -> None:
        cap = self.limits.per_destination
        while self._ready and len(self._tasks) < self.limits.workers and not self._draining:
            entry = self._ready.popleft()
            did = entry.destination_id
            if self._inflight.get(did, 0) >= cap:
                self._parked.setdefault(did, deque()).append(entry)
                continue
            self._inflight[did] = self._inflight.get(did, 0) + 1
            task = asyncio.create_task(self._deliver(entry))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(self, entry: OutboxEntry) -> None:
        did = entry.destination_id
        try:
            done = await self._attempt(entry)
            self._done.append(done)
            if self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_soon(self._flush)
        finally:
            # Leave the running set first, or this very task would hold the slot it is freeing.
            self._tasks.discard(asyncio.current_task())  # type: ignore[arg-type]
            left = self._inflight.get(did, 1) - 1
            if left:
                self._inflight[did] = left
            else:
                self._inflight.pop(did, None)
            parked = self._parked.get(did)
            if parked:
                self._ready.appendleft(parked.popleft())
                if not parked:
                    del self._parked[did]
            self._start_ready()

    async def _attempt(self, entry: OutboxEntry) -> _Done:
        started_at = self.clock()
        destination = self.repos.destinations.get(entry.destination_id)
        if destination is None:
            return _Done(entry=entry, started_at=started_at, skip_reason="destination was deleted")
        if destination.owner_id != entry.owner_id:
            return _Done(entry=entry, started_at=started_at, skip_reason="destination belongs to another account")
        if not destination.enabled:
            reason = f"destination is disabled ({destination.disabled_reason or 'by its owner'})"
            return _Done(entry=entry, started_at=started_at, skip_reason=reason)
        notification = self.repos.notifications.get(entry.notification_id)
        if notification is None:
            return _Done(entry=entry, started_at=started_at, skip_reason="notification is no longer stored")
        channel = self.channels.get(destination.kind)
        if channel is None:
            result = DeliveryResult(ok=False, error=f"no {destination.kind} channel is configured")
            return _Done(entry=entry, started_at=started_at, result=result)
        try:
            result = await channel.deliver(notification, destination, self.chains(notification.chain_id))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("delivery of %s to %s failed unexpectedly", entry.notification_id, entry.destination_id)
            result = DeliveryResult(ok=False, error=clip(f"internal error: {type(exc).__name__}: {exc}"))
        return _Done(entry=entry, started_at=started_at, result=result)

    # -- recording ----------------------------------------------------------------------------
    def _flush(self) -> None:
        """Record every finished delivery in one batch, then release their claims."""
        self._flush_handle = None
        done, self._done = self._done, []
        if not done:
            self._settled.set()
            return
        batch = WriteBatch()
        destinations: dict[str, Destination | None] = {}
        wake = False
        try:
            now = self.clock()
            for item in done:
                wake |= self._record(item, now, batch, destinations)
            for destination in destinations.values():
                if destination is not None:
                    self.repos.destinations.put(destination, batch)
            self.outbox.store.write(batch)
        except Exception:
            log.exception("cannot record %d delivery attempts; they will be made again", len(done))
            self.outbox.reload()  # their entries are still stored, due as before
        finally:
            for item in done:
                self._claimed.discard((item.entry.notification_id, item.entry.destination_id))
            if wake or len(self._claimed) <= self.limits.max_claimed * 3 // 4:
                self.outbox.notify()
            self._settled.set()

    def _destination(self, did: str, cache: dict[str, Destination | None]) -> Destination | None:
        if did not in cache:
            cache[did] = self.repos.destinations.get(did)
        return cache[did]

    def _record(
        self, item: _Done, now: datetime, batch: WriteBatch, destinations: dict[str, Destination | None]
    ) -> bool:
        """Add one attempt's record and its outbox change to `batch`; True if a notice was enqueued."""
        entry, result = item.entry, item.result
        number = entry.attempts + 1  # within this entry's retry schedule
        # The attempt log numbers on across redeliveries, so a redelivery never overwrites history.
        last = next(self.repos.attempts.scan(entry.notification_id, entry.destination_id, reverse=True, limit=1), None)
        log_number = (last.attempt if last is not None else 0) + 1

        def attempt(outcome: DeliveryOutcome, error: str | None) -> None:
            if self.on_attempt is not None:
                dest = self._destination(entry.destination_id, destinations)
                latency = result.latency_ms / 1000 if result and result.latency_ms is not None else None
                self.on_attempt(dest.kind if dest is not None else "unknown", outcome, latency)
            # A new record in a table without indexes: written directly, without Collection.put's
            # read of a previous version (there is none) — this runs once per delivery.
            batch.put(
                self.repos.attempts.record_key(entry.notification_id, entry.destination_id, log_number),
                self._encode_attempt(
                    DeliveryAttempt(
                        notification_id=entry.notification_id,
                        destination_id=entry.destination_id,
                        attempt=log_number,
                        at=item.started_at,
                        outcome=outcome,
                        http_status=result.status if result else None,
                        error=error,
                        latency_ms=result.latency_ms if result else None,
                    )
                ),
            )

        if result is None:
            attempt("skipped", item.skip_reason)
            self.outbox.complete(entry, batch)
            return False
        destination = self._destination(entry.destination_id, destinations)
        if destination is not None and result.destination_update:
            destination = msgspec.structs.replace(destination, **result.destination_update)
            destinations[destination.id] = destination
            log.info("destination %s moved: %s", destination.id, result.destination_update)
        if result.ok:
            self.delivered += 1
            attempt("delivered", None)
            self.outbox.complete(entry, batch)
            if destination is not None and destination.failing_since is not None:
                destinations[destination.id] = msgspec.structs.replace(destination, failing_since=None)
            return False

        self.failed += 1
        error = result.error or (f"HTTP {result.status}" if result.status else "failed")
        failing_since = (destination.failing_since if destination else None) or now
        if destination is not None and destination.failing_since is None:
            destination = msgspec.structs.replace(destination, failing_since=now)
            destinations[destination.id] = destination
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
            attempt("dead_letter", error)
            self.outbox.bury(
                entry,
                DeadLetter(
                    notification_id=entry.notification_id,
                    destination_id=entry.destination_id,
                    owner_id=entry.owner_id,
                    attempts=number,
                    last_error=error,
                    dead_at=now,
                ),
                batch,
            )
            if disable_reason is not None and destination is not None and destination.enabled:
                destinations[destination.id] = msgspec.structs.replace(
                    destination, enabled=False, disabled_reason=clip(disable_reason)
                )
                log.warning("destination %s disabled: %s", destination.id, disable_reason)
                return self._notice_owner(destination, clip(disable_reason), now, batch)
            return False
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, self.limits.max_retry_after))
        attempt("failed", error)
        self.outbox.reschedule(
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

"""The watcher of one chain: every height, in order, exactly once.

The stored cursor is the last height whose batch was committed. Behind the tip, a bounded
window of heights is fetched concurrently (network latency overlaps) while commits happen
strictly in height order; at the tip, a websocket `NewBlock` trigger and `/status` polling at
block cadence say when to look again. The websocket is only a hint: heights are always fetched
from `/block_results` + `/block`, so nothing is missed when it drops.

Behind the tip, the heights already fetched and in order are committed together, as ONE batch
(`core.watch.group`: at most `max_blocks_per_commit` blocks, ~2000 operations or ~512 KB), so a
commit's fixed cost is paid once per group, not per block; at the tip a group is the one block
there is (nothing ever waits to fill a group). Stats, gap records and `on_progress` stay per
block, reported once the group is committed.

Failures never skip a height: transient errors are retried with backoff (logged once per
incident); a height that every endpoint says is pruned becomes a recorded gap. A commit the
store refuses (a full disk, the cluster log not answering) is retried, the very same batch, with
backoff capped at `STORE_RETRY_MAX_BACKOFF`, until the store accepts it: nothing is skipped and
the watcher resumes by itself once there is space.

In cluster mode every batch carries the chain's epoch fence (`core.watch.fence`): a batch refused
for it means a newer holder watches the chain, and `run` ends with `FencedError` (never retried).

While catching up (behind the tip) the tip is still polled every `poll_interval`, so the lag
that `/ready` reports is from the freshest tip seen, not the one known when catch-up began.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Protocol

import msgspec

from core.chain.blocks import DecodedBlock
from core.chain.errors import HeightNotAvailable, RpcError, RpcUnavailable
from core.errors import ClusterError, ConflictError, FencedError, StoreUnavailableError
from core.models import ChainCursor
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.backoff import backoff
from core.support.incidents import IncidentLog
from core.support.timeutil import utcnow
from core.watch.fence import NO_FENCE, ChainFence
from core.watch.group import BlockGroup
from core.watch.processor import BlockProcessor

log = logging.getLogger("mempools.watcher")

#: A refused commit is tried again after at most this long: each try is one cheap write (the
#: store reopens itself at most once a second), and resuming soon after space is freed matters.
STORE_RETRY_MAX_BACKOFF = 5.0


class BlockSource(Protocol):
    """Where a watcher gets heights from (an endpoint pool in production, anything in tests)."""

    async def latest_height(self) -> int: ...

    async def fetch_height(self, height: int) -> DecodedBlock: ...

    def new_heights(self) -> AsyncIterator[int]: ...


class WatcherStats(msgspec.Struct):
    """What the watcher has done, for /ready, /metrics and progress display."""

    chain_id: str
    cursor: int = 0
    tip: int = 0
    blocks: int = 0
    matches: int = 0
    notifications: int = 0
    gaps: int = 0
    errors: int = 0
    last_commit_monotonic: float = 0.0
    last_contact_monotonic: float = 0.0  # the last answer from any endpoint (tip or block)
    started_height: int = 0
    #: Why the last tip request failed (each endpoint's error); None once one answers. Lets
    #: /v1/chains say what is wrong instead of "starting" while no endpoint has ever answered.
    last_error: str | None = None

    @property
    def lag(self) -> int:
        return max(0, self.tip - self.cursor)


class _Gap(msgspec.Struct, frozen=True):
    reason: str


class ChainWatcher:
    def __init__(
        self,
        chain_id: str,
        source: BlockSource,
        processor: BlockProcessor,
        repos: Repositories,
        *,
        start_height: int = 0,
        window: int = 32,
        poll_interval: float = 1.0,
        max_backoff: float = 30.0,
        max_blocks_per_commit: int = 32,
        catch_up_linger: float = 0.02,
        on_progress: Callable[[WatcherStats], None] | None = None,
        stall_check_interval: float = 15.0,
    ) -> None:
        self.chain_id = chain_id
        self.source = source
        self.processor = processor
        self.repos = repos
        self.start_height = start_height
        self.window = max(1, window)
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.max_blocks_per_commit = max(1, max_blocks_per_commit)
        self.catch_up_linger = catch_up_linger  # seconds a group waits for more heights, far behind only
        self.fence: ChainFence = NO_FENCE
        self.commits = 0  # batches committed (a group of blocks is one)
        self.on_progress = on_progress
        self.stall_check_interval = stall_check_interval
        self.stats = WatcherStats(chain_id=chain_id)
        self._tip_changed = asyncio.Event()
        self._incidents = IncidentLog(log)
        self._fetch_times: deque[float] = deque(maxlen=64)
        self._commit_time = 0.002

    @property
    def effective_window(self) -> int:
        """How many heights to have in flight: enough to cover the fetch latency, no more.

        Little's law: to keep commits busy, in flight = fetch latency / commit time. The latency
        is the minimum of recent fetches (queueing under load inflates the average and would
        grow the window for nothing); a larger window than needed only adds CPU per block on a
        fast node, which is what we measured (bench/bench_catchup.py).
        """
        if not self._fetch_times:
            return self.window
        needed = math.ceil(2 * min(self._fetch_times) / max(self._commit_time, 1e-4))
        return max(2, min(self.window, needed))

    # -- the loop -----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, fence: ChainFence = NO_FENCE) -> None:
        """Watch until `stop`; every batch is stamped by `fence` (cluster mode: the claimed epoch).

        Raises `FencedError` when the store refuses a batch for its fence: another node holds the
        chain now. Claim the epoch before calling this (`core.watch.fence.fenced_watch`), since
        the stored cursor is read here.
        """
        self.fence = fence
        cursor = await self._initial_cursor(stop)
        if cursor is None:
            return
        self.stats.cursor = self.stats.started_height = cursor
        monitor = self.processor.monitor
        if monitor is not None:
            await monitor.start()  # reads the committed state again: this run may follow another node's
        helpers = [
            asyncio.create_task(self._follow_trigger(), name=f"trigger:{self.chain_id}"),
            asyncio.create_task(self._poll_tip_while_behind(stop), name=f"tip:{self.chain_id}"),
        ]
        if monitor is not None:
            helpers.append(asyncio.create_task(self._watch_stalls(stop), name=f"stalls:{self.chain_id}"))
        try:
            while not stop.is_set():
                if self.stats.cursor >= self.stats.tip:
                    await self._refresh_tip()
                if self.stats.cursor >= self.stats.tip:
                    await self._wait_for_tip(stop)
                    continue
                await self._catch_up(stop)
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _initial_cursor(self, stop: asyncio.Event) -> int | None:
        stored = self.repos.cursors.get(self.chain_id)
        if stored is not None:
            log.info("%s: resuming after height %d", self.chain_id, stored.height)
            return stored.height
        if self.start_height > 0:
            cursor = self.start_height - 1
        else:
            while not stop.is_set():
                if await self._refresh_tip():
                    break
                await self._sleep(stop, self._backoff(self.stats.errors))
            if stop.is_set():
                return None
            cursor = self.stats.tip - 1
        # Pin the starting point now: a restart before the first commit must not move it.
        batch = WriteBatch()
        self.fence.stamp(batch)
        self.repos.cursors.put(ChainCursor(chain_id=self.chain_id, height=cursor, updated_at=utcnow()), batch)
        if not await self._commit_until_stored(batch, cursor, stop):
            return None
        log.info("%s: starting at height %d", self.chain_id, cursor + 1)
        return cursor

    async def _catch_up(self, stop: asyncio.Event) -> None:
        """Fetch ahead in a bounded window, commit strictly in order, in groups of ready heights."""
        pending: dict[int, asyncio.Task[DecodedBlock | _Gap]] = {}
        next_fetch = self.stats.cursor + 1
        try:
            while not stop.is_set() and self.stats.cursor < self.stats.tip:
                while next_fetch <= self.stats.tip and next_fetch - self.stats.cursor <= self.effective_window:
                    pending[next_fetch] = asyncio.create_task(self._fetch(next_fetch, stop))
                    next_fetch += 1
                height = self.stats.cursor + 1
                task = pending.pop(height)
                stopper = asyncio.create_task(stop.wait())
                try:
                    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopper.cancel()
                if not task.done():
                    pending[height] = task
                    return
                group = BlockGroup(self.processor, self.fence, max_blocks=self.max_blocks_per_commit)
                self._add(group, height, task.result())
                # Far behind, a group waits up to `catch_up_linger` for the heights right after it:
                # one commit for many blocks (in a cluster each commit is a replicated write). Near
                # the tip it takes only what is already here, so a new block is never held back.
                linger_until = time.monotonic() + self.catch_up_linger
                far_behind = self.stats.tip - height > self.max_blocks_per_commit
                while not group.full:
                    following = pending.get(height + len(group.items))
                    if following is None:
                        break
                    if not following.done():
                        left = linger_until - time.monotonic()
                        if not far_behind or left <= 0:
                            break
                        await asyncio.wait({following}, timeout=left)
                        if not following.done():
                            break
                    self._add(group, height + len(group.items), pending.pop(height + len(group.items)).result())
                if not await self._commit_group(group, stop):
                    return
        finally:
            for task in pending.values():
                task.cancel()
            await asyncio.gather(*pending.values(), return_exceptions=True)

    @staticmethod
    def _add(group: BlockGroup, height: int, result: DecodedBlock | _Gap) -> None:
        if isinstance(result, _Gap):
            group.add_gap(height, result.reason)
        else:
            group.add_block(result)

    async def _commit_group(self, group: BlockGroup, stop: asyncio.Event) -> bool:
        """Commit a group, then account for each of its heights in order; False if `stop` came first."""
        last = group.items[-1][0]
        if not await self._commit_until_stored(group.seal(self.stats.tip), last, stop):
            return False
        if group.deliveries:
            self.processor.outbox.notify()
        per_block = (time.perf_counter() - group.started) / len(group.items)
        for height, item in group.items:
            if isinstance(item, str):
                self.stats.gaps += 1
                log.warning(
                    "%s: height %d is not available from any endpoint (%s): recorded as a gap",
                    self.chain_id,
                    height,
                    item,
                )
            else:
                self.stats.blocks += 1
                self.stats.matches += item.matches
                self.stats.notifications += item.notifications
            self.stats.cursor = height
            self.stats.last_commit_monotonic = time.monotonic()
            self._commit_time = 0.9 * self._commit_time + 0.1 * per_block
            if self.on_progress is not None:
                self.on_progress(self.stats)
        return True

    async def _commit_until_stored(self, batch: WriteBatch, height: int, stop: asyncio.Event) -> bool:
        """Commit `batch` (up to `height`), retrying while the store refuses; False if `stop` came first.

        A refused batch changed nothing (no record, no cursor, no in-memory mirror: on-commit
        hooks run only after a write), so committing the very same batch again is exact; it is
        also right when the outcome was unknown (the cluster log's ack lost): a batch applied
        twice writes the same values, and its on-commit hooks run once, on the commit that
        returns. A refusal by a precondition is not retried: in a watcher's batch only the fence
        has one, and a refused fence means another node holds the chain now.
        """
        key = f"{self.chain_id}:store"
        failures = 0
        while True:
            try:
                await self.repos.store.commit(batch)
            except ConflictError as exc:
                if not self.fence.active:
                    raise
                log.warning("%s: superseded by a newer holder of the chain; this node stops watching it", self.chain_id)
                raise FencedError(f"chain {self.chain_id}: a newer watcher holds the chain's epoch ({exc})") from exc
            except (StoreUnavailableError, ClusterError) as exc:
                failures += 1
                self._incidents.failure(
                    key,
                    "%s: cannot commit height %d: %s (retrying until the store accepts it)",
                    self.chain_id,
                    height,
                    exc,
                )
                await self._sleep(stop, min(STORE_RETRY_MAX_BACKOFF, self._backoff(failures)))
                if stop.is_set():
                    return False
                continue
            self.commits += 1
            self._incidents.resolved(key)
            return True

    async def _fetch(self, height: int, stop: asyncio.Event) -> DecodedBlock | _Gap:
        """One height, retried until it is had or known to be gone; never gives up silently."""
        failures = 0
        key = f"{self.chain_id}:fetch"
        while True:
            started = time.perf_counter()
            try:
                block = await self.source.fetch_height(height)
            except HeightNotAvailable as exc:
                if exc.in_future:
                    await self._sleep(stop, self.poll_interval)
                    continue
                self._incidents.resolved(key)
                return _Gap(reason=str(exc))
            except RpcError as exc:
                failures += 1
                self.stats.errors += 1
                self._incidents.failure(key, "%s: cannot fetch height %d: %s (retrying)", self.chain_id, height, exc)
                await self._sleep(stop, self._backoff(failures))
                continue
            if block.height != height:
                failures += 1
                self._incidents.failure(
                    key, "%s: asked for height %d, got %d (retrying)", self.chain_id, height, block.height
                )
                await self._sleep(stop, self._backoff(failures))
                continue
            self._incidents.resolved(key)
            self._fetch_times.append(time.perf_counter() - started)
            self.stats.last_contact_monotonic = time.monotonic()
            if self.processor.monitor is not None:
                await self.processor.monitor.prepare(block)  # what its alerts need from the chain
            return block

    # -- the tip ------------------------------------------------------------------------------
    async def _refresh_tip(self) -> bool:
        key = f"{self.chain_id}:status"
        try:
            latest = await self.source.latest_height()
        except RpcUnavailable as exc:
            self.stats.errors += 1
            self.stats.last_error = str(exc)
            self._incidents.failure(
                key,
                "%s: no RPC endpoint can be reached; is this machine online, are [[chains]] rpc URLs right? "
                "Retrying until one answers; to try Mempools offline, run `mempools demo`. (%s)",
                self.chain_id,
                exc,
            )
            return False
        except RpcError as exc:
            self.stats.errors += 1
            self.stats.last_error = str(exc)
            self._incidents.failure(key, "%s: cannot read the chain tip: %s (retrying)", self.chain_id, exc)
            return False
        self._incidents.resolved(key)
        self.stats.last_error = None
        self.stats.last_contact_monotonic = time.monotonic()
        # A node going backwards (a lagging fail-over) never moves the tip we know down.
        self.stats.tip = max(self.stats.tip, latest)
        return True

    async def _poll_tip_while_behind(self, stop: asyncio.Event) -> None:
        """Keep the tip fresh while the main loop is busy catching up (or waiting on the store).

        At the tip the main loop polls by itself; behind it, only the websocket would move the
        tip, and without one the lag in /ready would be computed from a tip minutes old.
        """
        while not stop.is_set():
            await self._sleep(stop, self.poll_interval)
            if not stop.is_set() and self.stats.cursor < self.stats.tip:
                await self._refresh_tip()

    async def _wait_for_tip(self, stop: asyncio.Event) -> None:
        self._tip_changed.clear()
        waiters = {asyncio.create_task(self._tip_changed.wait()), asyncio.create_task(stop.wait())}
        try:
            await asyncio.wait(waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _follow_trigger(self) -> None:
        """New heights from the websocket: a hint to look now instead of at the next poll."""
        try:
            async for height in self.source.new_heights():
                if height > self.stats.tip:
                    self.stats.tip = height
                    self._tip_changed.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the trigger is optional: polling carries on without it
            log.info("%s: websocket trigger stopped (%s); polling continues", self.chain_id, exc)

    async def _watch_stalls(self, stop: asyncio.Event) -> None:
        """At the tip, tell validator watches when no new block has come for their N minutes.

        Behind the tip the chain is evidently moving (catch-up is replaying old block times), so
        only a watcher with nothing left to fetch checks."""
        while not stop.is_set():
            await self._sleep(stop, self.stall_check_interval)
            if stop.is_set() or self.stats.cursor < self.stats.tip:
                continue
            batch = WriteBatch()
            self.fence.stamp(batch)
            deliveries = self.processor.stage_stall(self.stats.cursor, batch)
            if not batch.ops:
                continue
            if not await self._commit_until_stored(batch, self.stats.cursor, stop):
                return
            if deliveries:
                self.processor.outbox.notify()

    # -- helpers ------------------------------------------------------------------------------
    def _backoff(self, failures: int) -> float:
        return backoff(failures + 1, first=0.25, cap=self.max_backoff)

    @staticmethod
    async def _sleep(stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

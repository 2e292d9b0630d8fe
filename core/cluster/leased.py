"""Work that runs on one node at a time: a lease, and the task that runs only while it is held.

Every job that must be single cluster-wide (a chain's watcher, Telegram's `getUpdates`, the
Discord gateway, the scheduled jobs, a delivery partition) is the same shape: contend for a lease,
start the work once it is ours, keep refreshing it, and stop the work the moment the lease is lost
or this node stops. Writing that once here keeps the subtle parts in one place:

- the work gets its own `stop` event, set when the lease is lost (a refresh refused, or our clock
  says it expired: a node paused past its TTL stops as soon as it runs again) and at shutdown, and
  the lease's fencing token, so what it commits can be fenced (core/watch/fence.py);
- a lost lease is not contended for again until the work has stopped: a node never runs two copies
  of one job, and a job never runs on two nodes except for the time a paused holder needs to notice;
- work that stops by itself (a crash) gives the lease back, so another node can do better; the
  caller's supervisor decides about restarts;
- `wanted` lets a node decline or give back a lease it could hold (delivery partitions spread
  over the nodes: a node holding more than its share releases some).

Nothing here decides who holds a lease: the JetStream KV compare-and-set does (core/cluster/lease.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from core.cluster.connection import TRANSIENT_NATS
from core.cluster.lease import Lease
from core.errors import FencedError
from core.support.incidents import IncidentLog

log = logging.getLogger("mempools.cluster")

#: The work: runs until its `stop` event is set (lease lost or shutdown); gets the fencing token.
LeasedWork = Callable[[asyncio.Event, int], Coroutine[Any, Any, None]]


class LeasedRunner:
    """Runs `work` on this node only while it holds `lease`; see the module docstring."""

    def __init__(
        self,
        lease: Lease,
        work: LeasedWork,
        *,
        wanted: Callable[[bool], bool] | None = None,
        stop_deadline: float = 5.0,
    ) -> None:
        self.lease = lease
        self.work = work
        self.wanted = wanted  # called with "held now"; False: do not take it / give it back
        self.stop_deadline = stop_deadline  # seconds the work gets to stop before it is cancelled
        self.changes = 0  # times the work started here (for tests and the status view)
        self.held_since = 0.0  # monotonic time the work last started here
        self._incidents = IncidentLog(log)
        self._task: asyncio.Task[None] | None = None
        self._work_stop = asyncio.Event()

    @property
    def name(self) -> str:
        return self.lease.name

    @property
    def held(self) -> bool:
        """True while the lease is ours and the work runs under it (what /metrics reports)."""
        return self.lease.held and self._task is not None and not self._task.done()

    async def run(self, stop: asyncio.Event) -> None:
        """Contend, run, refresh, until `stop`; then stop the work and release the lease."""
        try:
            while not stop.is_set():
                try:
                    await self._step()
                    self._incidents.resolved(f"lease {self.name}")
                except TRANSIENT_NATS as exc:
                    self._incidents.failure(f"lease {self.name}", "lease %s: NATS did not answer (%s)", self.name, exc)
                    if self._task is not None and not self.lease.held:
                        await self._stop_work("its lease expired while NATS did not answer")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.lease.refresh_interval)
        finally:
            await self._stop_work("this node is stopping")
            await self.lease.release()

    async def _step(self) -> None:
        if self._task is not None and self._task.done():
            await self._stop_work("its work ended")  # a crash is logged there; the lease goes back
            await self.lease.release()
            return
        if self._task is None:
            if self.wanted is not None and not self.wanted(False):
                return
            if await self.lease.try_acquire():
                self._start(self.lease.token or 0)
            return
        if self.wanted is not None and not self.wanted(True):
            await self._stop_work("this node gives it to another")
            await self.lease.release()
            return
        if not await self.lease.refresh():
            await self._stop_work("the lease was lost")

    def _start(self, token: int) -> None:
        self._work_stop = asyncio.Event()
        self._task = asyncio.create_task(self.work(self._work_stop, token), name=f"leased:{self.name}")
        self.changes += 1
        self.held_since = time.monotonic()

    async def _stop_work(self, why: str) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        self._work_stop.set()
        if not task.done():
            log.log(self.lease.routine_level, "lease %s: stopping its work on %s: %s", self.name, self.lease.node, why)
            done, _ = await asyncio.wait({task}, timeout=self.stop_deadline)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        failure = None if task.cancelled() else task.exception()
        if isinstance(failure, FencedError):  # a newer holder's epoch refused it: what fencing is for
            log.warning("lease %s: its work on %s was fenced: %s", self.name, self.lease.node, failure)
        elif failure is not None:
            log.error("lease %s: its work failed on %s: %r", self.name, self.lease.node, failure)

"""Delivery partitions spread over the nodes: one lease per partition (docs/CLUSTER.md point 6).

A destination hashes into one of `PARTITIONS` partitions (`core.dispatch.partition`). Each
partition is a lease, `delivery:<p>`, run by a `LeasedRunner` whose work is "this node's outbox
delivers the partition": `outbox.adopt(p)` when the lease is taken, `outbox.drop(p)` when it is
lost, given back, or this node stops. One node holds a partition at a time, so per-destination
concurrency and Telegram's per-chat limits hold cluster-wide with no coordination of their own.

Balance: every node aims at `ceil(PARTITIONS / live nodes)`. It contends for more while it holds
(or is contending for) fewer, and gives back one at a time while it holds more, so when a node
joins the others shed partitions one by one to it instead of all dropping everything at once, and
when one leaves (its leases released at stop, or expired after a crash) the target rises and the
others take its partitions. `live_nodes` is the node registry's count; the shares then even out
within a few lease refresh intervals.

Telegram's per-bot budget is split by what a node holds (`bot_share`), so the cluster stays
under 30 messages a second in all.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from nats.js import JetStreamContext

from core.cluster.lease import LEASE_BUCKET, Lease
from core.cluster.leased import LeasedRunner
from core.dispatch.outbox import Outbox
from core.dispatch.partition import PARTITIONS

#: A partition this node tried for and did not get (another node holds it) is not tried again for
#: this long (seconds). Such retries have their own quota, apart from partitions never refused:
#: runners step in the same order every interval, and with one quota the retries of partitions
#: held elsewhere, first in that order, took every free slot and a free partition stepping
#: later was never asked for (measured: 12 s before the last one moved, on three nodes).
RETRY_REFUSED_AFTER = 3.0

#: A node uses at least this share of the bot's budget while it holds any partition (1 msg/s of 30).
log = logging.getLogger("mempools.cluster")
MIN_BOT_SHARE = 1 / 30


def lease_name(partition: int) -> str:
    return f"delivery:{partition}"


class _PartitionLease(Lease):
    """A partition's lease that reports each try's outcome as soon as it is known, so the try
    counts against the node's target only while it is in flight (a KV round trip), not until
    its runner's next step a second later."""

    def __init__(self, *args: Any, tried: Callable[[bool], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tried = tried

    async def try_acquire(self) -> bool:
        got = False
        try:
            got = await super().try_acquire()
            return got
        finally:
            self._tried(got)


class DeliveryPartitions:
    """This node's side of the delivery partitions: a `LeasedRunner` per partition."""

    def __init__(
        self,
        js: JetStreamContext,
        outbox: Outbox,
        node: str,
        live_nodes: Callable[[], int],
        *,
        bucket: str = LEASE_BUCKET,
        ttl: int = 10,
        clock: Callable[[], float] = time.monotonic,
        partitions: int = PARTITIONS,
    ) -> None:
        self.outbox = outbox
        self.live_nodes = live_nodes
        self.partitions = partitions
        self.clock = clock
        self.runners = [
            LeasedRunner(
                _PartitionLease(
                    js, bucket, lease_name(p), node, ttl=ttl, clock=clock, tried=partial(self._tried, p), quiet=True
                ),
                partial(self._deliver, p),
                wanted=partial(self._wanted, p),
            )
            for p in range(partitions)
        ]
        self._contending: set[int] = set()  # tries in flight for partitions not refused before
        self._retrying: set[int] = set()  # tries in flight for partitions refused before
        self._refused: dict[int, float] = {}  # partition -> when a try for it last failed
        self._giving: int | None = None
        self.node = node
        self._logged_at = float("-inf")
        self._log_pending = False  # the partition being given back, until its runner steps again

    @property
    def target(self) -> int:
        """How many partitions this node aims to hold."""
        return math.ceil(self.partitions / max(self.live_nodes(), 1))

    def held(self) -> set[int]:
        """The partitions this node delivers now."""
        return {p for p, runner in enumerate(self.runners) if runner.held}

    def leases(self) -> dict[str, bool]:
        """{"delivery:<p>": held here} for /metrics."""
        return {runner.name: runner.held for runner in self.runners}

    def bot_share(self) -> float:
        """The fraction of Telegram's per-bot budget this node may use: what its partitions are
        worth, at least `MIN_BOT_SHARE` (so a node holding one partition still sends)."""
        return max(len(self.held()) / self.partitions, MIN_BOT_SHARE)

    async def run(self, stop: asyncio.Event) -> None:
        """Contend for, deliver and balance the partitions until `stop`; then release them all."""
        await asyncio.gather(*(runner.run(stop) for runner in self.runners))

    def _wanted(self, partition: int, held_now: bool) -> bool:
        """Whether this node should hold `partition`: the balance described in the module doc.

        Runners step concurrently, each awaiting its lease in between, so what is being contended
        for counts as held (else all 32 would be taken at once), a give-back counts until
        the runner that gave it steps again (else every runner over the target would give its
        partition back in the same interval), and a partition just refused waits its turn
        (`RETRY_REFUSED_AFTER`), then is tried again within a quota of its own. The two quotas
        can overshoot the target by what is missing, when partitions free up all at once (a
        node left): the surplus goes back one at a time.
        """
        now = self.clock()
        if self._log_pending and now - self._logged_at >= 1.0:
            self._changed()  # the last change of a burst
        if self._giving == partition:
            self._giving = None
        held = self.held()
        target = self.target
        if held_now:
            if len(held) > target and self._giving is None:
                self._giving = partition
                return False
            return True
        refused = self._refused.get(partition)
        if refused is None:
            tries = self._contending
        elif now - refused >= RETRY_REFUSED_AFTER:
            tries = self._retrying
        else:
            return False
        if len(held | tries) < target:
            tries.add(partition)
            return True
        return False

    def _tried(self, partition: int, got: bool) -> None:
        """A try for `partition` ended: it no longer counts as contended; refused, it waits."""
        self._contending.discard(partition)
        self._retrying.discard(partition)
        if got:
            self._refused.pop(partition, None)
        else:
            self._refused[partition] = self.clock()

    async def _deliver(self, partition: int, stop: asyncio.Event, token: int) -> None:
        """The work under `delivery:<p>`: this node's outbox delivers the partition meanwhile."""
        self.outbox.adopt(partition)
        self._changed()
        try:
            await stop.wait()
        finally:
            self.outbox.drop(partition)
            self._changed()

    def _changed(self) -> None:
        """One log line per change of what this node delivers, at most one a second (a node joining
        or leaving moves many partitions within a few seconds)."""
        now = self.clock()
        if now - self._logged_at < 1.0:
            self._log_pending = True
            return
        self._logged_at, self._log_pending = now, False
        held = sorted(self.outbox.partitions or ())
        log.info("delivery partitions on %s: %d of %d %s", self.node, len(held), self.partitions, _ranges(held))


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5, 7, 8] -> "(0-2, 5, 7-8)"."""
    spans: list[str] = []
    for n in numbers:
        if spans and spans[-1].split("-")[-1] == str(n - 1):
            spans[-1] = f"{spans[-1].split('-')[0]}-{n}"
        else:
            spans.append(str(n))
    return f"({', '.join(spans)})" if spans else "(none)"

"""One node's membership of the cluster: join NATS, keep the replica following the log, hand out leases.

Why a node joins in the background: "NATS unreachable at start" must not be a process that
refuses to start and leaves an orchestrator guessing. The node serves its API from its first
second (reads from its own replica, `/ready` 503 with the reason, writes refused with 503) and
keeps trying to join, one log line per incident. A server cluster mode cannot use (too old, a
dropped stream setting, another schema version) is different: that is final, so `run` raises a
`ClusterError` whose one line `mempools serve` prints before exiting 2.

After joining, in order: the streams and buckets exist and are checked, the change applier
follows `mempools_changes` into the replica, the schema record agrees, and only then `joined` is
set: the runtime starts contending for leases (chain watchers, delivery partitions, bots, jobs)
only on a node whose replica is following the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET, LEASE_BUCKET_NEEDS, Lease, lease_bucket
from core.cluster.leased import LeasedRunner, LeasedWork
from core.cluster.nodes import NodeRegistry
from core.cluster.partitions import MIN_BOT_SHARE, DeliveryPartitions
from core.cluster.schema import ensure_cluster_schema
from core.cluster.store import ClusterStore
from core.config import ClusterConfig
from core.dispatch.outbox import Outbox
from core.errors import ClusterUnreachableError
from core.store.rocks import RocksStore
from core.support.incidents import IncidentLog

log = logging.getLogger("mempools.cluster")


class ClusterNode:
    """This node in the cluster: its connection, its store (the replica and the log), its leases."""

    #: Seconds without a NATS connection before the node reports itself unready: reconnecting to
    #: another server after one dies takes about a second, which is no reason to leave a load balancer.
    READY_GRACE = 5.0

    def __init__(
        self,
        config: ClusterConfig,
        replica: RocksStore,
        *,
        connection: ClusterConnection | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        retry_every: float = 1.0,
    ) -> None:
        self.config = config
        self.name = config.node
        self.store = ClusterStore(None, replica)
        self.monotonic = monotonic
        self.retry_every = retry_every
        self.api: str | None = None  # host:port of this node's API, for the registry (set by the runtime)
        self.connection: ClusterConnection | None = connection  # joined already (`first_join`), or later
        self.joined = asyncio.Event()
        self.runners: dict[str, LeasedRunner] = {}
        self.registry: NodeRegistry | None = None
        self.partitions: DeliveryPartitions | None = None
        self._delivery: tuple[Outbox, asyncio.Event] | None = None
        self._specs: dict[str, tuple[LeasedWork, asyncio.Event, Callable[[bool], bool] | None]] = {}
        self.failure: str | None = None  # why the node is not joined (for /ready), None once it is
        self.failing_since: float | None = None

    # -- state for /ready and /metrics -------------------------------------------------------
    def describe(self) -> tuple[bool, str]:
        """(ready, reason): joined and connected, or what is wrong and for how long."""
        connection = self.connection
        if not self.joined.is_set() or connection is None:
            since = max(0.0, self.monotonic() - (self.failing_since or self.monotonic()))
            return False, f"not joined: {self.failure or 'joining'} ({since:.0f} s)"
        lost = connection.disconnected_for()
        if lost is not None and lost > self.READY_GRACE:
            return False, self.store.describe()
        return True, f"node {self.name}: {self.store.describe()}"

    def leases(self) -> dict[str, bool]:
        """Every lease this node contends for, and whether it holds it now (`mempools_lease_held`)."""
        held = {name: name in self.runners and self.runners[name].held for name in self._specs}
        if self.partitions is not None:
            held.update(self.partitions.leases())
        return held

    def held_for(self, name: str) -> float | None:
        """Seconds since this node took lease `name` (None when it does not hold it)."""
        runner = self.runners.get(name)
        return time.monotonic() - runner.held_since if runner is not None and runner.held else None

    def bot_share(self) -> float:
        """This node's share of Telegram's per-bot budget: what its delivery partitions are worth."""
        return self.partitions.bot_share() if self.partitions is not None else MIN_BOT_SHARE

    # -- leases ------------------------------------------------------------------------------
    def lease(
        self,
        name: str,
        work: LeasedWork,
        *,
        stop: asyncio.Event,
        wanted: Callable[[bool], bool] | None = None,
    ) -> None:
        """Run `work` here whenever this node holds lease `name`, from joining until `stop`.

        Registered before `run`; the runners start once the node has joined (a lease taken by a
        node whose replica does not follow the log would act on a stale state).
        """
        if name in self._specs:
            raise ValueError(f"lease {name} is registered twice")
        self._specs[name] = (work, stop, wanted)

    def deliver(self, outbox: Outbox, *, stop: asyncio.Event) -> None:
        """Deliver the outbox's entries of the partitions (`delivery:<p>`) this node holds, from
        joining until `stop` (the partitions spread over the live nodes; core/cluster/partitions.py)."""
        self._delivery = (outbox, stop)

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Join (retrying while NATS is unreachable), then follow the log until `stop`."""
        connection = await self._join(stop)
        if connection is None:
            return
        try:
            self.store.attach(connection)
            await self.store.prepare()
            registry = NodeRegistry(
                connection,
                self.name,
                applied=lambda: self.store.applied_sequence,
                leases=lambda: [name for name, held in self.leases().items() if held],
                api=self.api,
                ttl=max(self.config.lease_ttl, 3),
            )
            async with asyncio.TaskGroup() as group:  # one failing (the applier: final) ends them all
                group.create_task(self.store.run(stop), name="cluster:applier")
                await ensure_cluster_schema(self.store)  # after the applier started: it waits for it
                await registry.start()
                group.create_task(registry.run(stop), name="cluster:registry")
                self.registry = registry
                self.failure, self.failing_since = None, None
                self.joined.set()
                if self._delivery is not None:
                    outbox, until_drained = self._delivery
                    self.partitions = DeliveryPartitions(
                        connection.js, outbox, self.name, lambda: registry.live, ttl=self.config.lease_ttl
                    )
                    group.create_task(self.partitions.run(until_drained), name="cluster:partitions")
                for name, (work, until, wanted) in self._specs.items():
                    lease = Lease(connection.js, LEASE_BUCKET, name, self.name, ttl=self.config.lease_ttl)
                    runner = LeasedRunner(lease, work, wanted=wanted)
                    self.runners[name] = runner
                    group.create_task(runner.run(until), name=f"lease:{name}")
        except BaseExceptionGroup as group:  # one line for the operator, not a tree of tracebacks
            raise _first(group) from None
        finally:
            self.joined.clear()
            await connection.close()

    @staticmethod
    async def first_join(config: ClusterConfig) -> ClusterConnection | None:
        """One attempt to join before anything else is opened: a server cluster mode cannot use is
        refused at once (`ClusterError`, exit 2, nothing touched); an unreachable one is None (the
        node starts anyway and keeps trying: `run`)."""
        try:
            return await _open_checked(config, _JOINING)
        except ClusterUnreachableError:
            log.warning("the node starts without NATS and keeps trying to join")
            return None

    async def _join(self, stop: asyncio.Event) -> ClusterConnection | None:
        if self.connection is not None:
            return self.connection
        self.failing_since = self.monotonic()
        while not stop.is_set():
            try:
                self.connection = await _open_checked(self.config, _JOINING)
                return self.connection
            except ClusterUnreachableError as exc:
                self.failure = str(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry_every)
        return None


#: One incident log for every attempt to join: an unreachable NATS is one line, then one when it answers.
_JOINING = IncidentLog(log)


async def _open_checked(config: ClusterConfig, incidents: IncidentLog) -> ClusterConnection:
    """Connect, check the server, make (or check) the lease bucket: a connection cluster mode can use."""
    connection = await ClusterConnection.open(config, incidents=incidents)
    try:
        await connection.ensure_kv(lease_bucket(connection.replicas), LEASE_BUCKET_NEEDS)
    except BaseException:
        await connection.close()
        raise
    return connection


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf failure of a task group: the one the others were cancelled for."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first

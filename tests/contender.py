"""One "node" contending for one lease, in the test's own process: a NATS connection of its own
and a `LeasedRunner`, which the test starts, steps down cleanly, or crashes (the lease is then
not given back, as after a kill -9: another node must wait out its TTL)."""

from __future__ import annotations

import asyncio
import contextlib

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET, Lease
from core.cluster.leased import LeasedRunner, LeasedWork


class Contender:
    def __init__(
        self, connection: ClusterConnection, lease: str, node: str, work: LeasedWork, *, ttl: int, stop_deadline: float
    ) -> None:
        self.connection = connection
        self.runner = LeasedRunner(
            Lease(connection.js, LEASE_BUCKET, lease, node, ttl=ttl), work, stop_deadline=stop_deadline
        )
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.runner.run(self.stop))

    async def step_down(self) -> None:
        """Stop contending cleanly: the work stops and the lease is given back at once."""
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)

    async def crash(self) -> None:
        """Die without giving the lease back: NATS goes first, so the release cannot reach it."""
        await self.connection.close()
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task

    async def close(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, 10)
        await self.connection.close()

"""Run the long-lived parts of the process as tasks of one loop, restarting any that fail.

A watcher that hits a bug must not take the API or the other chains down with it: each part
runs under supervision, is restarted with exponential backoff when it raises, and its state
(running, restarting, last error) is visible to /ready and the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import msgspec

from core.errors import MempoolsError
from core.support.backoff import backoff

log = logging.getLogger("mempools.supervisor")

PartFactory = Callable[[asyncio.Event], Awaitable[None]]


class PartState(msgspec.Struct):
    name: str
    status: str = "starting"  # running | restarting | stopped
    restarts: int = 0
    last_error: str | None = None


class Supervisor:
    def __init__(self, *, min_backoff: float = 0.5, max_backoff: float = 60.0) -> None:
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.parts: dict[str, PartState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, factory: PartFactory, stop: asyncio.Event) -> None:
        """Run `factory(stop)` until it returns with `stop` set; restart it when it raises."""
        self.parts[name] = PartState(name=name)
        self._tasks[name] = asyncio.create_task(self._supervise(name, factory, stop), name=name)

    async def _supervise(self, name: str, factory: PartFactory, stop: asyncio.Event) -> None:
        state = self.parts[name]
        failures = 0  # in a row
        while not stop.is_set():
            state.status = "running"
            started = time.monotonic()
            try:
                await factory(stop)
                if stop.is_set():
                    break
                raise RuntimeError("returned before shutdown")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                state.restarts += 1
                state.last_error = f"{type(exc).__name__}: {exc}"
                state.status = "restarting"
                if time.monotonic() - started > 60:
                    failures = 0  # it ran fine for a while: start the backoff over
                failures += 1
                delay = backoff(failures, first=self.min_backoff, cap=self.max_backoff)
                # An expected failure (MempoolsError: a full disk, say) is said in full by its
                # message; a traceback per restart would only flood the log.
                trace = None if isinstance(exc, MempoolsError) else exc
                log.error("%s failed (%s); restarting in %.1f s", name, state.last_error, delay, exc_info=trace)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        state.status = "stopped"

    async def wait(self, timeout: float | None = None) -> None:
        """Wait for every part to finish (after `stop` was set), cancelling stragglers at `timeout`."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks.values(), timeout=timeout)
        for task in pending:
            log.warning("%s did not stop in time; cancelling it", task.get_name())
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

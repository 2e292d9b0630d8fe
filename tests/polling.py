"""Waiting for something that happens on another task or in another process, without sleeping blind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll `check` until it is truthy (an assertion error after `timeout`)."""
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def until_async(check: Callable[[], Awaitable[object]], timeout: float = 15.0) -> None:
    """`until` for a condition that needs a round trip (a monitor, a NATS request): it runs
    against a deadline, since each check itself takes time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached in {timeout} s")
        await asyncio.sleep(0.02)

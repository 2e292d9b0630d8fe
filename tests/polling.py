"""Waiting for something that happens on another task or in another process, without sleeping blind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(check: Callable[[], object], timeout: float = 5.0) -> None:
    """Poll `check` until it is truthy (an assertion error after `timeout`)."""
    for _ in range(int(timeout / 0.01)):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")

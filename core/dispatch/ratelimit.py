"""An async rate limiter: at most one send per key per `per_key_interval`, `global_rate` overall.

Telegram allows about one message per second in a chat and 30 per second for the whole bot.
Each `acquire` reserves the earliest slot that satisfies both limits and sleeps until it, so
callers queue in arrival order without polling, and a chat that is busy does not hold up
others beyond the global spacing. A 429 pushes the key's (or everybody's) next slot back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable


class RateLimiter:
    def __init__(
        self,
        *,
        per_key_interval: float = 1.0,
        global_rate: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.per_key_interval = per_key_interval
        self.global_interval = 1.0 / global_rate if global_rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_key: dict[Hashable, float] = {}
        self._next_global = 0.0

    def delay(self, key: Hashable) -> float:
        """How long a send for `key` would wait now, without booking anything."""
        now = self._clock()
        return max(now, self._next_key.get(key, 0.0), self._next_global) - now

    def reserve(self, key: Hashable) -> float:
        """Book the next slot for `key`; returns how long to wait for it (0: go now)."""
        now = self._clock()
        slot = max(now, self._next_key.get(key, 0.0), self._next_global)
        self._next_key[key] = slot + self.per_key_interval
        self._next_global = slot + self.global_interval
        if len(self._next_key) > 10_000:
            self._next_key = {k: t for k, t in self._next_key.items() if t > now}
        return slot - now

    async def acquire(self, key: Hashable) -> None:
        delay = self.reserve(key)
        if delay > 0:
            await self._sleep(delay)

    def penalize(self, key: Hashable | None, seconds: float) -> None:
        """After a 429: nothing more for `key` (None: for anyone) until `seconds` from now."""
        until = self._clock() + seconds
        if key is None:
            self._next_global = max(self._next_global, until)
        else:
            self._next_key[key] = max(self._next_key.get(key, 0.0), until)

"""An async rate limiter: at most one send per key per `per_key_interval`, `global_rate` overall,
and for some keys (`windowed`) at most `window_limit` sends in any `window` seconds.

Telegram allows about one message per second in a chat, 20 a minute in a group, and 30 per
second for the whole bot. Each `acquire` reserves the earliest slot that satisfies every limit
and sleeps until it, so callers queue in arrival order without polling, and a chat that is busy
does not hold up others beyond the global spacing. A 429 pushes the key's (or everybody's) next
slot back.

The global spacing is kept between booked slots, not as one "next free" time: a key whose slot
is far ahead (a group waiting out its minute) books that far slot without pushing every other
key's sends behind it. Booked slots ahead of now are few (30 a second at most), kept sorted.

The window is sliding, not a fixed minute: a key's last `window_limit` booked slots are kept
(a bounded deque), and the next slot is no earlier than `window` after the oldest of them. So a
group that got 20 messages in a burst gets the 21st a minute after the first, never 21 in a
minute across a clock-minute boundary.

`share` is the fraction of `global_rate` this process may use (1.0 on one node). In cluster mode
the nodes that hold delivery partitions split Telegram's per-bot budget by what they hold
(`DeliveryPartitions.bot_share`), so the cluster as a whole stays under it; per-key limits stay
exact, because one chat is one destination in one partition, delivered by one node.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

_EPSILON = 1e-9  # float slack when comparing slot times


def _never(key: Hashable) -> bool:
    return False


def _whole() -> float:
    return 1.0


class RateLimiter:
    def __init__(
        self,
        *,
        per_key_interval: float = 1.0,
        global_rate: float = 30.0,
        window_limit: int = 0,
        window: float = 60.0,
        windowed: Callable[[Hashable], bool] = _never,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        share: Callable[[], float] | None = None,
    ) -> None:
        if window_limit < 0 or window < 0:
            raise ValueError("window_limit and window must not be negative")
        self.per_key_interval = per_key_interval
        self.global_rate = global_rate
        self.share = share or _whole
        self.window_limit = window_limit
        self.window = window
        self._windowed = windowed if window_limit > 0 else _never
        self._clock = clock
        self._sleep = sleep
        self._next_key: dict[Hashable, float] = {}
        self._next_global = 0.0  # nothing for anyone before this (a global 429)
        self._global_slots: list[float] = []  # booked slots from `global_interval` ago on, sorted
        #: The last `window_limit` slots booked for each windowed key, oldest first.
        self._booked: dict[Hashable, deque[float]] = {}

    def _earliest(self, key: Hashable, now: float) -> float:
        slot = max(now, self._next_key.get(key, 0.0), self._next_global)
        booked = self._booked.get(key)
        if booked is not None and len(booked) == self.window_limit:
            slot = max(slot, booked[0] + self.window)
        return self._global_gap(slot)

    @property
    def global_interval(self) -> float:
        """Seconds between two sends overall: `global_rate` times this process's `share`."""
        rate = self.global_rate * self.share()
        return 1.0 / rate if rate > 0 else 0.0

    def _global_gap(self, slot: float) -> float:
        """The earliest time from `slot` on at least `global_interval` from every booked slot."""
        gap = self.global_interval
        slots = self._global_slots
        i = bisect.bisect_right(slots, slot - gap + _EPSILON)
        while i < len(slots) and slots[i] < slot + gap - _EPSILON:
            slot = slots[i] + gap
            i += 1
        return slot

    def delay(self, key: Hashable) -> float:
        """How long a send for `key` would wait now, without booking anything."""
        now = self._clock()
        return self._earliest(key, now) - now

    def reserve(self, key: Hashable) -> float:
        """Book the next slot for `key`; returns how long to wait for it (0: go now)."""
        now = self._clock()
        slot = self._earliest(key, now)
        self._next_key[key] = slot + self.per_key_interval
        gap = self.global_interval
        if gap > 0:
            stale = bisect.bisect_left(self._global_slots, now - gap)
            del self._global_slots[:stale]
            bisect.insort(self._global_slots, slot)
        if self._windowed(key):
            self._booked.setdefault(key, deque(maxlen=self.window_limit)).append(slot)
        if len(self._next_key) > 10_000:
            self._next_key = {k: t for k, t in self._next_key.items() if t > now}
        if len(self._booked) > 10_000:
            self._booked = {k: b for k, b in self._booked.items() if b[-1] + self.window > now}
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

"""Login throttling: failed attempts per email and per client address, in a sliding window.

Argon2 already makes each guess expensive for us as well as for an attacker; this caps how many
guesses one address, or one targeted account, gets. State is per process (one process serves the
API), bounded, and owned by the app instance, never a module global.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from api.problems import Throttled


class LoginThrottle:
    def __init__(
        self,
        *,
        per_email: int = 5,
        per_address: int = 20,
        window: float = 900.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_email = per_email
        self.per_address = per_address
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, email: str, address: str) -> None:
        """Raise `Throttled` (with the seconds to wait) if either key is over its limit."""
        now = self._clock()
        wait = max(
            self._wait(f"e:{email.strip().lower()}", self.per_email, now),
            self._wait(f"a:{address}", self.per_address, now),
        )
        if wait > 0:
            raise Throttled("too many failed logins; try again later", retry_after=math.ceil(wait))

    def failure(self, email: str, address: str) -> None:
        now = self._clock()
        if len(self._failures) >= self.max_keys:
            self._prune(now)
        for k in (f"e:{email.strip().lower()}", f"a:{address}"):
            self._failures.setdefault(k, deque()).append(now)

    def success(self, email: str) -> None:
        self._failures.pop(f"e:{email.strip().lower()}", None)

    def _wait(self, k: str, limit: int, now: float) -> float:
        stamps = self._failures.get(k)
        if not stamps:
            return 0.0
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._failures[k]
            return 0.0
        if len(stamps) < limit:
            return 0.0
        return stamps[len(stamps) - limit] + self.window - now

    def _prune(self, now: float) -> None:
        for k in list(self._failures):
            stamps = self._failures[k]
            if not stamps or stamps[-1] <= now - self.window:
                del self._failures[k]
        while len(self._failures) >= self.max_keys:  # still full: forget the oldest keys
            self._failures.pop(next(iter(self._failures)))

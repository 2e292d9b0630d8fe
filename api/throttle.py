"""Throttles for the two doors that cost a password hash: login and sign-up.

Argon2 already makes each guess expensive for us as well as for an attacker; these cap how many
hashes one address, or one targeted account, gets. An attempt is counted *before* its hash, so
40 concurrent guesses cannot all pass a check that only sees the ones already finished. State is
per process (one process serves the API), bounded, and owned by the app instance, never a
module global.

The client address is what the ASGI server reports: the peer, or the `X-Forwarded-For` client
only when the peer is one of `[api] trusted_proxies` (see mempools/http_server.py).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from core.errors import Throttled


class SlidingWindow:
    """Timestamps per key within the last `window` seconds, for at most `max_keys` keys."""

    def __init__(self, window: float, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._stamps: dict[str, deque[float]] = {}

    def now(self) -> float:
        return self._clock()

    def wait(self, key: str, limit: int, now: float) -> float:
        """Seconds until `key` has fewer than `limit` stamps in the window (0: it has already)."""
        stamps = self._stamps.get(key)
        if not stamps:
            return 0.0
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if not stamps:
            del self._stamps[key]
            return 0.0
        if len(stamps) < limit:
            return 0.0
        return stamps[len(stamps) - limit] + self.window - now

    def add(self, key: str, now: float) -> None:
        if key not in self._stamps and len(self._stamps) >= self.max_keys:
            self._prune(now)
        self._stamps.setdefault(key, deque()).append(now)

    def remove_last(self, key: str) -> None:
        stamps = self._stamps.get(key)
        if stamps:
            stamps.pop()

    def clear(self, key: str) -> None:
        self._stamps.pop(key, None)

    def _prune(self, now: float) -> None:
        for k in list(self._stamps):
            stamps = self._stamps[k]
            if not stamps or stamps[-1] <= now - self.window:
                del self._stamps[k]
        while len(self._stamps) >= self.max_keys:  # still full: forget the oldest keys
            self._stamps.pop(next(iter(self._stamps)))


def _throttled(message: str, wait: float) -> Throttled:
    return Throttled(message, retry_after=max(1, math.ceil(wait)))


class LoginThrottle:
    """Failed logins per email and per client address.

    `attempt` counts the login as a failure up front (raising `Throttled` when a limit is
    reached); `success` takes it back. A login whose hash is still running therefore already
    counts against the limits.
    """

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
        self._failures = SlidingWindow(window, max_keys=max_keys, clock=clock)

    def attempt(self, email: str, address: str) -> None:
        """Raise `Throttled` (with the seconds to wait) if either key is at its limit; else count it."""
        now = self._failures.now()
        email_key, address_key = _email_key(email), f"a:{address}"
        wait = max(
            self._failures.wait(email_key, self.per_email, now),
            self._failures.wait(address_key, self.per_address, now),
        )
        if wait > 0:
            raise _throttled("too many failed logins; try again later", wait)
        self._failures.add(email_key, now)
        self._failures.add(address_key, now)

    def success(self, email: str, address: str) -> None:
        """The attempt was right: forget the email's failures and take this attempt off the address."""
        self._failures.clear(_email_key(email))
        self._failures.remove_last(f"a:{address}")


class SignupThrottle:
    """Sign-ups per client address: each one costs a hash and 64 MiB while it runs."""

    def __init__(
        self,
        *,
        per_address: int = 10,
        window: float = 3600.0,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address = per_address
        self._attempts = SlidingWindow(window, max_keys=max_keys, clock=clock)

    def attempt(self, address: str) -> None:
        now = self._attempts.now()
        wait = self._attempts.wait(address, self.per_address, now)
        if wait > 0:
            raise _throttled("too many sign-ups from this address; try again later", wait)
        self._attempts.add(address, now)


def _email_key(email: str) -> str:
    return f"e:{email.strip().lower()}"

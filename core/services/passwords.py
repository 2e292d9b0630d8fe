"""Password hashing with argon2id, on its own small, bounded pool of threads.

A hash takes tens of milliseconds of CPU and 64 MiB of memory (argon2-cffi's default cost). On
the event loop's default executor a burst of sign-ups queued ahead of everything else that uses
it, DNS resolution for webhooks included (`loop.getaddrinfo`), and ran six hashes at once (600 MB).
Here hashing has `workers` threads of its own (argon2 releases the GIL, so two threads use two
cores) and at most `queue` more hashes waiting; beyond that a caller gets `OverloadedError` (a 503
with Retry-After) at once instead of piling up memory and latency.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.services.errors import OverloadedError

MIN_PASSWORD = 8
# Longer inputs only cost CPU: argon2 hashes them fine, but nobody types 1 KiB passwords.
MAX_PASSWORD = 1024

T = TypeVar("T")


class Passwords:
    """Hash and verify; `verify_dummy` burns the same time when the account does not exist.

    Spending the same time on "no such email" and "wrong password" keeps login from telling an
    attacker which emails are registered.
    """

    def __init__(self, hasher: PasswordHasher | None = None, *, workers: int = 2, queue: int = 32) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("not-a-password-of-anyone")
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._capacity = workers + queue
        # Counted where the work really ends (in the worker thread), so a caller that gives up
        # (a client that disconnects) does not free a slot its hash still holds.
        self._pending = 0
        self._lock = threading.Lock()

    async def hash(self, password: str) -> str:
        return await self._run(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await self._run(self._check, stored_hash, password)

    async def verify_dummy(self, password: str) -> None:
        await self._run(self._check, self._dummy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        with self._lock:
            if self._pending >= self._capacity:
                raise OverloadedError("too many password checks in progress; try again shortly", retry_after=1)
            self._pending += 1
        try:
            future = self._executor.submit(self._counted, fn, *args)
        except BaseException:
            self._release()
            raise
        # A hash cancelled before it started (its caller gave up) never reaches `_counted`.
        future.add_done_callback(lambda f: self._release() if f.cancelled() else None)
        return await asyncio.wrap_future(future)

    def _counted(self, fn: Callable[..., T], *args: str) -> T:
        try:
            return fn(*args)
        finally:
            self._release()

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def _check(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

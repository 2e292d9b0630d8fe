"""Password hashing with argon2id, always off the event loop (a hash takes tens of milliseconds)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD = 8
# Longer inputs only cost CPU: argon2 hashes them fine, but nobody types 1 KiB passwords.
MAX_PASSWORD = 1024


class Passwords:
    """Hash and verify; `verify_dummy` burns the same time when the account does not exist.

    Spending the same time on "no such email" and "wrong password" keeps login from telling an
    attacker which emails are registered.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("not-a-password-of-anyone")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._check, stored_hash, password)

    async def verify_dummy(self, password: str) -> None:
        await asyncio.to_thread(self._check, self._dummy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False

    def _check(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

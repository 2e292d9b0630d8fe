"""The narrow key-value interface every service is written against.

Nothing above this module knows the store is RocksDB: services see ordered bytes keys, bytes
values, scans and atomic batches. That is what keeps a second backend (or the NATS-based
split described in DESIGN.md) a change of one module rather than of every service.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from os import PathLike
from typing import Protocol

import msgspec


class Absent(msgspec.Struct, frozen=True, tag="absent"):
    """The batch applies only if `key` has no value (a unique email, a new id)."""

    key: bytes


class Equals(msgspec.Struct, frozen=True, tag="equals"):
    """The batch applies only if `key`'s value has this `digest(value)` (compare-and-set)."""

    key: bytes
    digest: bytes


Precondition = Absent | Equals


def digest(value: bytes) -> bytes:
    """The digest an `Equals` precondition compares with (SHA-256 of the value)."""
    return hashlib.sha256(value).digest()


class WriteBatch:
    """Puts and deletes applied all together or not at all by `KVStore.commit`.

    Backend-neutral on purpose: services build a batch across repositories (notifications,
    outbox entries and a chain cursor in one go) without holding a backend object.

    `preconditions` are checked against the store's state right before the batch is applied, by
    the store that applies it: on one node that is the RocksDB write itself (everything runs on
    one event loop, so they always hold after the caller's own checks), in cluster mode every
    replica decides at apply time and they all decide the same. That is how a unique email or a
    chain watcher's epoch stays single across nodes with no lock anywhere.

    `on_commit` callbacks run, in order, right after the batch is written, and never when the
    write fails: in-memory views of the store (the outbox's due-time heap) change exactly when
    the records they mirror do.
    """

    __slots__ = ("_on_commit", "ops", "preconditions")

    def __init__(self) -> None:
        self.ops: list[tuple[bytes, bytes | None]] = []
        self.preconditions: list[Precondition] = []
        self._on_commit: list[Callable[[], None]] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((key, None))

    def require(self, condition: Precondition) -> None:
        """Apply the batch only if `condition` holds then (else the commit raises ConflictError)."""
        self.preconditions.append(condition)

    def on_commit(self, callback: Callable[[], None]) -> None:
        self._on_commit.append(callback)

    def committed(self) -> None:
        """Run the `on_commit` callbacks; the store calls this after a successful write."""
        callbacks, self._on_commit = self._on_commit, []
        for callback in callbacks:
            callback()

    def __len__(self) -> int:
        return len(self.ops)


#: Receives the (key, value or None for a delete) operations of one committed write.
WriteListener = Callable[[list[tuple[bytes, bytes | None]]], None]


class KVStore(Protocol):
    """Ordered bytes-to-bytes map with atomic batches."""

    def get(self, key: bytes) -> bytes | None: ...

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The values of `keys`, in their order (None where absent): one batched read (RocksDB's
        multi-get) instead of a call per key, for pages that read every record an index lists."""
        ...

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def scan(
        self,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Keys under `prefix`, within `[start, stop)`, ascending (or descending), at most `limit`."""
        ...

    def write(self, batch: WriteBatch) -> None:
        """Apply every operation of `batch` atomically, then run its `on_commit` callbacks.

        Local and synchronous: kept for the single-node store and the cluster replica's applier.
        Services use `commit`, which in cluster mode goes through the replicated log.
        """
        ...

    async def commit(self, batch: WriteBatch) -> None:
        """Apply `batch` (if its preconditions hold) durably, then run its `on_commit` callbacks.

        Raises `ConflictError` when a precondition failed: nothing of the batch was applied. On
        return the batch is readable from this store (read-your-writes); in cluster mode other
        nodes see it within their apply lag.
        """
        ...

    def observe(self, listener: WriteListener) -> None:
        """Call `listener` with the operations of every write from now on, once it is committed.

        For in-memory caches of records, which must forget a record whoever changed it.
        """
        ...

    def checkpoint(self, path: str | PathLike[str]) -> None:
        """Write a consistent copy of the whole store to a new directory `path`."""
        ...

    def accepts_writes(self) -> bool:
        """False while writes are refused (a full disk), so work whose results could not be
        recorded waits instead of being done in vain; asking lets a recovery try again."""
        ...

    def close(self) -> None: ...


def failed_precondition(
    preconditions: Iterable[Precondition], get: Callable[[bytes], bytes | None]
) -> Precondition | None:
    """The first precondition that does not hold given `get`, or None. Pure in the store's state."""
    for condition in preconditions:
        value = get(condition.key)
        if isinstance(condition, Absent):
            if value is not None:
                return condition
        elif value is None or digest(value) != condition.digest:
            return condition
    return None


def describe_precondition(condition: Precondition | None) -> str:
    if isinstance(condition, Absent):
        return f"key {condition.key!r} already exists"
    if isinstance(condition, Equals):
        return f"key {condition.key!r} changed"
    return "a precondition failed"


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with `prefix` (None: no such key)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])

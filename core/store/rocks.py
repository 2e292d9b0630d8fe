"""RocksDB behind `KVStore`, through rocksdict in raw (bytes) mode.

Durability: every write goes through the write-ahead log, so a batch written before a
`kill -9` is there whole after restart; `sync=True` additionally fsyncs each batch, which also
survives power loss but costs roughly 50x in write throughput (see docs/STORAGE.md).

Permissions: the directory and its checkpoints hold webhook secrets, so they are owner-only
(core/store/permissions.py says how, given that RocksDB follows the process umask).

Refused writes (a full disk, an I/O error): RocksDB then keeps the database in a "background
error" state in which every later write fails with the same error, even once space is back,
and rocksdict has no `resume()`. So a refused write raises `StoreUnavailableError`, marks
`health`, and starts a recovery on a background thread: reads move to a read-only handle, the
broken handle is closed (that alone takes RocksDB about a second, hence not on the event loop),
and a read-write reopen is tried, again at most once per `reopen_interval` while writes keep
coming. The reopen replays the write-ahead log, so nothing committed is lost, and succeeds as
soon as there is room. Until then every write is refused at once. Measured on a small tmpfs;
see docs/STORAGE.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import cast

import rocksdict

from core.errors import ConflictError, StoreError, StoreLockedError, StoreUnavailableError
from core.store.base import WriteBatch, WriteListener, describe_precondition, failed_precondition, prefix_end
from core.store.health import StoreHealth
from core.store.permissions import create_private_dir, loose_mode, make_private, restrict_files

log = logging.getLogger("mempools.store")


class RocksStore:
    """A RocksDB database directory opened by exactly one process."""

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        sync: bool = False,
        read_only: bool = False,
        health: StoreHealth | None = None,
        reopen_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._db = _open(self.path, read_only)
        self._read_only = read_only
        self._write_options = rocksdict.WriteOptions()
        self._write_options.sync = sync
        self._closed = False
        self._listeners: list[WriteListener] = []
        self.health = health or StoreHealth()
        self._reopen_interval = reopen_interval
        self._monotonic = monotonic
        # Recovery from a refused write (see the module docstring). `_swap` guards handing out
        # `_db` against the recovery thread replacing it; it is never held while RocksDB works.
        self._swap = threading.Lock()
        self._broken = False  # the handle refused a write and is not replaced yet: refuse at once
        self._recovery: threading.Thread | None = None
        self._next_recovery = 0.0
        self._db_writable = not read_only  # False while `_db` is the read-only stand-in

    def _handle(self) -> rocksdict.Rdict:
        with self._swap:
            return self._db

    def get(self, key: bytes) -> bytes | None:
        return self._handle().get(key)

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        if not keys:
            return []
        return cast(list[bytes | None], self._handle().get(list(keys)))  # a list of keys: one multi-get

    def put(self, key: bytes, value: bytes) -> None:
        self._mutate(lambda db: db.put(key, value, self._write_options))
        self._written([(key, value)])

    def delete(self, key: bytes) -> None:
        self._mutate(lambda db: db.delete(key, self._write_options))
        self._written([(key, None)])

    def _mutate(self, apply: Callable[[rocksdict.Rdict], None]) -> None:
        """Apply one write, turning a refusal into `StoreUnavailableError` (and starting a recovery)."""
        if self._broken:
            self._start_recovery()
            raise StoreUnavailableError(f"the store is refusing writes: {self.health.reason}")
        try:
            apply(self._handle())
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's message
            reason = _refusal(exc)
            if reason is None:
                raise
            self._broken = True
            if self.health.refused(reason):
                log.error("store %s refuses writes: %s; retrying until it accepts them", self.path, exc)
            self._start_recovery()
            raise StoreUnavailableError(f"the store is refusing writes: {reason}") from None
        if self.health.accepted():
            log.info("store %s accepts writes again", self.path)

    def accepts_writes(self) -> bool:
        if self._broken:
            self._start_recovery()  # rate-limited: at most one reopen per `reopen_interval`
            return False
        return True

    def _start_recovery(self) -> None:
        """Run `_recover` on a thread, unless one runs or one started less than `reopen_interval` ago."""
        now = self._monotonic()
        if self._closed or now < self._next_recovery or (self._recovery is not None and self._recovery.is_alive()):
            return
        self._next_recovery = now + self._reopen_interval
        self._recovery = threading.Thread(target=self._recover, name="store-recovery", daemon=True)
        self._recovery.start()

    def _recover(self) -> None:
        """Replace the broken handle by a read-only one, then try to reopen read-write.

        Off the event loop: closing a handle in RocksDB's error state takes about a second and a
        reopen tens of milliseconds. A handle is closed only once no new call can get it (it is
        swapped under `_swap` first); open iterators keep it alive until they are done.
        """
        if self._db_writable:
            try:
                replacement = _open(self.path, read_only=True)
            except StoreError as exc:
                log.debug("store %s cannot be opened read-only: %s", self.path, exc)
                replacement = None
            with self._swap:
                broken = self._db
                if replacement is not None:
                    self._db = replacement
                self._db_writable = False
            with contextlib.suppress(Exception):  # closing a handle in the error state raises it again
                broken.close()
        try:
            writable = _open(self.path)
        except StoreError as exc:  # still full (the reopen flushes the log into a table), or locked
            log.debug("store %s cannot be reopened for writing yet: %s", self.path, exc)
            return
        with self._swap:
            previous, self._db = self._db, writable
            self._db_writable = True
            self._broken = False
        with contextlib.suppress(Exception):
            previous.close()

    def observe(self, listener: WriteListener) -> None:
        self._listeners.append(listener)

    def _written(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        for listener in self._listeners:
            listener(ops)

    def scan(
        self,
        prefix: bytes = b"",
        *,
        start: bytes | None = None,
        stop: bytes | None = None,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        lower = max(prefix, start) if start is not None else prefix
        end = prefix_end(prefix) if prefix else None
        upper = min(end, stop) if end is not None and stop is not None else (stop if end is None else end)
        if limit is not None and limit <= 0:
            return
        it = self._handle().iter()
        if reverse:
            if upper is None:
                it.seek_to_last()
            else:
                it.seek_for_prev(upper)
                if it.valid() and it.key() >= upper:
                    it.prev()
        else:
            it.seek(lower)
        count = 0
        while it.valid():
            key = it.key()
            if reverse:
                if key < lower:
                    return
            elif upper is not None and key >= upper:
                return
            yield key, it.value()
            count += 1
            if limit is not None and count >= limit:
                return
            if reverse:
                it.prev()
            else:
                it.next()

    def write(self, batch: WriteBatch) -> None:
        if batch.ops:
            native = rocksdict.WriteBatch(raw_mode=True)
            for key, value in batch.ops:
                if value is None:
                    native.delete(key)
                else:
                    native.put(key, value)
            self._mutate(lambda db: db.write(native, self._write_options))
            self._written(batch.ops)
        batch.committed()

    async def commit(self, batch: WriteBatch) -> None:
        """The single-node commit: the RocksDB write itself, no await inside (so a service's
        read-check-write runs uninterrupted on the event loop, exactly as a plain `write`)."""
        failed = failed_precondition(batch.preconditions, self.get)
        if failed is not None:
            raise ConflictError(f"the write was not applied: {describe_precondition(failed)}")
        self.write(batch)

    def checkpoint(self, path: str | PathLike[str]) -> None:
        target = Path(path)
        if target.exists():
            raise StoreError(f"backup target {target} already exists")
        try:
            rocksdict.Checkpoint(self._handle()).create_checkpoint(str(target))
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's message
            raise StoreError(f"cannot write a checkpoint to {target}: {_strip_io(exc)}") from None
        make_private(target)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._recovery is not None:
                self._recovery.join()
            try:
                self._db.close()
            except Exception as exc:  # a full disk: the memtable flush of close() fails, or the sticky error
                reason = _refusal(exc)
                if reason is None:
                    raise
                log.warning("store %s closed without flushing (%s); committed writes are in its log", self.path, reason)
            if not self._read_only:  # files RocksDB made since the open (flush on close, new WAL)
                restrict_files(self.path)

    def __enter__(self) -> RocksStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(path: Path, read_only: bool = False) -> rocksdict.Rdict:
    if read_only:
        try:
            return rocksdict.Rdict(
                str(path), options=rocksdict.Options(raw_mode=True), access_type=rocksdict.AccessType.read_only()
            )
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's message
            raise StoreError(f"{path} cannot be opened: {_strip_io(exc)}") from None
    if path.exists() and not path.is_dir():
        raise StoreError(f"data directory {path} is not a directory")
    try:
        created = create_private_dir(path)
    except OSError as exc:
        raise StoreError(f"data directory {path} cannot be created: {exc.strerror or exc}") from None
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise StoreError(f"data directory {path} is not readable and writable by this user")
    # An existing directory keeps the operator's mode (it may be shared on purpose), said out loud.
    loose = None if created else loose_mode(path)
    if loose is not None:
        log.warning(
            "data directory %s is accessible by group or others (mode %04o) and holds webhook secrets: chmod 700 %s",
            path,
            loose,
            path,
        )
    options = rocksdict.Options(raw_mode=True)
    options.create_if_missing(True)
    try:
        db = rocksdict.Rdict(str(path), options=options)
    except Exception as exc:  # rocksdict raises plain Exception with RocksDB's message
        message = str(exc)
        if "LOCK" in message or "lock" in message:
            raise StoreLockedError(f"data directory {path} is in use by another mempools process") from None
        raise StoreError(f"data directory {path} cannot be opened: {_strip_io(exc)}") from None
    restrict_files(path)  # what this open created, and files an older mempools left 0644
    return db


def _refusal(exc: BaseException) -> str | None:
    """Why RocksDB refused a write ("No space left on device"), or None if it is not a refusal.

    Only I/O errors count: anything else (an invalid argument) is a bug and stays an exception.
    The file RocksDB names is left out: the reason is shown to API callers.
    """
    message = str(exc)
    if not message.startswith("IO error") and "No space left" not in message:
        return None
    return _strip_io(exc).split(": While ", 1)[0] or message


def _strip_io(exc: BaseException) -> str:
    return str(exc).removeprefix("IO error: ").strip()

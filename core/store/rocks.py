"""RocksDB behind `KVStore`, through rocksdict in raw (bytes) mode.

Durability: every write goes through the write-ahead log, so a batch written before a
`kill -9` is there whole after restart; `sync=True` additionally fsyncs each batch, which also
survives power loss but costs roughly 50x in write throughput (see docs/STORAGE.md).

Permissions: the directory and its checkpoints hold webhook secrets, so they are owner-only
(core/store/permissions.py says how, given that RocksDB follows the process umask).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

import rocksdict

from core.errors import StoreError, StoreLockedError
from core.store.base import WriteBatch, WriteListener, prefix_end
from core.store.permissions import create_private_dir, loose_mode, make_private, restrict_files

log = logging.getLogger("mempools.store")


class RocksStore:
    """A RocksDB database directory opened by exactly one process."""

    def __init__(self, path: str | PathLike[str], *, sync: bool = False, read_only: bool = False) -> None:
        self.path = Path(path)
        self._db = _open(self.path, read_only)
        self._read_only = read_only
        self._write_options = rocksdict.WriteOptions()
        self._write_options.sync = sync
        self._closed = False
        self._listeners: list[WriteListener] = []

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value, self._write_options)
        self._written([(key, value)])

    def delete(self, key: bytes) -> None:
        self._db.delete(key, self._write_options)
        self._written([(key, None)])

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
        it = self._db.iter()
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
            self._db.write(native, self._write_options)
            self._written(batch.ops)
        batch.committed()

    def checkpoint(self, path: str | PathLike[str]) -> None:
        target = Path(path)
        if target.exists():
            raise StoreError(f"backup target {target} already exists")
        try:
            rocksdict.Checkpoint(self._db).create_checkpoint(str(target))
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's message
            raise StoreError(f"cannot write a checkpoint to {target}: {_strip_io(exc)}") from None
        make_private(target)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._db.close()
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


def _strip_io(exc: BaseException) -> str:
    return str(exc).removeprefix("IO error: ").strip()

"""A store on a full disk: writes are refused with a clear error, reads go on, and it recovers by itself.

Runs on a real small tmpfs (see tests/tmpfs.py), because what matters is what RocksDB really
does: after a refused log write it keeps refusing even once space is back, until reopened.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core.errors import StoreUnavailableError
from core.store import RocksStore, WriteBatch
from tests.tmpfs import fill, small_tmpfs


class Clock:
    """A monotonic clock the test moves by hand (the store reopens at most once a second)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _batch(key: bytes, value: bytes, committed: list[bytes]) -> WriteBatch:
    batch = WriteBatch()
    batch.put(key, value)
    batch.on_commit(lambda: committed.append(key))
    return batch


def test_a_full_disk_refuses_writes_clearly_and_recovers_once_space_is_back(tmp_path: Path) -> None:
    clock = Clock()
    with small_tmpfs(tmp_path / "disk", 8) as disk:
        store = RocksStore(disk / "db", monotonic=clock)
        try:
            observed: list[bytes] = []
            store.observe(lambda ops: observed.extend(k for k, _ in ops))
            committed: list[bytes] = []
            for i in range(50):
                store.write(_batch(b"before/%03d" % i, b"v" * 100, committed))
            ballast = fill(disk)

            refused = 0
            for i in range(200):  # the log's current block may still take a few small writes
                try:
                    store.write(_batch(b"during/%03d" % i, b"x" * 4000, committed))
                except StoreUnavailableError as exc:
                    refused += 1
                    assert str(exc) == "the store is refusing writes: No space left on device"
                    break
            assert refused == 1
            accepted_during = [k for k in committed if k.startswith(b"during/")]
            refused_key = b"during/%03d" % len(accepted_during)
            assert refused_key not in committed and refused_key not in observed  # no on-commit for a refused batch
            assert store.health.refusing
            assert store.health.describe().startswith("refusing writes since ")
            assert store.health.describe().endswith(": No space left on device")

            # While it lasts (and while the broken handle is being closed and replaced on the
            # recovery thread): every write is refused the same way, put and delete too; reads work.
            for _ in range(75):
                for write in (
                    lambda: store.put(b"p", b"1"),
                    lambda: store.delete(b"before/000"),
                    lambda: store.write(_batch(b"q", b"1", committed)),
                ):
                    with pytest.raises(StoreUnavailableError, match="refusing writes: No space left on device"):
                        write()
                assert store.get(b"before/007") == b"v" * 100
                assert len(list(store.scan(b"before/"))) == 50
                clock.now += 0.5
                time.sleep(0.02)

            # Space back: a write soon succeeds (the store reopens itself), with nothing lost.
            ballast.unlink()
            deadline = time.monotonic() + 30
            while True:
                try:
                    store.write(_batch(b"after", b"1", committed))
                    break
                except StoreUnavailableError:
                    assert time.monotonic() < deadline, "the store did not recover"
                    clock.now += 0.5
                    time.sleep(0.01)
            assert not store.health.refusing and store.health.describe() == "open"
            assert committed[-1] == b"after" and observed[-1] == b"after"
            assert b"q" not in committed and store.get(b"q") is None and store.get(b"p") is None
            assert len(list(store.scan(b"before/"))) == 50
            assert [k for k, _ in store.scan(b"during/")] == accepted_during
            store.put(b"p", b"2")
            assert store.get(b"p") == b"2"
        finally:
            store.close()
        again = RocksStore(disk / "db")
        try:
            assert len(list(again.scan(b"before/"))) == 50
            assert again.get(b"after") == b"1" and again.get(b"p") == b"2"
        finally:
            again.close()

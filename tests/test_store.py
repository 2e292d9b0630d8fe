"""The RocksDB store: scans, atomic batches across a kill -9, the lock and the schema version."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import SchemaVersionError, StoreError, StoreLockedError
from core.store import SCHEMA_VERSION, WriteBatch, open_store
from core.store.schema import SCHEMA_KEY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path: Path):
    s = open_store(tmp_path / "db")
    yield s
    s.close()


def _populate(store, keys):
    batch = WriteBatch()
    for k in keys:
        batch.put(k, k[::-1])
    store.write(batch)


def test_scan_orders_bytewise_and_respects_prefix(store) -> None:
    keys = [b"a/\x00", b"a/\x01", b"a/\xff", b"a/b", b"a0", b"a", b"b/1", b"a/\xff\xff"]
    _populate(store, keys)
    got = [k for k, _ in store.scan(b"a/")]
    assert got == [b"a/\x00", b"a/\x01", b"a/b", b"a/\xff", b"a/\xff\xff"]
    assert [k for k, _ in store.scan(b"a/", reverse=True)] == got[::-1]
    assert [v for _, v in store.scan(b"b/")] == [b"1/b"]


def test_scan_bounds_and_limits(store) -> None:
    _populate(store, [f"k/{i:03d}".encode() for i in range(100)])
    fwd = [k for k, _ in store.scan(b"k/", start=b"k/010", stop=b"k/020")]
    assert fwd == [f"k/{i:03d}".encode() for i in range(10, 20)]
    back = [k for k, _ in store.scan(b"k/", start=b"k/010", stop=b"k/020", reverse=True, limit=3)]
    assert back == [b"k/019", b"k/018", b"k/017"]
    assert [k for k, _ in store.scan(b"k/", limit=2)] == [b"k/000", b"k/001"]
    assert list(store.scan(b"k/", limit=0)) == []
    assert list(store.scan(b"nothing/")) == []
    # A stop beyond the prefix is clamped to it; a start before it too.
    assert len(list(store.scan(b"k/", start=b"a", stop=b"z"))) == 100
    assert [k for k, _ in store.scan(b"k/", stop=b"k/000\x00", reverse=True)] == [b"k/000"]


@settings(max_examples=60, deadline=None)
@given(
    keys=st.sets(st.binary(min_size=1, max_size=4), max_size=40),
    prefix=st.binary(max_size=2),
    start=st.none() | st.binary(max_size=4),
    stop=st.none() | st.binary(max_size=4),
    reverse=st.booleans(),
    limit=st.none() | st.integers(min_value=0, max_value=10),
)
def test_scan_agrees_with_a_sorted_list(tmp_path_factory, keys, prefix, start, stop, reverse, limit) -> None:
    s = open_store(tmp_path_factory.mktemp("db"))
    try:
        _populate(s, keys)
        expected = sorted(
            k
            for k in keys | {SCHEMA_KEY}
            if k.startswith(prefix) and (start is None or k >= start) and (stop is None or k < stop)
        )
        if reverse:
            expected.reverse()
        if limit is not None:
            expected = expected[:limit]
        got = [k for k, _ in s.scan(prefix, start=start, stop=stop, reverse=reverse, limit=limit)]
        assert got == expected
    finally:
        s.close()


def test_batch_put_and_delete_apply_together(store) -> None:
    store.put(b"x", b"1")
    batch = WriteBatch()
    batch.delete(b"x")
    batch.put(b"y", b"2")
    assert store.get(b"y") is None
    store.write(batch)
    assert store.get(b"x") is None and store.get(b"y") == b"2"


_WRITER = textwrap.dedent(
    """
    import sys
    from core.store import WriteBatch, open_store
    store = open_store(sys.argv[1])
    i = 0
    while True:
        batch = WriteBatch()
        for j in range(50):
            batch.put(b"batch/%08d/%02d" % (i, j), b"x" * 200)
        batch.put(b"last", b"%d" % i)
        store.write(batch)
        print(i, flush=True)
        i += 1
    """
)


@pytest.mark.parametrize("run", range(3))
def test_write_batch_survives_kill_9_whole_or_not_at_all(tmp_path: Path, run: int) -> None:
    db = tmp_path / "db"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    assert proc.stdout is not None
    acknowledged = -1
    deadline = time.monotonic() + random.uniform(0.3, 1.2)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            acknowledged = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert acknowledged >= 0, "the writer never committed a batch"
    store = open_store(db)
    try:
        counts: dict[bytes, int] = {}
        for key, _ in store.scan(b"batch/"):
            counts[key[6:14]] = counts.get(key[6:14], 0) + 1
        assert counts, "nothing survived"
        assert set(counts.values()) == {50}, "a batch survived in part"
        batches = sorted(int(k) for k in counts)
        assert batches == list(range(len(batches))), "batches are missing in the middle"
        assert batches[-1] >= acknowledged, "an acknowledged batch was lost"
        assert int(store.get(b"last")) == batches[-1]
    finally:
        store.close()


def test_second_process_gets_a_clear_lock_error(tmp_path: Path) -> None:
    db = tmp_path / "db"
    holder = open_store(db)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mempools", "serve"],
            cwd=ROOT,
            env={**os.environ, "MEMPOOLS_STORE__PATH": str(db), "MEMPOOLS_API__PORT": "0"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2
        assert proc.stderr.strip() == f"mempools: data directory {db} is in use by another mempools process"
        with pytest.raises(StoreLockedError):
            open_store(db)
    finally:
        holder.close()


def test_newer_schema_version_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "db"
    s = open_store(db)
    assert s.get(SCHEMA_KEY) == str(SCHEMA_VERSION).encode()
    s.put(SCHEMA_KEY, str(SCHEMA_VERSION + 1).encode())
    s.close()
    with pytest.raises(SchemaVersionError, match=r"newer mempools \(schema version 2\)"):
        open_store(db)
    # ...and the refused store was closed again, so it can still be opened and repaired.
    from core.store import RocksStore

    RocksStore(db).close()


def test_unusable_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(StoreError, match="is not a directory"):
        open_store(not_a_dir)
    with pytest.raises(StoreError, match="cannot be created"):
        open_store(not_a_dir / "sub")

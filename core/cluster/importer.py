"""`mempools cluster import`: a single-node data directory's records, committed into the cluster.

Everything of the local store is copied (accounts, identities, keys, subscriptions, destinations,
history, attempts, dead letters, outbox, cursors), except what belongs to one directory only: its
schema stamp (`meta/schema_version`) and a replica's applied sequence (`APPLIED_KEY`).

Running it twice must change nothing, and a run cut short must be finishable by running it again.
So the keys are read in order and cut into batches the same way every time (`max_ops` operations
or `max_bytes`, whichever comes first); each batch also puts an import marker whose key is derived
from the batch's content digest, and requires that marker `Absent`. A batch whose marker the
cluster holds is skipped without being published ("already imported"); one that loses a race
with another run is skipped by every replica (a `ConflictError`, counted the same).

Merging two installations is not supported: if the cluster already holds records of the tables
being imported and not this import's first marker, the import is refused before writing anything.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Iterator

import msgspec

from core.cluster.changelog import APPLIED_KEY
from core.cluster.schema import CLUSTER_SCHEMA_KEY
from core.cluster.store import ClusterStore
from core.errors import ClusterError, ConflictError
from core.store.base import Absent, KVStore, WriteBatch
from core.store.keys import SEP
from core.store.schema import SCHEMA_KEY

#: Keys of one directory only, never imported.
LOCAL_ONLY_KEYS = frozenset({SCHEMA_KEY, APPLIED_KEY})
#: Where the markers of imported batches live (`meta/import/<sha256 of the batch>`).
MARKER_PREFIX = b"meta/import/"
_NOT_DATA = (MARKER_PREFIX, CLUSTER_SCHEMA_KEY, SCHEMA_KEY, APPLIED_KEY)


class ImportSummary(msgspec.Struct):
    keys: int = 0  # keys committed by this run
    batches: int = 0  # batches committed by this run
    already: int = 0  # batches the cluster already held (an earlier run)
    already_keys: int = 0
    seconds: float = 0.0


class ImportBatch(msgspec.Struct, frozen=True):
    ops: list[tuple[bytes, bytes]]
    marker: bytes


def import_batches(source: KVStore, *, max_ops: int = 500, max_bytes: int = 512 * 1024) -> Iterator[ImportBatch]:
    """The source's keys in order, cut into batches, each with the marker key of its content."""
    ops: list[tuple[bytes, bytes]] = []
    size = 0
    for key, value in source.scan():
        if key in LOCAL_ONLY_KEYS:
            continue
        if ops and (len(ops) >= max_ops or size + len(key) + len(value) > max_bytes):
            yield _batch(ops)
            ops, size = [], 0
        ops.append((key, value))
        size += len(key) + len(value)
    if ops:
        yield _batch(ops)


def _batch(ops: list[tuple[bytes, bytes]]) -> ImportBatch:
    content = hashlib.sha256(msgspec.msgpack.encode(ops)).hexdigest()
    return ImportBatch(ops=ops, marker=MARKER_PREFIX + content.encode())


def foreign_tables(source: KVStore, target: KVStore) -> list[str]:
    """The tables of `source` that `target` already holds records of (data that is not the import's)."""
    tables: set[bytes] = set()
    for key, _ in source.scan():
        if key not in LOCAL_ONLY_KEYS:
            tables.add(key.split(SEP, 1)[0])
    found = []
    for table in sorted(tables):
        for key, _ in target.scan(table + SEP if table else b"", limit=3):
            if not key.startswith(_NOT_DATA):
                found.append(table.decode(errors="replace"))
                break
    return found


async def import_store(
    source: KVStore,
    target: ClusterStore,
    *,
    max_ops: int = 500,
    max_bytes: int = 512 * 1024,
) -> ImportSummary:
    """Commit every record of `source` into the cluster; see the module docstring."""
    started = time.monotonic()
    await target.catch_up()
    summary = ImportSummary()
    batches = import_batches(source, max_ops=max_ops, max_bytes=max_bytes)
    first = next(batches, None)
    if first is None:
        summary.seconds = time.monotonic() - started
        return summary
    if target.get(first.marker) is None:
        foreign = foreign_tables(source, target)
        if foreign:
            raise ClusterError(
                f"the cluster already holds data that is not from this import (tables {', '.join(foreign)}): "
                "merging two installations is not supported"
            )
    for batch in itertools.chain([first], batches):
        if target.get(batch.marker) is not None:
            summary.already += 1
            summary.already_keys += len(batch.ops)
            continue
        write = WriteBatch()
        for key, value in batch.ops:
            write.put(key, value)
        write.put(batch.marker, msgspec.json.encode({"keys": len(batch.ops)}))
        write.require(Absent(batch.marker))
        try:
            await target.commit(write)
        except ConflictError:  # another run committed it first
            summary.already += 1
            summary.already_keys += len(batch.ops)
            continue
        summary.batches += 1
        summary.keys += len(batch.ops)
    summary.seconds = time.monotonic() - started
    return summary

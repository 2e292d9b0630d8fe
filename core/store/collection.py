"""A typed table over the KV store, with secondary indexes kept consistent on every write.

Each repository is a `Collection` plus a few domain queries. Writing the index maintenance
once here (read the old record, drop its index entries that changed, add the new ones, all in
the caller's batch) is what keeps "subscriptions by owner" and "by chain" from drifting apart
from the records after updates and deletes.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

import msgspec

from core.errors import ConflictError, ValidationError
from core.store.base import Absent, KVStore, WriteBatch
from core.store.keys import SEP, KeyPart, key, prefix

T = TypeVar("T")

#: Records read per `get_many` by a filtered page (an unfiltered one reads exactly a page).
PAGE_READ_BATCH = 128


class UniqueConflictError(ConflictError):
    """A unique index already points at another record."""


class Index(msgspec.Struct, Generic[T], frozen=True):
    """Secondary index `name`: for each record, the key parts it is filed under.

    `parts` returns one tuple per entry (several for multi-valued fields, none to leave the
    record out). A non-unique entry's key ends with the record's id parts, so records under one
    value come out in id order; a unique entry maps the value alone to the record.
    """

    name: str
    parts: Callable[[T], Iterable[tuple[KeyPart, ...]]]
    unique: bool = False


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    next_cursor: str | None


def encode_cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> bytes:
    """An opaque cursor back to key bytes; a malformed one is the caller's error."""
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("cursor is not valid") from None


class Collection(Generic[T]):
    """Records of type `T` under table `table`, addressed by `id_of(record)`."""

    def __init__(
        self,
        store: KVStore,
        table: str,
        type_: type[T],
        id_of: Callable[[T], tuple[KeyPart, ...]],
        indexes: Iterable[Index[T]] = (),
        *,
        page_cache_bytes: int = 0,
    ) -> None:
        self.store = store
        self.table = table
        self.id_of = id_of
        self.indexes = {ix.name: ix for ix in indexes}
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(type_)
        # Encoded once: every write builds these keys, and they are the hot path of the dispatcher.
        self._record_prefix = prefix(table)
        self._index_prefixes = [(ix, prefix(self._index_table(ix))) for ix in self.indexes.values()]
        self._page_cache: PageCache[T] | None = (
            PageCache(store, self._decoder.decode, page_cache_bytes) if page_cache_bytes else None
        )
        self._heads: HeadCache | None = (
            HeadCache(store, [base for ix, base in self._index_prefixes if not ix.unique]) if page_cache_bytes else None
        )

    # -- keys ---------------------------------------------------------------------------------
    def record_key(self, *id_parts: KeyPart) -> bytes:
        return self._record_prefix + key(*id_parts)

    def _index_table(self, index: Index[T]) -> str:
        return f"{'uq' if index.unique else 'ix'}.{self.table}.{index.name}"

    def _index_keys(self, record: T) -> set[bytes]:
        if not self._index_prefixes:
            return set()
        id_suffix = SEP + key(*self.id_of(record))
        keys: set[bytes] = set()
        for index, base in self._index_prefixes:
            for parts in index.parts(record):
                keys.add(base + key(*parts) if index.unique else base + key(*parts) + id_suffix)
        return keys

    # -- reads --------------------------------------------------------------------------------
    def decode(self, raw: bytes) -> T:
        return self._decoder.decode(raw)

    def encode(self, record: T) -> bytes:
        return self._encoder.encode(record)

    def get(self, *id_parts: KeyPart) -> T | None:
        raw = self.store.get(self.record_key(*id_parts))
        return None if raw is None else self._decoder.decode(raw)

    def get_unique(self, index_name: str, *parts: KeyPart) -> T | None:
        index = self.indexes[index_name]
        assert index.unique, f"{index_name} is not a unique index"
        record_key = self.store.get(key(self._index_table(index), *parts))
        if record_key is None:
            return None
        raw = self.store.get(record_key)
        return None if raw is None else self._decoder.decode(raw)

    def scan(self, *id_prefix: KeyPart, reverse: bool = False, limit: int | None = None) -> Iterator[T]:
        for _, raw in self.store.scan(prefix(self.table, *id_prefix), reverse=reverse, limit=limit):
            yield self._decoder.decode(raw)

    def scan_index(
        self,
        index_name: str,
        *parts: KeyPart,
        reverse: bool = False,
        limit: int | None = None,
        start: tuple[KeyPart, ...] | None = None,
        stop: tuple[KeyPart, ...] | None = None,
    ) -> Iterator[tuple[bytes, T]]:
        """(entry key suffix, record) under `parts`, optionally bounded by further parts."""
        index = self.indexes[index_name]
        base = prefix(self._index_table(index), *parts)
        lo = base + key(*start) if start else None
        hi = base + key(*stop) if stop else None
        yield from self._scan_entries(base, lo, hi, reverse, limit)

    def page(
        self,
        index_name: str,
        *parts: KeyPart,
        limit: int,
        cursor: str | None = None,
        reverse: bool = True,
        start: tuple[KeyPart, ...] | None = None,
        stop: tuple[KeyPart, ...] | None = None,
        keep: Callable[[T], bool] | None = None,
        max_scanned: int = 10_000,
    ) -> Page[T]:
        """One page of an index, resuming after `cursor`.

        The cursor is the suffix of the last entry's key: resuming is a seek, not a skip, and
        a forged cursor can only move within `parts` (the owner's own entries).
        """
        index = self.indexes[index_name]
        base = prefix(self._index_table(index), *parts)
        lo = base + key(*start) if start else None
        hi = base + key(*stop) if stop else None
        if cursor is not None:
            after = base + decode_cursor(cursor)
            if reverse:
                hi = after if hi is None else min(hi, after)
            else:
                after += b"\x00"  # strictly after the cursor entry
                lo = after if lo is None else max(lo, after)
        # A page's worth of index entries first (unfiltered: the page, with one multi-get), then,
        # while a filter skips records, PAGE_READ_BATCH at a time: at most one batch is read beyond
        # what the page needed. Other scans (scan_index) stay one read per entry, lazily.
        cache = self._page_cache
        batch = min(limit, max_scanned)
        heads = self._heads if lo is None and hi is None else None  # a first page
        entries: Iterator[tuple[bytes, bytes]]
        if heads is None:
            entries = self.store.scan(base, start=lo, stop=hi, reverse=reverse)
        elif (head := heads.get(base, reverse, batch)) is not None:
            # A head shorter than asked for is all there is; else more is read only if needed.
            entries = iter(head) if len(head) < batch else itertools.chain(head, self._scan_after(base, head, reverse))
        else:
            generation = heads.generation
            entries = self.store.scan(base, reverse=reverse)
            head = list(itertools.islice(entries, batch))
            heads.put(base, reverse, batch, head, generation)
            entries = itertools.chain(head, entries)
        items: list[T] = []
        last = b""
        scanned = 0
        while chunk := list(itertools.islice(entries, batch)):
            record_keys = [record_key for _, record_key in chunk]
            records = self._read_many(record_keys) if cache is None else cache.read(record_keys)
            for (entry_key, _), record in zip(chunk, records, strict=True):
                if record is None:
                    continue  # an entry whose record is gone
                scanned += 1
                last = entry_key
                if keep is None or keep(record):
                    items.append(record)
                    if len(items) >= limit:
                        return Page(items=items, next_cursor=encode_cursor(last[len(base) :]))
                if scanned >= max_scanned:
                    return Page(items=items, next_cursor=encode_cursor(last[len(base) :]))
            if len(chunk) < batch:
                break
            batch = min(max(limit, PAGE_READ_BATCH), max_scanned)
        return Page(items=items, next_cursor=None)

    def _scan_after(self, base: bytes, head: list[tuple[bytes, bytes]], reverse: bool) -> Iterator[tuple[bytes, bytes]]:
        """The entries under `base` beyond a cached head, read only if a page needs more than it."""
        last = head[-1][0]
        if reverse:
            yield from self.store.scan(base, stop=last, reverse=True)
        else:
            yield from self.store.scan(base, start=last + b"\x00")

    def _scan_entries(
        self, base: bytes, lo: bytes | None, hi: bytes | None, reverse: bool, limit: int | None
    ) -> Iterator[tuple[bytes, T]]:
        for entry_key, record_key in self.store.scan(base, start=lo, stop=hi, reverse=reverse, limit=limit):
            raw = self.store.get(record_key)
            if raw is not None:
                yield entry_key[len(base) :], self._decoder.decode(raw)

    def _read_many(self, record_keys: list[bytes]) -> list[T | None]:
        """The records at `record_keys` (None where gone), with one `get_many`: a page of 50 was
        50 point reads."""
        decode = self._decoder.decode
        return [None if raw is None else decode(raw) for raw in self.store.get_many(record_keys)]

    # -- writes -------------------------------------------------------------------------------
    def put(self, record: T, batch: WriteBatch) -> None:
        """Add to `batch` the insert or replace of `record`, moving its index entries.

        Only builds: the caller commits the batch (`await store.commit(batch)`), or uses `save`.
        """
        record_key = self.record_key(*self.id_of(record))
        if not self._index_prefixes:  # nothing to keep in step: no need to read the old version
            batch.put(record_key, self._encoder.encode(record))
            return
        old_raw = self.store.get(record_key)
        old_keys = self._index_keys(self._decoder.decode(old_raw)) if old_raw is not None else set()
        new_keys = self._index_keys(record)
        for index in self.indexes.values():
            if not index.unique:
                continue
            table = self._index_table(index)
            for parts in index.parts(record):
                entry = key(table, *parts)
                owner = self.store.get(entry)
                if owner is None:
                    # Free here; the precondition keeps it single when another node takes it first.
                    batch.require(Absent(entry))
                elif owner != record_key:
                    raise UniqueConflictError(f"{self.table}.{index.name} {parts!r} is taken")
        for stale in old_keys - new_keys:
            batch.delete(stale)
        for fresh in new_keys - old_keys:
            batch.put(fresh, record_key)
        batch.put(record_key, self._encoder.encode(record))

    def insert(self, record: T, batch: WriteBatch) -> None:
        """`put` a record that must be new: the batch applies only if no record has its id by then
        (two nodes creating the same identity at once: one wins, the other's commit is a conflict)."""
        batch.require(Absent(self.record_key(*self.id_of(record))))
        self.put(record, batch)

    def delete(self, *id_parts: KeyPart, batch: WriteBatch) -> T | None:
        """Add to `batch` the removal of the record and its index entries; returns what it removes."""
        record_key = self.record_key(*id_parts)
        old_raw = self.store.get(record_key)
        if old_raw is None:
            return None
        old = self._decoder.decode(old_raw)
        for stale in self._index_keys(old):
            batch.delete(stale)
        batch.delete(record_key)
        return old

    async def save(self, record: T) -> None:
        """Insert or replace `record` in a batch of its own, committed through the store.

        Async because the commit is: in cluster mode it is a replicated log write. The read of
        the old version and the commit have no await between them on one node.
        """
        batch = WriteBatch()
        self.put(record, batch)
        await self.store.commit(batch)

    async def remove(self, *id_parts: KeyPart) -> T | None:
        """Remove the record and its index entries in a batch of its own; returns what was removed."""
        batch = WriteBatch()
        old = self.delete(*id_parts, batch=batch)
        if old is not None:
            await self.store.commit(batch)
        return old


class RecordCache(Generic[T]):
    """Records of one collection, decoded once and kept until a write touches them.

    The store tells the cache about every committed write (`KVStore.observe`), whoever made it,
    so a cached record is never stale: a lookup of an unchanged record costs a dict lookup
    instead of a RocksDB read and a decode. For hot readers such as the dispatcher, which looks
    up the same few destinations for every delivery.
    """

    def __init__(self, collection: Collection[T], max_size: int = 4096) -> None:
        self.collection = collection
        self.max_size = max_size
        self._records: dict[str, T | None] = {}
        self._ids: dict[bytes, str] = {}  # record key -> id, for the write listener
        collection.store.observe(self._written)

    def get(self, record_id: str) -> T | None:
        try:
            return self._records[record_id]
        except KeyError:
            pass
        record_key = self.collection.record_key(record_id)
        raw = self.collection.store.get(record_key)
        record = None if raw is None else self.collection.decode(raw)
        if len(self._records) >= self.max_size:
            self._records.clear()
            self._ids.clear()
        self._records[record_id] = record
        self._ids[record_key] = record_id
        return record

    def _written(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        ids = self._ids
        if ids:
            for key, _ in ops:
                record_id = ids.pop(key, None)
                if record_id is not None:
                    self._records.pop(record_id, None)


class PageCache(Generic[T]):
    """Decoded records that pages listed, by record key, kept until a write touches them.

    A history's first page is what is asked again and again (a console refreshing, a client
    polling); reading and decoding its 50 records was most of the cost of `GET /v1/notifications`.
    Like RecordCache, the store tells the cache about every committed write, whoever made it
    (in cluster mode: every change the replica applies). A read that a write overtook does not
    fill the cache (the generation check): a record read just before a write in another thread
    is returned once, never cached. Bounded by the stored size of what it holds (decoded, a
    record takes about three times that); full, it starts over rather than tracking recency.
    Callers must not mutate what pages return (nothing does: pages are for reading).
    """

    def __init__(self, store: KVStore, decode: Callable[[bytes], T], max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._store = store
        self._decode = decode
        self._records: dict[bytes, T | None] = {}
        self._bytes = 0
        self._generation = 0  # bumped by every write
        store.observe(self._written)

    def read(self, record_keys: list[bytes]) -> list[T | None]:
        cached = self._records
        found = {k: cached[k] for k in record_keys if k in cached}
        if len(found) < len(record_keys):
            missing = [k for k in record_keys if k not in found]
            generation = self._generation
            raws = self._store.get_many(missing)
            fresh = {k: None if raw is None else self._decode(raw) for k, raw in zip(missing, raws, strict=True)}
            if generation == self._generation:  # no write landed meanwhile (another thread's)
                size = sum(len(raw) for raw in raws if raw is not None)
                if self._bytes + size > self.max_bytes:
                    cached.clear()
                    self._bytes = 0
                cached.update(fresh)
                self._bytes += size
            found.update(fresh)
        return [found[k] for k in record_keys]

    def _written(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        self._generation += 1
        cached = self._records
        if cached:
            for key_, _ in ops:
                cached.pop(key_, None)  # its bytes stay counted until the next start-over


class HeadCache:
    """The newest (or oldest) index entries under a prefix: what a first page scans, kept until
    a write lands under that prefix.

    Stepping backwards through RocksDB's memtable is a skip-list search per entry: half the cost
    of reading a history's first page, which is the page asked for again and again. The entries
    are (entry key, record key) pairs; the records themselves come from the PageCache. Like it,
    the cache hears of every committed write through the store's `observe` (in cluster mode,
    every change the replica applies), and a scan that a write overtook is not kept (the
    generation check). Bounded by the number of entries held; full, it starts over.
    """

    def __init__(self, store: KVStore, index_prefixes: list[bytes], max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self.generation = 0  # bumped by every write
        self._prefixes = tuple(index_prefixes)
        self._heads: dict[bytes, dict[tuple[bool, int], list[tuple[bytes, bytes]]]] = {}
        self._entries = 0
        store.observe(self._written)

    def get(self, base: bytes, reverse: bool, count: int) -> list[tuple[bytes, bytes]] | None:
        shapes = self._heads.get(base)
        return None if shapes is None else shapes.get((reverse, count))

    def put(self, base: bytes, reverse: bool, count: int, head: list[tuple[bytes, bytes]], generation: int) -> None:
        if generation != self.generation or not self._prefixes:
            return  # a write landed since the scan began (another thread's): it may be missing
        if self._entries + len(head) > self.max_entries:
            self._heads.clear()
            self._entries = 0
        self._heads.setdefault(base, {})[(reverse, count)] = head
        self._entries += len(head)

    def _written(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        self.generation += 1
        heads = self._heads
        if not heads:
            return
        for key_, _ in ops:
            if key_.startswith(self._prefixes):
                # Every prefix of the key that ends a part may be a cached range (a range's base
                # is the index table and some leading parts, each followed by SEP).
                end = key_.find(SEP)
                while end != -1:
                    heads.pop(key_[: end + 1], None)  # its entries stay counted until the next start-over
                    end = key_.find(SEP, end + 1)

"""Storage: the `KVStore` interface, its RocksDB implementation and the schema check."""

from __future__ import annotations

from os import PathLike

from core.store.base import KVStore, WriteBatch, prefix_end
from core.store.rocks import RocksStore
from core.store.schema import SCHEMA_VERSION, ensure_schema

__all__ = ["SCHEMA_VERSION", "KVStore", "RocksStore", "WriteBatch", "ensure_schema", "open_store", "prefix_end"]


def open_store(path: str | PathLike[str], *, sync: bool = False) -> RocksStore:
    """Open the data directory, refusing one that another process or a newer version owns."""
    store = RocksStore(path, sync=sync)
    try:
        ensure_schema(store, str(path))
    except BaseException:
        store.close()
        raise
    return store

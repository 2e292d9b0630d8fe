"""The on-disk schema version, checked before anything else touches the store.

A data directory written by a newer mempools may use keys this code would misread or
silently corrupt, so it is refused outright; an older one is migrated step by step.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import SchemaVersionError
from core.store.base import KVStore

SCHEMA_VERSION = 1
SCHEMA_KEY = b"meta/schema_version"

# Migrations from version N to N+1, applied in order when an older store is opened.
MIGRATIONS: dict[int, Callable[[KVStore], None]] = {}


def ensure_schema(store: KVStore, where: str) -> int:
    """Stamp a new store, migrate an older one, refuse a newer one. Returns the version."""
    raw = store.get(SCHEMA_KEY)
    if raw is None:
        if next(store.scan(limit=1), None) is not None:
            raise SchemaVersionError(f"data directory {where} holds data but no schema version: not a mempools store")
        store.put(SCHEMA_KEY, str(SCHEMA_VERSION).encode())
        return SCHEMA_VERSION
    try:
        version = int(raw.decode())
    except (UnicodeDecodeError, ValueError):
        raise SchemaVersionError(f"data directory {where} has an unreadable schema version {raw!r}") from None
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"data directory {where} was written by a newer mempools (schema version {version}); "
            f"this one knows up to version {SCHEMA_VERSION}: upgrade mempools or restore a backup"
        )
    while version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get(version)
        if migrate is None:
            raise SchemaVersionError(f"data directory {where}: no migration from schema version {version}")
        migrate(store)
        version += 1
        store.put(SCHEMA_KEY, str(version).encode())
    return version

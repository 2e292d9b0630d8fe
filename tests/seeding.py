"""Test set-up that writes records straight into the local store, as the change applier does.

`Collection.put` only builds a batch now (services commit theirs with `await store.commit`); a
test that lays out records before it starts (often in a sync fixture) writes them with the
store's local `write`, which is what a replica's applier does with a committed batch too.
"""

from __future__ import annotations

from typing import TypeVar

from core.store.base import WriteBatch
from core.store.collection import Collection
from core.store.keys import KeyPart

T = TypeVar("T")


def put_now(collection: Collection[T], *records: T) -> None:
    """Insert or replace `records` (index entries moved) in one local write."""
    batch = WriteBatch()
    for record in records:
        collection.put(record, batch)
    collection.store.write(batch)


def delete_now(collection: Collection[T], *id_parts: KeyPart) -> T | None:
    """Remove one record and its index entries in a local write; returns what was removed."""
    batch = WriteBatch()
    old = collection.delete(*id_parts, batch=batch)
    collection.store.write(batch)
    return old

"""A page's JSON body built from each record's JSON, encoded once per record.

Encoding 50 notifications was a fifth of what `GET /v1/notifications` cost, for records that
are the same on every request: a history's pages come from the store's PageCache, which hands
out the same decoded record object until a write replaces it (core/store/collection.py). So the
JSON of a record is kept by the identity of that object: a changed record is a new object, whose
JSON is encoded afresh, and a cached object is never reused for another (the entry holds it).
The page is then the records' bytes joined, the same bytes Litestar makes of the typed page
(`{"items": [...], "next_cursor": ...}`, msgspec's encoding; tests/test_history_pages_fast.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Response
from litestar.enums import MediaType

_ENCODE = msgspec.json.Encoder().encode


class RecordJson:
    """JSON of records by object identity; bounded by count, full it starts over.

    Only for records nobody mutates (pages' records: the PageCache's contract).
    """

    def __init__(self, max_records: int = 4096) -> None:
        self.max_records = max_records
        self._json: dict[int, tuple[object, bytes]] = {}

    def of(self, record: object) -> bytes:
        entry = self._json.get(id(record))
        if entry is not None and entry[0] is record:
            return entry[1]
        encoded = _ENCODE(record)
        if len(self._json) >= self.max_records:
            self._json.clear()
        self._json[id(record)] = (record, encoded)
        return encoded

    def page(self, items: Sequence[object], next_cursor: str | None) -> bytes:
        """`{"items":[...],"next_cursor":...}` as msgspec encodes a page struct of those fields."""
        known = self._json
        parts: list[bytes] = []
        for item in items:  # `of`, inlined for the common case: a page's records are known
            entry = known.get(id(item))
            parts.append(entry[1] if entry is not None and entry[0] is item else self.of(item))
        return b"".join((b'{"items":[', b",".join(parts), b'],"next_cursor":', _ENCODE(next_cursor), b"}"))


def encoded_json(body: bytes) -> Response[Any]:
    """A response whose JSON is already encoded: Litestar sends the bytes as they are. A handler
    returning it is annotated `Response[ThePage]`, which gives the OpenAPI document its schema."""
    return Response(body, media_type=MediaType.JSON)

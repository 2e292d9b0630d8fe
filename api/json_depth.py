"""How deeply a JSON document nests, found without decoding it.

msgspec decodes nested arrays and objects by recursion, guarded by Python's recursion limit: a
body of a thousand `[` (3 KB, no login needed) raises RecursionError, which is an unhandled 500.
No request body of this API nests more than three levels, so bodies nesting deeper than
`MAX_JSON_DEPTH` are refused before they reach the decoder.

The common case costs two `bytes.count` calls; only a body with many brackets is scanned, with
its strings (where brackets do not count) removed first.
"""

from __future__ import annotations

import re

#: Deeper than any body of the API (3) with room to spare, far below the decoder's recursion limit.
MAX_JSON_DEPTH = 32

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


def nests_deeper_than(document: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if arrays/objects in `document` nest more than `limit` levels (malformed JSON included)."""
    if document.count(b"[") + document.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", document).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False

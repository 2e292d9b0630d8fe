"""Identifiers.

New records get a prefixed, time-ordered random id (48-bit milliseconds + 80 random bits in
Crockford base32, as ULID does), so listings in id order are creation order. Notification ids
are derived instead: the same (chain, height, scope, subscription) always gives the same id,
which is what makes re-processing a block after a crash idempotent and keeps `webhook-id`
stable for consumers.
"""

from __future__ import annotations

import hashlib
import os
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base32(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_id(prefix: str) -> str:
    """`prefix_` + 26 characters, sortable by creation time."""
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_base32(value, 26)}"


def notification_id(chain_id: str, height: int, scope: str, subscription_id: str) -> str:
    """Deterministic: `scope` is `tx:<index>` or `block`."""
    digest = hashlib.sha256(f"{chain_id}\x00{height}\x00{scope}\x00{subscription_id}".encode()).digest()
    return "ntf_" + _base32(int.from_bytes(digest[:16], "big"), 26)

"""Which delivery partition a destination belongs to (cluster mode, docs/CLUSTER.md point 6).

Every delivery to one destination happens in one partition, and one node holds a partition at a
time, so per-destination concurrency and Telegram's per-chat limits stay exact cluster-wide. The
hash is stable across processes and versions (not Python's salted `hash`): every node must put a
destination in the same partition. Here, not in core/cluster, because the outbox needs it and
single-node mode must not import nats.
"""

from __future__ import annotations

import hashlib

#: Number of delivery partitions; each is one lease, `delivery:<p>`.
PARTITIONS = 32


def partition_of(destination_id: str, partitions: int = PARTITIONS) -> int:
    """The partition of `destination_id`: the first 4 bytes of its SHA-256, modulo `partitions`."""
    return int.from_bytes(hashlib.sha256(destination_id.encode()).digest()[:4], "big") % partitions

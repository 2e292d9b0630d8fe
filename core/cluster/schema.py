"""The cluster's schema version: one replicated record, and a node of another version is refused.

Every node applies every change into its own replica, so nodes that read and write records
differently (another `SCHEMA_VERSION`) would corrupt each other's data. The first node to start
stamps the cluster (`meta/cluster_schema`, committed through the change log with an `Absent`
precondition, so two first nodes racing agree on one stamp); every later node compares. The
local stamp of each replica directory (`meta/schema_version`, core/store/schema.py) is kept apart:
it says what wrote that directory, this says what the cluster runs.
"""

from __future__ import annotations

from core.cluster.store import ClusterStore
from core.errors import ClusterError, ConflictError
from core.store.base import Absent, WriteBatch
from core.store.schema import SCHEMA_VERSION

CLUSTER_SCHEMA_KEY = b"meta/cluster_schema"


async def ensure_cluster_schema(store: ClusterStore, version: int = SCHEMA_VERSION) -> int:
    """Stamp a new cluster with `version`, or refuse when the cluster's differs. Returns it.

    Waits for the replica to catch up first: a stamp committed by another node must be seen.
    """
    await store.catch_up()
    raw = store.get(CLUSTER_SCHEMA_KEY)
    if raw is None:
        batch = WriteBatch()
        batch.put(CLUSTER_SCHEMA_KEY, str(version).encode())
        batch.require(Absent(CLUSTER_SCHEMA_KEY))
        try:
            await store.commit(batch)
            return version
        except ConflictError:  # another node stamped it first: compare with that
            raw = store.get(CLUSTER_SCHEMA_KEY)
            assert raw is not None
    try:
        cluster = int(raw.decode())
    except (UnicodeDecodeError, ValueError):
        raise ClusterError(f"the cluster's schema version {raw!r} cannot be read") from None
    if cluster != version:
        raise ClusterError(
            f"the cluster's schema version is {cluster}; this mempools has {version}: upgrade every node together"
        )
    return cluster

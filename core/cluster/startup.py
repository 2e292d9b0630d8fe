"""What `mempools serve` does with a `[cluster]` section, so far: join and check, nothing else yet.

Join the cluster, refuse a server older than 2.12 (`check_server`), create the lease bucket and
refuse when the server dropped a setting leases need. Every refusal is a `ClusterError` line that
`mempools serve` prints before exiting 2. The rest of cluster mode (issue #16) is not built, so a
node that passes the checks does not pretend to run: it stops with `NOT_COMPLETE`.
"""

from __future__ import annotations

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET_NEEDS, lease_bucket
from core.config import ClusterConfig

NOT_COMPLETE = "cluster mode is not complete yet (issue #16): remove [cluster] to run one node"


async def prepare_cluster(config: ClusterConfig) -> str:
    """Join, check the server and the lease bucket; the server's version when all is well."""
    connection = await ClusterConnection.open(config)
    try:
        await connection.ensure_kv(lease_bucket(connection.replicas), LEASE_BUCKET_NEEDS)
        return connection.server_version
    finally:
        await connection.close()

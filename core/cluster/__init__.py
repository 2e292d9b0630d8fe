"""Cluster mode (issue #16): several `mempools serve` nodes on one NATS JetStream cluster.

Imported only when the config has a `[cluster]` section: a single node never loads nats-py (a
test checks it). So far: the checked connection (`connection.py`, the server version and the
stream settings Mempools relies on), leases (`lease.py`), the change log (`changelog.py`), the
store behind the `KVStore` seam (`store.py`), the node registry (`nodes.py`), the cluster's
schema record (`schema.py`), and what `mempools cluster status` / `import` use (`status.py`,
`importer.py`). docs/CLUSTER.md says what is missing.
"""

"""Cluster mode (issue #16): several `mempools serve` nodes on one NATS JetStream cluster.

Imported only when the config has a `[cluster]` section: a single node never loads nats-py (a
test checks it). So far: the checked connection (`connection.py`, the server version and the
stream settings Mempools relies on) and leases (`lease.py`). docs/CLUSTER.md says what is missing.
"""

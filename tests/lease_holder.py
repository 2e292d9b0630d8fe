"""A process that contends for one lease and reports on stdout, for the kill -9 / SIGSTOP tests.

`python -m tests.lease_holder NATS_URL LEASE NODE TTL` prints `held <token>` after every
successful acquire or refresh and `lost <reason>` when the lease is lost, until SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET, LEASE_BUCKET_NEEDS, Lease, lease_bucket
from core.config import ClusterConfig


async def main(url: str, name: str, node: str, ttl: int) -> None:
    connection = await ClusterConnection.open(ClusterConfig(nats=[url], node=node))
    await connection.ensure_kv(lease_bucket(3), LEASE_BUCKET_NEEDS)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    lease = Lease(
        connection.js, LEASE_BUCKET, name, node, ttl=ttl, on_lost=lambda why: print(f"lost {why}", flush=True)
    )
    last: int | None = None
    runner = asyncio.create_task(lease.run(stop))
    while not runner.done():
        if lease.token is not None and lease.token != last:
            last = lease.token
            print(f"held {last}", flush=True)
        await asyncio.sleep(0.02)
    await connection.close()


if __name__ == "__main__":
    url, name, node, ttl = sys.argv[1:5]
    asyncio.run(main(url, name, node, int(ttl)))

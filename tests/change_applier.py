"""A process that applies the change log into its own RocksDB replica, for the kill -9 test.

`python -m tests.change_applier NATS_URL DB_DIR` prints `resume <sequence>` once (the applied
sequence found in the replica) and then `applied <sequence>` after every applied message, until
SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from core.cluster.changelog import Applied, ChangeApplier
from core.cluster.connection import ClusterConnection
from core.config import ClusterConfig
from core.store.rocks import RocksStore


async def main(url: str, path: str) -> None:
    connection = await ClusterConnection.open(ClusterConfig(nats=[url], node="applier"))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    def report(outcome: Applied, _published_at: float) -> None:
        print(f"applied {outcome.sequence}", flush=True)

    with RocksStore(path) as store:
        applier = ChangeApplier(connection, store, on_applied=report, idle_check=0.2)
        print(f"resume {applier.sequence}", flush=True)
        await applier.run(stop)
    await connection.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

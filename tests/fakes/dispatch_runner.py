"""A standalone dispatcher process for crash tests: `python -m tests.fakes.dispatch_runner DATA_DIR`.

Opens the RocksDB store, delivers every outbox entry through the real WebhookChannel (private
networks allowed: the receiver is on 127.0.0.1) and exits 0 once the outbox is empty. Prints
"ready" when it starts delivering, so a test knows the kill lands in the delivery phase.
"""

from __future__ import annotations

import asyncio
import sys

from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.webhook import WebhookChannel
from core.store import open_store
from core.store.repositories import Repositories


async def main(path: str, workers: int) -> int:
    store = open_store(path)
    try:
        outbox = Outbox(store)
        client = HttpClient(allow_private_networks=True, total_timeout=5)
        dispatcher = Dispatcher(
            outbox,
            Repositories(store),
            {"webhook": WebhookChannel(client)},
            {}.get,
            limits=DispatchLimits(workers=workers, per_destination=workers),
        )
        print("ready", flush=True)
        while outbox.depth():
            await dispatcher.pump()
        await client.close()
        print("empty", flush=True)
        return 0
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 16)))

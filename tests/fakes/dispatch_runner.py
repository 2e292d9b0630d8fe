"""A standalone dispatcher process for crash tests:
`python -m tests.fakes.dispatch_runner DATA_DIR [WORKERS [TELEGRAM_BASE_URL TELEGRAM_TOKEN]]`.

Opens the RocksDB store, delivers every outbox entry through the real WebhookChannel (private
networks allowed: the receiver is on 127.0.0.1) and, given a Bot API address (the local fake),
through the real TelegramChannel (chain: tests.fakes.records.COSMOS); exits 0 once the outbox
is empty. Prints "ready" when it starts delivering, so a test knows the kill lands in the
delivery phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import telegram

from core.dispatch.channel import Channel
from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
from core.dispatch.webhook import WebhookChannel
from core.store import open_store
from core.store.repositories import Repositories
from tests.fakes.records import COSMOS


async def main(path: str, workers: int, telegram_api: tuple[str, str] | None = None) -> int:
    store = open_store(path)
    try:
        outbox = Outbox(store)
        client = HttpClient(allow_private_networks=True, total_timeout=5)
        channels: dict[str, Channel] = {"webhook": WebhookChannel(client)}
        async with contextlib.AsyncExitStack() as stack:
            if telegram_api is not None:
                base_url, token = telegram_api
                bot = await stack.enter_async_context(telegram.Bot(token=token, base_url=base_url))
                channels["telegram"] = TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0))
            dispatcher = Dispatcher(
                outbox,
                Repositories(store),
                channels,
                {COSMOS.id: COSMOS}.get,
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
    args = sys.argv[1:]
    sys.exit(
        asyncio.run(main(args[0], int(args[1]) if len(args) > 1 else 16, (args[2], args[3]) if len(args) > 3 else None))
    )

"""Notifications end to end (devnet -> watcher -> matcher -> dispatcher -> the bot's Bot), flood
control, a user who blocked the bot, and the token kept out of the logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.chain.pool import EndpointPool
from core.config import ChainConfig, Config, Denom
from core.dispatch.dispatcher import Dispatcher
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.render import short_address
from core.dispatch.telegram import TelegramChannel
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import BOB
from tests.fakes.telegram_api import FakeTelegramApi
from tests.polling import until
from tests.telegram_kit import BotRig

DEVNET = "devnet-1"


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi(token="987654:SECRET-token-value") as fake:
        yield fake


@pytest.fixture
async def devnet() -> AsyncIterator[DevnetServer]:
    chain = DevnetChain(DevnetConfig(chain_id=DEVNET, block_time=0, history=5, txs_per_block=2, seed=11))
    async with DevnetServer(chain, run_clock=False) as server:
        yield server


def devnet_config(url: str) -> Config:
    return Config(
        chains=[
            ChainConfig(
                id=DEVNET, name="Devnet", rpc=[url], bech32_prefix="cosmos",
                explorer_tx_url="https://explorer.example/tx/{hash}",
                denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
            )
        ]
    )  # fmt: skip


async def test_watch_then_a_devnet_transfer_arrives_as_a_message(
    tmp_path: Path, api: FakeTelegramApi, devnet: DevnetServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = BotRig(tmp_path, api, config=devnet_config(devnet.url))
    env = rig.env
    chain = env.config.chains[0].to_chain()
    pool = EndpointPool(DEVNET, [devnet.url], timeout=2)
    watcher = ChainWatcher(
        DEVNET, pool, BlockProcessor(chain, env.matcher, env.repos, env.outbox), env.repos,
        start_height=devnet.chain.tip + 1, window=4, poll_interval=0.05,
    )  # fmt: skip
    channel = TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0))
    dispatcher = Dispatcher(env.outbox, env.repos, {"telegram": channel}, {DEVNET: chain}.get)
    stop = asyncio.Event()
    await rig.door.start()
    tasks = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(dispatcher.run(stop))]
    try:
        watched = devnet.chain.book.accounts[3]
        sender = devnet.chain.book.accounts[0]
        [reply] = await rig.say(f"/watch {watched}")
        assert "✅ Subscribed" in reply.text and "Devnet" in reply.text
        devnet.chain.schedule_transfer(sender, watched, 1_500_000, "uatom")
        devnet.advance()
        [note] = (await api.wait_sent(2, timeout=15))[1:]
        assert note.chat_id == 42 and note.parse_mode == "HTML"
        assert note.text.startswith(f"<b>📥 +1.5 ATOM from {short_address(sender)}</b>\n<i>Funds of cosmos1")
        assert f"\nFrom <code>{sender}</code>\nDevnet · height " in note.text
        assert '<a href="https://explorer.example/tx/' in note.text
        [shown] = await rig.say("/history")
        assert "1.5 ATOM" in shown.text

        # The user blocks the bot: the chat's destination is disabled, no further attempts.
        api.fail_next("sendMessage", status=403, chat_id=42, times=100)
        devnet.chain.schedule_transfer(sender, watched, 2_000_000, "uatom")
        devnet.advance()
        [sub] = env.repos.subscriptions.scan()
        dest_id = sub.destination_ids[0]
        await until(lambda: not env.repos.destinations.get(dest_id).enabled, timeout=15)
        assert "bot was blocked by the user" in env.repos.destinations.get(dest_id).disabled_reason
        refused = sum(1 for m, p in api.calls if m == "sendMessage" and p.get("chat_id") == 42)
        devnet.chain.schedule_transfer(sender, watched, 3_000_000, "uatom")
        devnet.advance()
        await until(lambda: watcher.stats.cursor == devnet.chain.tip, timeout=15)
        # The block's deliveries were stored with the cursor; once the outbox is empty the
        # dispatcher has settled them all, so any further sendMessage would be in by now.
        await until(lambda: env.outbox.depth() == 0, timeout=15)
        assert sum(1 for m, p in api.calls if m == "sendMessage" and p.get("chat_id") == 42) == refused
        # Unblocked, /start enables the chat again.
        api._failures.clear()
        [hello] = await rig.say("/start")
        assert "Mempools" in hello.text and env.repos.destinations.get(dest_id).enabled
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await rig.door.stop()
        await pool.aclose()
        rig.close()
    assert api.token not in caplog.text and "SECRET-token-value" not in caplog.text
    assert "/bot<token>/" in caplog.text or "getUpdates" in caplog.text  # the logs were captured


async def test_replies_ride_out_flood_control(tmp_path: Path, api: FakeTelegramApi) -> None:
    rig = BotRig(tmp_path, api)
    await rig.door.start()
    try:
        api.fail_next("sendMessage", status=429, retry_after=1)
        started = time.monotonic()
        [reply] = await rig.say("/chains")
        assert "Test chain" in reply.text and time.monotonic() - started >= 0.95
        assert [p.get("chat_id") for m, p in api.calls if m == "sendMessage"] == [42, 42]
        # Flood control asking for longer than the bot waits: the reply is dropped, the bot goes on
        # in other chats; this chat's next replies are dropped without asking Telegram again (the
        # bot's one rate limiter holds the chat until then, for deliveries too).
        api.fail_next("sendMessage", status=429, retry_after=3600)
        assert await rig.say("/chains", expect=0) == []
        [reply] = await rig.say("/help", chat_id=43, user_id=43)
        assert reply.text.startswith("<b>Commands</b>")
        assert await rig.say("/help", expect=0) == []
        assert [p.get("chat_id") for m, p in api.calls if m == "sendMessage"] == [42, 42, 42, 43]
        assert rig.door.limiter.delay(42) > 3000
    finally:
        await rig.door.stop()
        rig.close()


async def test_token_never_logged_even_when_polling_fails(
    tmp_path: Path, api: FakeTelegramApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = BotRig(tmp_path, api)
    await rig.door.start()
    try:
        api.fail_next("getUpdates", status=500, description=f"Internal error for /bot{api.token}/getUpdates")
        await until(lambda: any(r.levelno >= logging.ERROR for r in caplog.records), timeout=10)
        [reply] = await rig.say(f"/watch {BOB}")
        assert "Subscribed" in reply.text
    finally:
        await rig.door.stop()
        rig.close()
    assert "SECRET-token-value" not in caplog.text
    assert "<token>" in caplog.text

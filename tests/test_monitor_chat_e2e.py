"""Validator and voter watches from chat to chat: `/validator <operator address>` and `/voter` in
Telegram (the real python-telegram-bot against the fake Bot API) and `/mempools validator` in a
Discord server (discord.py against the local Discord), the validator looked up on the devnet's
REST API, the watcher counting its signatures over HTTP, and the alerts arriving in the chat as
people read them: loud when someone must act, silent for good news and governance news.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.chain.pool import EndpointPool
from core.chain.queries import NodeQueries
from core.chain.rest import ChainRestClient
from core.config import ChainConfig, Config, Denom
from core.dispatch.discord import DiscordChannel
from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
from core.monitor.monitor import ChainMonitor
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.fakes.discord_bot import MANAGER, DiscordBotWorld
from tests.fakes.telegram_api import FakeTelegramApi, SentMessage
from tests.polling import until
from tests.telegram_kit import BotRig

DEVNET = "devnet-1"


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi(token="987654:SECRET-token-value") as fake:
        yield fake


async def test_validator_and_voter_from_telegram_to_telegram(tmp_path: Path, api: FakeTelegramApi) -> None:
    chain = DevnetChain(
        DevnetConfig(chain_id=DEVNET, block_time=0, history=3, txs_per_block=0, validators=4, signed_blocks_window=20)
    )
    async with DevnetServer(chain, run_clock=False) as devnet:
        config = Config(
            chains=[
                ChainConfig(
                    id=DEVNET, name="Devnet", rpc=[devnet.url], rest=[devnet.url], bech32_prefix="cosmos",
                    explorer_tx_url="https://explorer.example/tx/{hash}",
                    denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
                )
            ]
        )  # fmt: skip
        pool = EndpointPool(DEVNET, [devnet.url], timeout=2)
        queries = NodeQueries(DEVNET, pool.validators, ChainRestClient([devnet.url]))
        rig = BotRig(tmp_path, api, config=config, chain_queries=lambda c: queries if c == DEVNET else None)
        env = rig.env
        devnet_chain = config.chains[0].to_chain()
        monitor = ChainMonitor(
            DEVNET, env.repos, lambda: env.matcher.watches(DEVNET), queries, proposal_url=devnet_chain.proposal_url
        )
        processor = BlockProcessor(devnet_chain, env.matcher, env.repos, env.outbox, monitor=monitor)
        watcher = ChainWatcher(
            DEVNET, pool, processor, env.repos, start_height=chain.tip + 1, window=4, poll_interval=0.05
        )
        channel = TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0))
        dispatcher = Dispatcher(env.outbox, env.repos, {"telegram": channel}, {DEVNET: devnet_chain}.get)
        stop = asyncio.Event()
        await rig.door.start()
        tasks = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(dispatcher.run(stop))]

        async def next_note(after: int) -> SentMessage:
            sent = await api.wait_sent(after + 1, timeout=20)
            return sent[after]

        try:
            v = chain.validator(1)
            [reply] = await rig.say(f"/validator {v.operator}")
            assert v.moniker in reply.text, reply.text
            voter = chain.book.accounts[2]
            [reply] = await rig.say(f"/voter {voter}")
            assert "Voter" in reply.text, reply.text
            told = len(api.sent)

            chain.set_missing(v.operator)
            devnet.advance(1)  # 1 of 20 = 5%: three thresholds (0.5%, 1%, 5%) crossed at once, told once
            note = await next_note(told)
            assert note.text.startswith(f"<b>🟠 {v.moniker} is missing blocks: over 5% of the window (1 of 20)</b>")
            assert not note.disable_notification  # someone must act: it rings
            assert f"<code>{v.operator}</code>" in note.text

            chain.set_missing(v.operator, missing=False)
            pid = chain.submit_proposal("Spend <script>alert(1)</script> from the pool", voting_period=7200)
            devnet.advance(2)
            proposal = await next_note(told + 1)
            assert proposal.text.startswith(
                f"<b>🗳 New proposal #{pid} “Spend &lt;script&gt;alert(1)&lt;/script&gt; from the pool”: voting until"
            )
            assert proposal.disable_notification  # governance news is silent
            assert f'<a href="https://explorer.example/proposals/{pid}">' in proposal.text
            [listing] = await rig.say("/list")
            assert v.moniker in listing.text and "Voter" in listing.text
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
            await rig.door.stop()
            await pool.aclose()
            await queries.aclose()
            rig.close()


async def test_validator_from_discord_to_a_discord_channel(tmp_path: Path) -> None:
    """`/mempools validator` in a server channel through discord.py against the local Discord; the
    alert is posted in that channel as an embed, with a sound."""
    chain = DevnetChain(
        DevnetConfig(chain_id=DEVNET, block_time=0, history=3, txs_per_block=0, validators=4, signed_blocks_window=20)
    )
    async with DevnetServer(chain, run_clock=False) as devnet:
        pool = EndpointPool(DEVNET, [devnet.url], timeout=2)
        queries = NodeQueries(DEVNET, pool.validators, ChainRestClient([devnet.url]))
        async with DiscordBotWorld(tmp_path, rpc=devnet.url, chain_queries=lambda c: queries) as world:
            devnet_chain = world.config.chains[0].to_chain()
            monitor = ChainMonitor(DEVNET, world.repos, lambda: world.matcher.watches(DEVNET), queries)
            processor = BlockProcessor(devnet_chain, world.matcher, world.repos, world.outbox, monitor=monitor)
            watcher = ChainWatcher(
                DEVNET, pool, processor, world.repos, start_height=chain.tip + 1, window=4, poll_interval=0.05
            )
            channel = DiscordChannel(world.front_door.client, signer=world.front_door.signer)
            dispatcher = Dispatcher(
                world.outbox, world.repos, {"discord": channel}, {DEVNET: devnet_chain}.get,
                limits=DispatchLimits(workers=2, idle_wait=0.2),
            )  # fmt: skip
            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(watcher.run(stop)),
                asyncio.create_task(dispatcher.run(stop, drain_deadline_s=1)),
            ]
            try:
                v = chain.validator(2)
                in_server = {"guild_id": 4242, "channel_id": 600, "user_id": 701, "permissions": MANAGER}
                reply = await world.discord.slash("validator", {"address": v.operator}, **in_server)
                assert v.moniker in (reply.content or "") + json.dumps(reply.embeds), reply
                chain.set_missing(v.operator)
                devnet.advance(1)
                await until(lambda: [m for m in world.discord.messages if m.channel_id == 600], timeout=20)
                [alert] = [m for m in world.discord.messages if m.channel_id == 600]
                [embed] = alert.payload["embeds"]
                assert embed["title"] == f"🟠 {v.moniker} is missing blocks: over 5% of the window (1 of 20)"
                assert alert.flags == 0  # it rings
                assert [(f["name"], f["value"]) for f in embed["fields"]] == [
                    ("Validator", v.moniker),
                    ("Operator", f"`{v.operator}`"),
                    ("Missed in window", "1 of 20 (5%)"),
                    ("In a row", "1"),
                    ("Jailed at", "50% missed"),
                ]
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await pool.aclose()
        await queries.aclose()

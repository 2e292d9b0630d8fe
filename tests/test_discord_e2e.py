"""End to end: `/mempools watch` in a server channel or a DM, a devnet transfer, the embed posted.

Everything runs in-process and for real: the devnet's CometBFT RPC, the watcher, the block
processor, the matcher, the outbox, the dispatcher with the DiscordChannel built on the bot's own
discord.py client, and the bot itself against the local Discord.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.chain.pool import EndpointPool
from core.dispatch.discord import DiscordChannel
from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.render import short_address
from core.models import DiscordDestination
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.fakes.discord_api import PostedMessage
from tests.fakes.discord_bot import MANAGER, DiscordBotWorld

GUILD = 4242
CHANNEL = 600
IN_SERVER = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 701, "permissions": MANAGER}
IN_DM = {"channel_id": 900, "user_id": 703}


class Pipeline:
    """The watcher and the dispatcher of one process, over the bot world's store and services."""

    def __init__(self, world: DiscordBotWorld, devnet: DevnetServer) -> None:
        chain = world.config.chains[0].to_chain()
        self.pool = EndpointPool(chain.id, [devnet.url], timeout=0.5, min_cooldown=0.05, max_cooldown=0.2)
        self.watcher = ChainWatcher(
            chain.id,
            self.pool,
            BlockProcessor(chain, world.matcher, world.repos, world.outbox),
            world.repos,
            start_height=devnet.chain.tip + 1,
            window=4,
            poll_interval=0.05,
            max_backoff=0.2,
        )
        self.dispatcher = Dispatcher(
            world.outbox,
            world.repos,
            {"discord": DiscordChannel(world.front_door.client, signer=world.front_door.signer)},
            {chain.id: chain}.get,
            limits=DispatchLimits(workers=4, idle_wait=0.2),
        )
        self._stop = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self.watcher.run(self._stop)),
            asyncio.create_task(self.dispatcher.run(self._stop, drain_deadline_s=1)),
        ]

    async def close(self) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 10)
        await self.pool.aclose()

    def check(self) -> None:
        for task in self._tasks:
            if task.done():
                task.result()


@pytest.fixture
async def devnet() -> AsyncIterator[DevnetServer]:
    chain = DevnetChain(
        DevnetConfig(chain_id="devnet-1", block_time=0, history=3, txs_per_block=0, seed=7)
    )  # only the injected txs: each block tells what the test made
    async with DevnetServer(chain, run_clock=False) as server:
        yield server


@pytest.fixture
async def world(tmp_path: Path, devnet: DevnetServer) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path, rpc=devnet.url) as w:
        yield w


@pytest.fixture
async def pipeline(world: DiscordBotWorld, devnet: DevnetServer) -> AsyncIterator[Pipeline]:
    running = Pipeline(world, devnet)
    yield running
    await running.close()


async def _posted(world: DiscordBotWorld, pipeline: Pipeline, channel_id: int, count: int = 1) -> list[PostedMessage]:
    async with asyncio.timeout(15):
        while True:
            pipeline.check()
            found = [m for m in world.discord.messages if m.channel_id == channel_id]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)


async def test_watch_then_a_transfer_posts_an_embed_to_the_channel(
    world: DiscordBotWorld, devnet: DevnetServer, pipeline: Pipeline
) -> None:
    alice, bob = devnet.chain.book.accounts[0], devnet.chain.book.accounts[1]
    reply = await world.discord.slash("watch", {"address": alice}, **IN_SERVER)
    assert reply.content.startswith("👀")
    tx = devnet.chain.schedule_transfer(bob, alice, 1_500_000, "uatom")
    devnet.chain.advance()

    [message] = await _posted(world, pipeline, CHANNEL)
    [embed] = message.payload["embeds"]
    assert embed["author"]["name"].startswith("Funds of cosmos1")
    assert embed["title"] == f"📥 +1.5 ATOM from {short_address(bob)}"
    assert embed["url"] == f"https://explorer.example/devnet/tx/{tx.tx_hash}"
    assert [(f["name"], f["value"]) for f in embed["fields"]] == [("From", f"`{bob}`")]
    assert embed["footer"]["text"] == f"Devnet · height {tx.height}"
    assert message.payload["allowed_mentions"] == {"parse": []}

    # The same notification is in this channel's history.
    history = await world.discord.slash("history", {}, **IN_SERVER)
    assert "📥 +1.5 ATOM from" in history.embeds[0]["description"] and tx.tx_hash in history.embeds[0]["description"]


async def test_dm_watch_delivers_by_dm(world: DiscordBotWorld, devnet: DevnetServer, pipeline: Pipeline) -> None:
    alice, bob = devnet.chain.book.accounts[2], devnet.chain.book.accounts[3]
    await world.discord.slash("watch", {"address": alice}, **IN_DM)
    devnet.chain.schedule_transfer(alice, bob, 2_000_000, "uatom")
    devnet.chain.advance()
    async with asyncio.timeout(15):
        while 703 not in world.discord.dm_channels:
            pipeline.check()
            await asyncio.sleep(0.02)
    [message] = await _posted(world, pipeline, world.discord.dm_channels[703])
    title = message.payload["embeds"][0]["title"]
    assert title == f"📤 \u22122 ATOM to {short_address(bob)}"
    # Its [Pause] works from the DM, and the message then offers [Resume] beside its [Tx] link.
    buttons = message.custom_ids()
    assert list(buttons) == ["⏸ Pause", "🔕 Mute 1 h"]
    dm = {"channel_id": world.discord.dm_channels[703], "user_id": 703}
    reply = await world.discord.press(message.as_message(), buttons["⏸ Pause"], **dm)
    assert [b.get("label") for row in reply.components for b in row["components"]] == ["🔎 Tx", "▶️ Resume"]
    assert [s.enabled for s in world.subscriptions_of("703")] == [False]


async def test_a_channel_the_bot_cannot_post_to_disables_the_destination(
    world: DiscordBotWorld, devnet: DevnetServer, pipeline: Pipeline
) -> None:
    alice, bob = devnet.chain.book.accounts[0], devnet.chain.book.accounts[1]
    await world.discord.slash("watch", {"address": alice}, **IN_SERVER)
    world.discord.fail_next("messages", status=403, channel_id=CHANNEL)
    devnet.chain.schedule_transfer(bob, alice, 1_000_000, "uatom")
    devnet.chain.advance()
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    async with asyncio.timeout(15):
        while True:
            pipeline.check()
            dest = world.repos.destinations.get(sub.destination_ids[0])
            assert isinstance(dest, DiscordDestination)
            if not dest.enabled:
                break
            await asyncio.sleep(0.02)
    assert dest.disabled_reason is not None and "403" in dest.disabled_reason
    assert [m for m in world.discord.messages if m.channel_id == CHANNEL] == []
    # /test tells the server why nothing arrives here any more.
    reply = await world.discord.slash("test", {}, **IN_SERVER)
    assert reply.ephemeral and "disabled" in reply.content and "403" in reply.content

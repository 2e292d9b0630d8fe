"""The Discord front door's life cycle: configuration, command sync, restarts, a refused token, and
a token that never reaches the logs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import discord.gateway
import discord.http
import pytest

from bot.discord import DiscordLoginError
from core.config import Secret
from core.dispatch.discord import DiscordChannel
from core.errors import ConfigError
from mempools.devnet.addresses import AddressBook
from mempools.supervisor import Supervisor
from tests.fakes.discord_bot import MANAGER, TOKEN, DiscordBotWorld
from tests.fakes.records import COSMOS, discord_destination, make_notification

IN_SERVER = {"guild_id": 4242, "channel_id": 600, "user_id": 701, "permissions": MANAGER}


async def test_without_a_token_the_bot_is_off(tmp_path: Path) -> None:
    async with DiscordBotWorld(tmp_path, token=None) as world:
        assert not world.front_door.enabled
        assert isinstance(world.front_door.client, discord.Client)  # the dispatcher may still hold it
        with pytest.raises(ConfigError, match="MEMPOOLS_DISCORD_TOKEN"):
            await world.front_door.run(asyncio.Event())
        assert world.discord.requests == []


async def test_commands_sync_to_the_configured_guild(tmp_path: Path) -> None:
    async with DiscordBotWorld(tmp_path, guild_id=4242) as world:
        assert "global" not in world.discord.synced
        assert [c["name"] for c in world.discord.synced["4242"]] == ["mempools", "alias"]
        reply = await world.discord.slash("chains", {}, **IN_SERVER)
        assert "Devnet" in reply.embeds[0]["description"]


async def test_a_failed_sync_does_not_stop_the_bot(tmp_path: Path) -> None:
    async with DiscordBotWorld(tmp_path, token=None) as world:
        world.discord.fail_next("sync", status=403)
        world.config.discord.token = Secret(TOKEN)
        await world.start()
        assert world.discord.synced == {}
        reply = await world.discord.slash("chains", {}, **IN_SERVER)  # commands registered earlier still work
        assert "Devnet" in reply.embeds[0]["description"]


async def test_endpoints_are_set_while_running_and_restored_after(tmp_path: Path) -> None:
    before_base, before_gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    async with DiscordBotWorld(tmp_path) as world:
        assert world.discord.api_base == discord.http.Route.BASE
        assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == world.discord.gateway_url
        await world.stop()
        assert before_base == discord.http.Route.BASE
        assert before_gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


async def test_the_same_client_runs_again_after_a_stop(tmp_path: Path) -> None:
    async with DiscordBotWorld(tmp_path) as world:
        client = world.front_door.client
        channel = DiscordChannel(client)  # built once by the runtime, before any restart
        first = await world.discord.slash("watch", {"address": world_address()}, **IN_SERVER)
        assert first.content.startswith("👀")
        await world.stop()
        assert client.is_closed()
        await world.start()
        assert world.front_door.client is client and not client.is_closed()
        listed = await world.discord.slash("list", {}, **IN_SERVER)
        assert "1 subscription" in listed.content
        notification = make_notification("acc_a", ("dst_dc",))
        destination = discord_destination("dst_dc", "acc_a", channel_id=777)
        result = await channel.deliver(notification, destination, COSMOS)
        assert result.ok and [m.channel_id for m in world.discord.messages] == [777]


async def test_a_refused_token_is_a_clear_error(tmp_path: Path) -> None:
    async with DiscordBotWorld(tmp_path, token=None) as world:
        world.discord.accepted_token = "the-right-one"
        world.config.discord.token = Secret("a-wrong-one")
        with pytest.raises(DiscordLoginError) as caught:
            await asyncio.wait_for(world.front_door.run(asyncio.Event()), 10)
        assert "a-wrong-one" not in str(caught.value)


async def test_runs_under_the_supervisor_and_stops_with_it(tmp_path: Path) -> None:
    async with DiscordBotWorld(tmp_path, token=None) as world:
        world.config.discord.token = Secret(TOKEN)
        supervisor = Supervisor(min_backoff=0.05)
        stop = asyncio.Event()
        supervisor.start("discord", world.front_door.run, stop)
        await asyncio.wait_for(world.front_door.wait_until_ready(), 10)
        reply = await world.discord.slash("chains", {}, **IN_SERVER)
        assert reply.embeds
        stop.set()
        await supervisor.wait(timeout=10)
        assert supervisor.parts["discord"].status == "stopped" and supervisor.parts["discord"].restarts == 0
        assert world.front_door.client.is_closed()


async def test_the_token_never_reaches_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with DiscordBotWorld(tmp_path) as world:
        await world.discord.slash("watch", {"address": world_address()}, **IN_SERVER)
        await world.discord.slash("watch", {"address": "nonsense"}, **IN_SERVER)
        assert world.discord.identify is not None and world.discord.identify["token"] == TOKEN  # it was used
        assert TOKEN not in repr(world.config) and TOKEN not in repr(world.config.discord)
    assert caplog.records and TOKEN not in caplog.text


def world_address() -> str:
    return AddressBook("cosmos", 7).accounts[0]

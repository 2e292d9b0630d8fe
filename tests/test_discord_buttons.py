"""[Pause] [Mute 1 h] beside [Tx] under a Discord notification, pressed through the real discord.py.

The notification is sent by the real `DiscordChannel` over the bot's own client to the local
Discord; the press is a type 3 interaction carrying that very message, as Discord sends it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.dispatch.discord import DiscordChannel
from core.dispatch.http import HttpClient
from core.models import Subscription
from core.support.timeutil import utcnow
from tests.fakes.discord_api import PostedMessage
from tests.fakes.discord_bot import MANAGER, MEMBER, DiscordBotWorld
from tests.fakes.discord_gateway import UPDATE_MESSAGE
from tests.fakes.records import ALICE, COSMOS, discord_destination, make_notification
from tests.polling import until

GUILD = 4242
CHANNEL = 600
IN_SERVER: dict[str, Any] = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 701, "permissions": MANAGER}
MEMBER_IN_SERVER: dict[str, Any] = {**IN_SERVER, "user_id": 702, "permissions": MEMBER}
DM_USER = 703


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path) as w:
        yield w


async def _notify(world: DiscordBotWorld, external_id: str, sub: Subscription) -> PostedMessage:
    """Deliver one notification of `sub` to its destination through the real DiscordChannel."""
    account = world.account_of(external_id)
    assert account is not None
    [destination] = world.services.destinations.list(account)
    channel = DiscordChannel(world.front_door.client, signer=world.front_door.signer)
    before = len(world.discord.messages)
    result = await channel.deliver(
        make_notification(account, (destination.id,), subscription_id=sub.id), destination, COSMOS
    )
    assert result.ok, result.error
    assert len(world.discord.messages) == before + 1
    return world.discord.messages[-1]


async def _watched_in_server(world: DiscordBotWorld) -> tuple[Subscription, PostedMessage]:
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    return sub, await _notify(world, f"guild:{GUILD}", sub)


def _labels(rows: list[dict[str, Any]]) -> list[str]:
    return [str(b.get("label")) for row in rows for b in row.get("components") or []]


def _sub(world: DiscordBotWorld, external_id: str) -> Subscription:
    [sub] = world.subscriptions_of(external_id)
    return sub


async def test_a_notification_in_a_server_has_pause_and_mute_beside_tx(world: DiscordBotWorld) -> None:
    _, message = await _watched_in_server(world)
    assert _labels(message.payload["components"]) == ["🔎 Tx", "⏸ Pause", "🔕 Mute 1 h"]


async def test_pause_pauses_and_the_message_then_offers_resume(world: DiscordBotWorld) -> None:
    sub, message = await _watched_in_server(world)
    reply = await world.discord.press(message.as_message(), message.custom_ids()["⏸ Pause"], **IN_SERVER)
    assert reply.type == UPDATE_MESSAGE  # the notification itself is edited, not a new message
    assert _labels(reply.components) == ["🔎 Tx", "▶️ Resume"]
    assert not _sub(world, f"guild:{GUILD}").enabled
    await until(lambda: reply.followups)
    assert reply.followup_texts()[0].startswith(f"⏸️ Paused **{sub.name}**")
    assert reply.followups[0]["flags"] & 64  # only the presser is told

    resume = reply.custom_ids()["▶️ Resume"]
    again = await world.discord.press({**message.as_message(), "components": reply.components}, resume, **IN_SERVER)
    assert _labels(again.components) == ["🔎 Tx", "⏸ Pause", "🔕 Mute 1 h"]
    assert _sub(world, f"guild:{GUILD}").enabled


async def test_mute_silences_for_an_hour(world: DiscordBotWorld) -> None:
    sub, message = await _watched_in_server(world)
    reply = await world.discord.press(message.as_message(), message.custom_ids()["🔕 Mute 1 h"], **IN_SERVER)
    assert reply.ephemeral and reply.content.startswith(f"🔕 Muted **{sub.name}** for 1 h")
    muted = _sub(world, f"guild:{GUILD}")
    assert muted.enabled and muted.muted_until is not None
    assert timedelta(minutes=59) < muted.muted_until - utcnow() <= timedelta(hours=1)


async def test_a_member_without_manage_server_is_refused(world: DiscordBotWorld) -> None:
    _, message = await _watched_in_server(world)
    for label in ("⏸ Pause", "🔕 Mute 1 h"):
        reply = await world.discord.press(message.as_message(), message.custom_ids()[label], **MEMBER_IN_SERVER)
        assert reply.ephemeral and reply.content.startswith("🚫 Only server managers")
    sub = _sub(world, f"guild:{GUILD}")
    assert sub.enabled and sub.muted_until is None


async def test_a_forged_or_moved_button_changes_nothing(
    world: DiscordBotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    _, message = await _watched_in_server(world)
    pause = message.custom_ids()["⏸ Pause"]
    forged = pause.rpartition("|")[0] + "|AAAAAAAA"
    caplog.set_level(logging.WARNING, "mempools.discord")
    reply = await world.discord.press(message.as_message(), forged, **IN_SERVER)
    assert reply.ephemeral and "not made by this bot" in reply.content
    # The genuine id, pressed in another channel of the server: signed for the first one only.
    moved = await world.discord.press(message.as_message(), pause, **{**IN_SERVER, "channel_id": CHANNEL + 1})
    assert moved.ephemeral and "not made by this bot" in moved.content
    assert _sub(world, f"guild:{GUILD}").enabled
    assert any("unsigned custom_id" in r.getMessage() for r in caplog.records)


async def test_a_button_of_a_deleted_subscription_says_so(world: DiscordBotWorld) -> None:
    sub, message = await _watched_in_server(world)
    await world.discord.slash("unsubscribe", {"subscription": sub.id}, **IN_SERVER)
    reply = await world.discord.press(message.as_message(), message.custom_ids()["⏸ Pause"], **IN_SERVER)
    assert reply.ephemeral and "not found" in reply.content.lower()
    assert world.subscriptions_of(f"guild:{GUILD}") == []


async def test_dm_buttons_work_and_survive_a_restart(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, channel_id=900, user_id=DM_USER)
    sub = _sub(world, str(DM_USER))
    message = await _notify(world, str(DM_USER), sub)
    dm = {"channel_id": world.discord.dm_channels[DM_USER], "user_id": DM_USER}
    await world.stop()
    await world.start()  # nothing of the message is remembered: the custom_id says it all
    reply = await world.discord.press(message.as_message(), message.custom_ids()["⏸ Pause"], **dm)
    assert _labels(reply.components) == ["🔎 Tx", "▶️ Resume"]
    assert not _sub(world, str(DM_USER)).enabled


async def test_a_discord_webhook_destination_keeps_the_link_button_only(world: DiscordBotWorld) -> None:
    """Discord ignores components sent through a webhook the application does not own."""
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    account = world.account_of(f"guild:{GUILD}")
    assert account is not None
    sub = _sub(world, f"guild:{GUILD}")
    http = HttpClient(allow_private_networks=True)
    try:
        channel = DiscordChannel(world.front_door.client, http, signer=world.front_door.signer)
        webhook = discord_destination("dst_hook", account, webhook_url=world.discord.webhook_url())
        result = await channel.deliver(
            make_notification(account, (webhook.id,), subscription_id=sub.id), webhook, COSMOS
        )
    finally:
        await http.close()
    assert result.ok, result.error
    [posted] = world.discord.webhook_posts
    assert "components" not in posted.payload

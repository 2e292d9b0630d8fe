"""`/mempools list` with buttons, through the real discord.py: one message edited in place from the
list to a subscription ([Pause]/[Resume], [Delete] with a question first, [Back]) and across pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.models import Subscription
from tests.fakes.discord_bot import MANAGER, MEMBER, DiscordBotWorld
from tests.fakes.discord_gateway import SELECT, UPDATE_MESSAGE, Reply
from tests.fakes.records import ALICE, BOB

GUILD = 4242
CHANNEL = 600
IN_SERVER: dict[str, Any] = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 701, "permissions": MANAGER}
MEMBER_IN_SERVER: dict[str, Any] = {**IN_SERVER, "user_id": 702, "permissions": MEMBER}
IN_DM: dict[str, Any] = {"channel_id": 900, "user_id": 703}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path) as w:
        yield w


def _labels(reply: Reply) -> list[str]:
    return [str(b.get("label")) for row in reply.components for b in row.get("components") or [] if b.get("label")]


async def _open(world: DiscordBotWorld, listing: Reply, sub: Subscription, where: dict[str, Any]) -> Reply:
    menu = listing.select()
    message = listing.as_message(where["channel_id"])
    return await world.discord.send_interaction(
        world.discord.component(message, menu["custom_id"], values=[sub.id], component_type=SELECT, **where)
    )


async def _press(world: DiscordBotWorld, screen: Reply, label: str, where: dict[str, Any]) -> Reply:
    return await world.discord.press(screen.as_message(where["channel_id"]), screen.custom_ids()[label], **where)


async def _two_watches(world: DiscordBotWorld, where: dict[str, Any], owner: str) -> list[Subscription]:
    for address in (ALICE, BOB):
        await world.discord.slash("watch", {"address": address}, **where)
    return world.subscriptions_of(owner)


async def test_the_list_opens_a_subscription_pauses_and_deletes_it_in_one_message(world: DiscordBotWorld) -> None:
    first, second = await _two_watches(world, IN_DM, "703")
    listing = await world.discord.slash("list", {}, **IN_DM)
    assert [o["value"] for o in listing.select()["options"]] == [first.id, second.id]
    assert "since <t:" in listing.embeds[0]["description"] and ":R>" in listing.embeds[0]["description"]

    opened = await _open(world, listing, first, IN_DM)
    assert opened.type == UPDATE_MESSAGE and opened.embeds[0]["title"] == first.name
    assert _labels(opened) == ["⏸ Pause", "🗑️ Delete", "◀ Back to the list"]

    paused = await _press(world, opened, "⏸ Pause", IN_DM)
    assert paused.content.startswith("⏸️ Paused") and _labels(paused)[0] == "▶️ Resume"
    assert not world.services.subscriptions.get(first.owner_id, first.id).enabled

    asked = await _press(world, paused, "🗑️ Delete", IN_DM)
    assert asked.content.startswith("🗑️ Delete **") and _labels(asked) == ["Yes, delete it", "Cancel"]
    assert len(world.subscriptions_of("703")) == 2  # nothing deleted before the answer
    cancelled = await _press(world, asked, "Cancel", IN_DM)
    assert cancelled.embeds[0]["title"] == first.name
    asked = await _press(world, cancelled, "🗑️ Delete", IN_DM)
    deleted = await _press(world, asked, "Yes, delete it", IN_DM)
    assert deleted.type == UPDATE_MESSAGE and deleted.content.startswith("🗑️ Removed")
    assert [s.id for s in world.subscriptions_of("703")] == [second.id]
    assert [o["value"] for o in deleted.select()["options"]] == [second.id]


async def test_more_than_a_page_gets_previous_and_next(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_DM)
    account = world.account_of("703")
    assert account is not None
    [destination] = world.services.destinations.list(account)
    for i in range(29):
        await world.services.subscriptions.create(
            account,
            chain_id="devnet-1",
            name=f"q{i:02}",
            queries=[f"tx.height > {i}"],
            destination_ids=[destination.id],
        )
    listing = await world.discord.slash("list", {}, **IN_DM)
    assert len(listing.select()["options"]) == 25 and listing.embeds[0]["footer"]["text"] == "Page 1 of 2"
    nxt = await _press(world, listing, "Next ▶", IN_DM)
    assert len(nxt.select()["options"]) == 5 and nxt.embeds[0]["footer"]["text"] == "Page 2 of 2"
    back = await _press(world, nxt, "◀ Previous", IN_DM)
    assert len(back.select()["options"]) == 25


async def test_in_a_server_only_managers_change_and_others_may_look(world: DiscordBotWorld) -> None:
    sub, _ = await _two_watches(world, IN_SERVER, f"guild:{GUILD}")
    listing = await world.discord.slash("list", {}, **MEMBER_IN_SERVER)
    opened = await _open(world, listing, sub, MEMBER_IN_SERVER)
    assert opened.embeds[0]["title"] == sub.name
    for label in ("⏸ Pause", "🗑️ Delete"):
        refused = await _press(world, opened, label, MEMBER_IN_SERVER)
        assert refused.ephemeral and refused.content.startswith("🚫 Only server managers"), refused.content
    assert all(s.enabled for s in world.subscriptions_of(f"guild:{GUILD}"))


async def test_a_button_pressed_by_another_user_is_not_theirs(world: DiscordBotWorld) -> None:
    sub, _ = await _two_watches(world, IN_SERVER, f"guild:{GUILD}")
    listing = await world.discord.slash("list", {}, **IN_SERVER)
    opened = await _open(world, listing, sub, IN_SERVER)
    other_manager = {**IN_SERVER, "user_id": 799}
    reply = await _press(world, opened, "⏸ Pause", other_manager)
    assert reply.ephemeral and "opened by someone else" in reply.content
    assert world.services.subscriptions.get(sub.owner_id, sub.id).enabled


async def test_a_stale_button_after_the_subscription_was_deleted(world: DiscordBotWorld) -> None:
    sub, _ = await _two_watches(world, IN_DM, "703")
    listing = await world.discord.slash("list", {}, **IN_DM)
    opened = await _open(world, listing, sub, IN_DM)
    await world.discord.slash("unsubscribe", {"subscription": sub.id}, **IN_DM)
    reply = await _press(world, opened, "⏸ Pause", IN_DM)
    assert reply.ephemeral and "not found" in reply.content.lower() and "/mempools list" in reply.content

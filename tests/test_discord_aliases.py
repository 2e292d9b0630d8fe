"""`/alias set|remove|list` on Discord (#15.8), through the real discord.py client and a local
Discord: what the user is answered, and the book it leaves in the real store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mempools.devnet.addresses import AddressBook, bech32_address, derive
from tests.fakes.discord_bot import MANAGER, MEMBER, DiscordBotWorld

GUILD = 4242
BOOK = AddressBook("cosmos", 7)
ALICE, BOB = BOOK.accounts[0], BOOK.accounts[1]
IN_SERVER = {"guild_id": GUILD, "channel_id": 600, "user_id": 701, "permissions": MANAGER, "command": "alias"}
AS_MEMBER = {"guild_id": GUILD, "channel_id": 600, "user_id": 702, "permissions": MEMBER, "command": "alias"}
IN_DM = {"channel_id": 900, "user_id": 703, "command": "alias"}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path) as w:
        yield w


async def test_alias_is_synced_with_set_remove_and_list(world: DiscordBotWorld) -> None:
    alias = next(c for c in world.discord.synced["global"] if c["name"] == "alias")
    assert {o["name"] for o in alias["options"]} == {"set", "remove", "list"}
    assert alias["contexts"] == [0, 1]


async def test_set_rename_list_and_remove_in_a_dm(world: DiscordBotWorld) -> None:
    saved = await world.discord.slash("set", {"address": ALICE, "label": " Treasury "}, **IN_DM)
    assert saved.ephemeral and saved.content == f"🏷️ Saved: `{ALICE}` is **Treasury** in notifications here."
    renamed = await world.discord.slash("set", {"address": ALICE.upper(), "label": "Cold_wallet"}, **IN_DM)
    assert renamed.content == f"🏷️ Renamed: `{ALICE}` is **Cold\\_wallet** in notifications here."
    listed = await world.discord.slash("list", {}, **IN_DM)
    assert listed.content == f"**Address book** (1)\n• `{ALICE}` is **Cold\\_wallet**"
    removed = await world.discord.slash("remove", {"address": ALICE}, **IN_DM)
    assert removed.content == f"🗑️ Removed the name **Cold\\_wallet** of `{ALICE}`."
    again = await world.discord.slash("remove", {"address": ALICE}, **IN_DM)
    assert again.ephemeral and "no label in your address book" in again.content
    empty = await world.discord.slash("list", {}, **IN_DM)
    assert empty.content.startswith("Your address book is empty.")


async def test_an_address_of_an_unwatched_chain_is_refused_with_its_name(world: DiscordBotWorld) -> None:
    juno = bech32_address("juno", derive(7, "acct", 0))
    reply = await world.discord.slash("set", {"address": juno, "label": "x"}, **IN_DM)
    assert (
        reply.ephemeral
        and "juno1… is a Juno address; this service watches Devnet (cosmos1…), Osmo Test (osmo1…)" in reply.content
    )
    assert list(world.repos.address_labels.scan()) == []


async def test_in_a_server_changing_the_book_needs_manage_server(world: DiscordBotWorld) -> None:
    refused = await world.discord.slash("set", {"address": BOB, "label": "Bob"}, **AS_MEMBER)
    assert (
        refused.content.startswith("🔒") and "Manage Server permission can change its address book" in refused.content
    )
    saved = await world.discord.slash("set", {"address": BOB, "label": "Bob"}, **IN_SERVER)
    assert not saved.ephemeral and saved.content.startswith("🏷️ Saved")
    listed = await world.discord.slash("list", {}, **AS_MEMBER)
    assert f"`{BOB}` is **Bob**" in listed.content
    refused = await world.discord.slash("remove", {"address": BOB}, **AS_MEMBER)
    assert refused.content.startswith("🔒")
    [entry] = world.repos.address_labels.scan()
    assert entry.owner_id == world.account_of(f"guild:{GUILD}")

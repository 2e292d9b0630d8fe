"""The Discord bot's slash commands, through the real discord.py client and a local Discord.

Each test sends INTERACTION_CREATE over the fake gateway and asserts on the interaction callback
the bot POSTs (what the user sees: content, embeds, ephemeral flag) and on the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import ValidationError
from mempools.devnet.addresses import AddressBook, bech32_address, derive
from tests.fakes.discord_bot import DEVNET, MANAGER, MEMBER, DiscordBotWorld
from tests.fakes.discord_gateway import AUTOCOMPLETE, EPHEMERAL

GUILD = 4242
OTHER_GUILD = 5353
CHANNEL = 600
BOOK = AddressBook("cosmos", 7)
ALICE = BOOK.accounts[0]
BOB = BOOK.accounts[1]
OSMO_ADDRESS = bech32_address("osmo", derive(7, "acct", 0))

IN_SERVER = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 701, "permissions": MANAGER}
AS_MEMBER = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 702, "permissions": MEMBER}
IN_DM = {"channel_id": 900, "user_id": 703}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path) as w:
        yield w


async def test_commands_are_synced_as_one_group_with_manage_server_default(world: DiscordBotWorld) -> None:
    command, alias = world.discord.synced["global"]  # /alias: tests/test_discord_aliases.py
    assert command["name"] == "mempools" and alias["name"] == "alias"
    names = {o["name"] for o in command["options"]}
    assert names == {
        "watch",
        "validator",
        "voter",
        "subscribe",
        "list",
        "pause",
        "resume",
        "unsubscribe",
        "silent",
        "settings",
        "history",
        "chains",
        "link",
        "test",
    }
    assert command.get("default_member_permissions") is None  # members see it; changes are checked per command
    assert command["contexts"] == [0, 1]  # servers and DMs with the bot
    options = {o["name"]: o for o in command["options"]}
    assert options["watch"]["options"][1]["autocomplete"] is True
    assert options["pause"]["options"][0]["autocomplete"] is True


async def test_watch_in_a_server_channel_belongs_to_the_server(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    assert not reply.ephemeral  # the channel sees what will be posted to it
    assert ALICE in reply.content and f"<#{CHANNEL}>" in reply.content and "Devnet" in reply.content
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    assert sub.preset == "funds_either" and sub.params == {"address": ALICE} and sub.chain_id == "devnet-1"
    [dest] = world.services.destinations.list(sub.owner_id)
    assert dest.kind == "discord" and dest.channel_id == CHANNEL and dest.guild_id == GUILD and dest.user_id is None
    assert sub.destination_ids == [dest.id]
    assert world.account_of("701") is None  # the member acted for the server, not for themself
    again = await world.discord.slash("watch", {"address": ALICE.upper()}, **IN_SERVER)
    assert again.ephemeral and "Already watching" in again.content and sub.id in again.content
    assert len(world.subscriptions_of(f"guild:{GUILD}")) == 1


async def test_a_member_without_manage_server_is_refused_and_nothing_changes(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    for name, options in [
        ("watch", {"address": BOB}),
        ("subscribe", {"chain": "devnet-1", "query": "tm.event = 'Tx'"}),
        ("pause", {"subscription": sub.id}),
        ("unsubscribe", {"subscription": sub.id}),
        ("silent", {"subscription": sub.id}),
        ("test", {}),
    ]:
        reply = await world.discord.slash(name, options, **AS_MEMBER)
        assert reply.ephemeral, name
        assert "Manage Server" in reply.content and reply.content.startswith("🔒"), name
    [after] = world.subscriptions_of(f"guild:{GUILD}")
    assert after.enabled and after.updated_at == sub.updated_at
    assert world.outbox.depth() == 0
    # Reading is allowed.
    listed = await world.discord.slash("list", {}, **AS_MEMBER)
    assert listed.ephemeral and sub.id in listed.embeds[0]["description"]


async def test_administrator_counts_as_manage_server(world: DiscordBotWorld) -> None:
    from discord import Permissions

    admin = {**AS_MEMBER, "permissions": Permissions(administrator=True)}
    reply = await world.discord.slash("watch", {"address": ALICE}, **admin)
    assert reply.content.startswith("👀")
    assert len(world.subscriptions_of(f"guild:{GUILD}")) == 1


async def test_dm_subscriptions_are_personal_and_delivered_by_dm(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    reply = await world.discord.slash("watch", {"address": BOB}, **IN_DM)
    assert reply.ephemeral and "your DMs" in reply.content
    [sub] = world.subscriptions_of("703")
    assert sub.params == {"address": BOB}
    [dest] = world.services.destinations.list(sub.owner_id)
    assert dest.user_id == 703 and dest.channel_id is None
    listed = await world.discord.slash("list", {}, **IN_DM)
    description = listed.embeds[0]["description"]
    assert listed.ephemeral and sub.id in description and "You have 1" in listed.content
    server_sub = world.subscriptions_of(f"guild:{GUILD}")[0]
    assert server_sub.id not in description
    # The server's subscription cannot be touched from a DM: it is another account's.
    refused = await world.discord.slash("pause", {"subscription": server_sub.id}, **IN_DM)
    assert refused.ephemeral and "not found" in refused.content.lower()
    assert world.subscriptions_of(f"guild:{GUILD}")[0].enabled


async def test_subscribe_with_a_preset_and_params(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash(
        "subscribe",
        {"chain": "devnet-1", "preset": "funds_received", "params": f"address={ALICE}, min_amount=2.5", "name": "Big"},
        **IN_SERVER,
    )
    assert reply.content.startswith("✅") and "**Big**" in reply.content and not reply.ephemeral
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    assert sub.preset == "funds_received" and sub.params == {"address": ALICE, "min_amount": "2.5"}
    bare = await world.discord.slash("subscribe", {"chain": "devnet-1", "preset": "funds_sent", "params": BOB}, **IN_DM)
    assert bare.content.startswith("✅") and bare.ephemeral
    assert world.subscriptions_of("703")[0].params == {"address": BOB}


@pytest.mark.parametrize("typed", ["Funds received", "  funds RECEIVED ", "Funds received (funds_received)"])
async def test_subscribe_takes_a_preset_title_where_its_name_goes(world: DiscordBotWorld, typed: str) -> None:
    reply = await world.discord.slash("subscribe", {"chain": "devnet-1", "preset": typed, "params": ALICE}, **IN_DM)
    assert reply.content.startswith("✅") and "preset `funds_received`" in reply.content, reply.content
    [sub] = world.subscriptions_of("703")
    assert sub.preset == "funds_received" and sub.name == f"Funds received · {ALICE[:11]}…{ALICE[-4:]}"
    unknown = await world.discord.slash(
        "subscribe", {"chain": "devnet-1", "preset": "Funds lost", "params": ALICE}, **IN_DM
    )
    assert unknown.ephemeral and "Unknown preset 'Funds lost'" in unknown.content, unknown.content


async def test_subscribe_with_a_raw_query(world: DiscordBotWorld) -> None:
    query = f"transfer.recipient = \u2018{ALICE}\u2019"  # a phone's curly quotes are straightened
    reply = await world.discord.slash("subscribe", {"chain": "devnet-1", "query": query}, **IN_DM)
    assert reply.content.startswith("✅") and "your query" in reply.content
    [sub] = world.subscriptions_of("703")
    assert sub.queries == [f"transfer.recipient = '{ALICE}'"] and sub.name == "Custom query"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"chain": "devnet-1", "query": "tm.event = 'Tx' AND"}, "That query does not parse"),
        ({"preset": "funds_received", "params": ALICE}, "chain: required with a preset or a query"),
        ({"chain": "devnet-1", "preset": "funds_received", "query": "tm.event='Tx'"}, "either a preset or a query"),
        ({"chain": "devnet-1", "params": f"address={ALICE}"}, "only used with a preset"),
        ({"chain": "devnet-1", "preset": "no_such_preset"}, "Unknown preset 'no_such_preset'"),
        ({"chain": "devnet-1", "preset": "funds_received", "params": f"adress={ALICE}"}, "no parameter 'adress'"),
        ({"chain": "devnet-1", "preset": "funds_received", "params": OSMO_ADDRESS}, "address"),
        ({"chain": "nochain-9", "query": "tm.event='Tx'"}, "not a configured chain"),
    ],
)
async def test_subscribe_bad_input_is_a_clear_ephemeral_error(
    world: DiscordBotWorld, options: dict[str, str], expected: str
) -> None:
    reply = await world.discord.slash("subscribe", options, **IN_SERVER)
    assert reply.ephemeral and reply.content.startswith("❌"), reply.content
    assert expected in reply.content
    assert world.subscriptions_of(f"guild:{GUILD}") == []


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"address": "cosmos1notanaddress"}, "❌"),
        ({"address": OSMO_ADDRESS, "chain": "devnet-1"}, "Devnet addresses start with cosmos1"),
        ({"address": bech32_address("juno", derive(1, "a", 0))}, "juno1… is a Juno address; this service watches"),
        ({"address": BOOK.validators[0]}, "validator address"),
        ({"address": ALICE, "chain": "nochain-9"}, "not a configured chain"),
        ({"address": "   "}, "❌"),
    ],
)
async def test_watch_bad_addresses(world: DiscordBotWorld, options: dict[str, str], expected: str) -> None:
    reply = await world.discord.slash("watch", options, **IN_SERVER)
    assert reply.ephemeral and expected in reply.content, reply.content
    assert world.subscriptions_of(f"guild:{GUILD}") == []


async def test_watch_on_a_prefix_shared_by_two_chains_asks_for_the_chain(tmp_path: Path) -> None:
    twin = DEVNET.__class__(**{**{f: getattr(DEVNET, f) for f in DEVNET.__struct_fields__}, "id": "twin-1"})
    async with DiscordBotWorld(tmp_path, chains=[DEVNET, twin]) as world:
        reply = await world.discord.slash("watch", {"address": ALICE}, **IN_DM)
        assert reply.ephemeral and "`devnet-1`" in reply.content and "`twin-1`" in reply.content
        assert world.subscriptions_of("703") == []
        chosen = await world.discord.slash("watch", {"address": ALICE, "chain": "twin-1"}, **IN_DM)
        assert chosen.content.startswith("👀")
        assert world.subscriptions_of("703")[0].chain_id == "twin-1"


async def test_pause_resume_unsubscribe(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    paused = await world.discord.slash("pause", {"subscription": sub.id}, **IN_SERVER)
    assert paused.content.startswith("⏸️") and sub.id in paused.content and not paused.ephemeral
    assert not world.subscriptions_of(f"guild:{GUILD}")[0].enabled
    listed = await world.discord.slash("list", {}, **IN_SERVER)
    assert "paused" in listed.embeds[0]["description"]
    resumed = await world.discord.slash("resume", {"subscription": f" {sub.id}\u200b"}, **IN_SERVER)
    assert resumed.content.startswith("▶️")
    assert world.subscriptions_of(f"guild:{GUILD}")[0].enabled
    removed = await world.discord.slash("unsubscribe", {"subscription": sub.id}, **IN_SERVER)
    assert removed.content.startswith("🗑️") and world.subscriptions_of(f"guild:{GUILD}") == []
    # An interaction for the deleted subscription (a stale suggestion, a second click).
    for name in ("pause", "resume", "unsubscribe"):
        stale = await world.discord.slash(name, {"subscription": sub.id}, **IN_SERVER)
        assert stale.ephemeral and stale.content.startswith("🔍") and "not found" in stale.content.lower()
    empty = await world.discord.slash("list", {}, **IN_SERVER)
    assert "no subscriptions yet" in empty.content


async def test_ids_of_another_servers_subscriptions_are_not_found(world: DiscordBotWorld) -> None:
    other = {**IN_SERVER, "guild_id": OTHER_GUILD, "channel_id": 601}
    await world.discord.slash("watch", {"address": ALICE}, **other)
    [theirs] = world.subscriptions_of(f"guild:{OTHER_GUILD}")
    for name in ("pause", "resume", "unsubscribe"):
        reply = await world.discord.slash(name, {"subscription": theirs.id}, **IN_SERVER)
        assert reply.ephemeral and "not found" in reply.content.lower(), name
    [after] = world.subscriptions_of(f"guild:{OTHER_GUILD}")
    assert after.enabled and after.updated_at == theirs.updated_at
    listed = await world.discord.slash("list", {}, **IN_SERVER)
    assert theirs.id not in listed.content + str(listed.embeds)


async def test_missing_and_malformed_options_are_refused_before_running(world: DiscordBotWorld) -> None:
    missing = await world.discord.slash("watch", {}, **IN_SERVER)
    assert missing.ephemeral and "`address` is required" in missing.content
    wrong_type = await world.discord.slash("history", {"count": "five"}, **IN_DM)
    assert wrong_type.ephemeral and "`count` must be a whole number" in wrong_type.content
    out_of_range = await world.discord.slash("history", {"count": 500}, **IN_DM)
    assert out_of_range.ephemeral and "from 1 to 50" in out_of_range.content
    not_text = await world.discord.slash("pause", {"subscription": 12}, **IN_DM)
    assert not_text.ephemeral and "`subscription` must be text" in not_text.content
    unknown = await world.discord.slash("frobnicate", {}, **IN_DM)
    assert unknown.ephemeral and "does not match the bot's current commands" in unknown.content
    assert world.subscriptions_of(f"guild:{GUILD}") == [] and world.subscriptions_of("703") == []


async def test_chains(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash("chains", {}, **IN_DM)
    description = reply.embeds[0]["description"]
    assert reply.ephemeral and "**Devnet** (`devnet-1`)" in description and "`osmo1…`" in description
    assert "ATOM" in description and "OSMO" in description


async def test_test_notification_is_queued_and_shows_in_history(world: DiscordBotWorld) -> None:
    empty = await world.discord.slash("history", {}, **IN_SERVER)
    assert empty.ephemeral and "Nothing has been sent" in empty.content
    reply = await world.discord.slash("test", {}, **IN_SERVER)
    assert reply.ephemeral and f"<#{CHANNEL}>" in reply.content
    assert world.outbox.depth() == 1
    history = await world.discord.slash("history", {"count": 3}, **IN_SERVER)
    assert history.ephemeral and "test notification" in history.embeds[0]["description"]
    # The history of this channel is not another channel's, nor a DM's.
    dm_history = await world.discord.slash("history", {}, **IN_DM)
    assert "Nothing has been sent" in dm_history.content


async def test_link_joins_the_discord_user_to_a_rest_account(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": BOB}, **IN_DM)
    rest = await world.services.accounts.register("dev@example.org", "correct horse battery")
    code = (await world.services.accounts.create_link_code(rest.id)).code
    wrong = await world.discord.slash("link", {"code": "ZZZZ2222"}, **IN_DM)
    assert wrong.ephemeral and wrong.content.startswith(("❌", "🔍"))
    assert world.account_of("703") != rest.id
    reply = await world.discord.slash("link", {"code": code.lower()}, **IN_DM)
    assert reply.ephemeral and rest.id in reply.content, reply.content
    assert world.account_of("703") == rest.id
    [sub] = world.services.subscriptions.list(rest.id)  # the DM's subscription came along
    assert sub.params == {"address": BOB}
    with pytest.raises(ValidationError):
        await world.services.accounts.redeem_link_code(code, "discord", "703")  # one-time


async def test_link_in_a_server_links_the_member_not_the_server(world: DiscordBotWorld) -> None:
    """A slash command's options are seen by nobody else and the answer is ephemeral, so a code
    typed in a server is as private as in a DM: it joins the member's own identity."""
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    rest = await world.services.accounts.register("dev@example.org", "correct horse battery")
    code = (await world.services.accounts.create_link_code(rest.id)).code
    member_only = {**IN_SERVER, "permissions": MEMBER}  # no Manage Server needed for one's own account
    reply = await world.discord.slash("link", {"code": code}, **member_only)
    assert reply.ephemeral and reply.content.startswith("🔗 Linked") and rest.id in reply.content, reply.content
    assert world.account_of("701") == rest.id
    assert world.account_of(f"guild:{GUILD}") not in (None, rest.id)  # the server keeps its own account
    assert len(world.subscriptions_of(f"guild:{GUILD}")) == 1


async def test_autocomplete_chains_presets_and_own_subscriptions(world: DiscordBotWorld) -> None:
    chains = await world.discord.autocomplete("watch", {"address": ALICE, "chain": "osm"}, focused="chain", **IN_DM)
    assert chains.type == 8 and chains.choices == [{"name": "Osmo Test (osmo-test)", "value": "osmo-test"}]
    presets = await world.discord.autocomplete(
        "subscribe", {"chain": "devnet-1", "preset": "gov"}, focused="preset", **IN_DM
    )
    assert presets.choices and all("gov" in c["value"] or "gov" in c["name"].lower() for c in presets.choices)
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    await world.discord.slash("watch", {"address": BOB}, **IN_SERVER)
    await world.discord.slash("watch", {"address": BOB}, **{**IN_SERVER, "guild_id": OTHER_GUILD})
    mine = world.subscriptions_of(f"guild:{GUILD}")
    await world.discord.slash("pause", {"subscription": mine[0].id}, **IN_SERVER)
    everything = await world.discord.autocomplete(
        "unsubscribe", {"subscription": ""}, focused="subscription", **IN_SERVER
    )
    assert {c["value"] for c in everything.choices} == {s.id for s in mine}
    active = await world.discord.autocomplete("pause", {"subscription": ""}, focused="subscription", **IN_SERVER)
    assert [c["value"] for c in active.choices] == [mine[1].id]
    paused = await world.discord.autocomplete("resume", {"subscription": "funds"}, focused="subscription", **IN_SERVER)
    assert [c["value"] for c in paused.choices] == [mine[0].id] and "paused" in paused.choices[0]["name"]


async def test_autocomplete_interactions_are_type_4(world: DiscordBotWorld) -> None:
    payload = world.discord.interaction("watch", {"address": "", "chain": ""}, kind=AUTOCOMPLETE, focused="chain")
    reply = await world.discord.send_interaction(payload)
    assert reply.type == 8 and {c["value"] for c in reply.choices} == {"devnet-1", "osmo-test"}
    assert not reply.data.get("flags", 0) & EPHEMERAL


async def test_silent_posts_a_subscription_without_a_sound_and_back(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    reply = await world.discord.slash("silent", {"subscription": sub.id}, **IN_SERVER)
    assert reply.content.startswith("🔕") and sub.id in reply.content and not reply.ephemeral
    assert world.services.subscriptions.get(sub.owner_id, sub.id).silent
    reply = await world.discord.slash("silent", {"subscription": sub.id, "on": False}, **IN_SERVER)
    assert reply.content.startswith("🔔") and not world.services.subscriptions.get(sub.owner_id, sub.id).silent
    missing = await world.discord.slash("silent", {"subscription": "sub_nope"}, **IN_SERVER)
    assert missing.ephemeral and "not found" in missing.content

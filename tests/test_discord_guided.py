"""The guided `/mempools subscribe` through the real discord.py: chain menu -> preset menu -> the
preset's form (a modal) -> confirm, in one ephemeral message edited in place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.discord.guided import Draft, Drafts
from tests.fakes.discord_bot import MANAGER, MEMBER, DiscordBotWorld
from tests.fakes.discord_gateway import MODAL, UPDATE_MESSAGE, Reply
from tests.fakes.records import ALICE, T0, FakeClock
from tests.polling import until

GUILD = 4242
IN_SERVER: dict[str, Any] = {"guild_id": GUILD, "channel_id": 600, "user_id": 701, "permissions": MANAGER}
IN_DM: dict[str, Any] = {"channel_id": 900, "user_id": 703}
CHANNEL_MESSAGE = 4  # an interaction callback that sends a new message


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path) as w:
        yield w


async def _to_form(
    world: DiscordBotWorld, where: dict[str, Any], preset: str = "funds_received"
) -> tuple[Reply, Reply]:
    """Through both menus: (the flow message at step 2, the form the preset opened)."""
    start = await world.discord.slash("subscribe", {}, **where)
    assert start.ephemeral and "step 1 of 3" in start.content, start.content
    assert [o["value"] for o in start.select()["options"]] == ["devnet-1", "osmo-test"]
    step2 = await world.discord.choose(
        start.as_message(where["channel_id"]), start.select()["custom_id"], ["devnet-1"], **where
    )
    assert step2.type == UPDATE_MESSAGE and "step 2 of 3" in step2.content
    titles = {o["label"]: o["value"] for o in step2.select()["options"]}
    assert titles["Funds received"] == "funds_received"
    form = await world.discord.choose(
        step2.as_message(where["channel_id"]), step2.select()["custom_id"], [preset], **where
    )
    assert form.type == MODAL
    return step2, form


async def _submit(
    world: DiscordBotWorld, screen: Reply, form: Reply, values: dict[str, str], where: dict[str, Any]
) -> Reply:
    return await world.discord.submit(
        str(form.data["custom_id"]), values, message=screen.as_message(where["channel_id"]), **where
    )


async def test_menus_form_and_confirm_make_the_subscription(world: DiscordBotWorld) -> None:
    step2, form = await _to_form(world, IN_DM)
    assert form.data["title"] == "Funds received"
    fields = form.text_inputs()
    assert list(fields) == ["address", "min_amount", "denom", "include_fees", "_name"]
    assert fields["_name"]["label"] == "Name (optional)" and fields["_name"]["placeholder"] == "Funds received"
    assert fields["address"]["label"] == "Address" and fields["address"]["placeholder"] == "cosmos1…"
    assert fields["address"]["required"] is True and fields["min_amount"]["required"] is False
    assert fields["min_amount"]["label"] == "Minimum amount"
    assert fields["include_fees"]["placeholder"] == "false or true (optional, default false)"

    values = {"address": ALICE.upper(), "min_amount": "2.5", "denom": "", "include_fees": "", "_name": "Big ones"}
    confirm = await _submit(world, step2, form, values, IN_DM)
    assert confirm.type == UPDATE_MESSAGE and "step 3 of 3" in confirm.content, confirm.content
    summary = confirm.embeds[0]["description"]
    assert f"Address: `{ALICE}`" in summary and "Minimum amount: `2.5`" in summary  # normalised
    assert world.subscriptions_of("703") == []  # nothing before [Subscribe]

    done = await world.discord.press(
        confirm.as_message(IN_DM["channel_id"]), confirm.custom_ids()["✅ Subscribe"], **IN_DM
    )
    assert done.type == UPDATE_MESSAGE and done.content.startswith("✅ Subscribed"), done.content
    [sub] = world.subscriptions_of("703")
    assert sub.preset == "funds_received" and sub.params == {"address": ALICE, "min_amount": "2.5"}
    assert sub.name == "Big ones" and done.followups == []  # a DM: nobody else to tell


async def test_a_form_with_bad_values_says_which_field_and_keeps_the_others(world: DiscordBotWorld) -> None:
    step2, form = await _to_form(world, IN_DM)
    values = {"address": "cosmos1notanaddress", "min_amount": "2.5", "denom": "", "include_fees": "maybe"}
    wrong = await _submit(world, step2, form, values, IN_DM)
    assert wrong.type == UPDATE_MESSAGE and "the other values are kept" in wrong.content
    assert "❌ **Address**:" in wrong.content and "❌ **Include the fee transfer too?**:" in wrong.content
    assert "Minimum amount**" not in wrong.content
    assert "✅ Subscribe" not in wrong.custom_ids()

    again = await world.discord.press(
        wrong.as_message(IN_DM["channel_id"]), wrong.custom_ids()["✏️ Fix the values"], **IN_DM
    )
    assert again.type == MODAL
    kept = {k: v.get("value") for k, v in again.text_inputs().items()}
    assert kept["address"] == "cosmos1notanaddress" and kept["min_amount"] == "2.5" and kept["include_fees"] == "maybe"
    fixed = await _submit(world, wrong, again, {**values, "address": ALICE, "include_fees": "true"}, IN_DM)
    assert "step 3 of 3" in fixed.content and "Include the fee transfer too?: `true`" in fixed.embeds[0]["description"]
    assert world.subscriptions_of("703") == []


async def test_a_chain_given_starts_at_the_preset_menu(world: DiscordBotWorld) -> None:
    start = await world.discord.slash("subscribe", {"chain": "osmo-test"}, **IN_DM)
    assert "step 2 of 3" in start.content and "Osmo Test" in start.content


async def test_a_preset_without_parameters_skips_the_form(world: DiscordBotWorld) -> None:
    start = await world.discord.slash("subscribe", {"chain": "devnet-1"}, **IN_SERVER)
    confirm = await world.discord.choose(
        start.as_message(600), start.select()["custom_id"], ["gov_proposal_submitted"], **IN_SERVER
    )
    assert confirm.type == UPDATE_MESSAGE and "step 3 of 3" in confirm.content
    cancelled = await world.discord.press(confirm.as_message(600), confirm.custom_ids()["Cancel"], **IN_SERVER)
    assert cancelled.content == "Nothing was subscribed."
    assert world.subscriptions_of(f"guild:{GUILD}") == []


async def test_in_a_server_the_channel_is_told_of_the_new_subscription(world: DiscordBotWorld) -> None:
    start = await world.discord.slash("subscribe", {"chain": "devnet-1"}, **IN_SERVER)
    confirm = await world.discord.choose(
        start.as_message(600), start.select()["custom_id"], ["gov_proposal_submitted"], **IN_SERVER
    )
    done = await world.discord.press(confirm.as_message(600), confirm.custom_ids()["✅ Subscribe"], **IN_SERVER)
    assert start.ephemeral and done.content.startswith("✅ Subscribed")  # the flow message stays private
    await until(lambda: done.followups)
    [told] = done.followups
    assert told["content"].startswith("✅ Subscribed: **Governance proposal submitted** on Devnet")
    assert not int(told.get("flags") or 0) & 64  # the channel sees who set up what it will receive


async def test_in_a_server_only_managers_start_it(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash("subscribe", {}, **{**IN_SERVER, "permissions": MEMBER})
    assert reply.ephemeral and "Manage Server" in reply.content, reply.content


async def test_a_forged_form_or_an_unknown_draft_changes_nothing(world: DiscordBotWorld) -> None:
    step2, form = await _to_form(world, IN_DM)
    custom_id = str(form.data["custom_id"])
    forged = await world.discord.submit(custom_id.rpartition("|")[0] + "|AAAAAAAA", {"address": ALICE}, **IN_DM)
    assert forged.ephemeral and "not made by this bot" in forged.content
    world.front_door.client._guided._drafts.drop(custom_id.split("|")[1])  # as after a restart
    gone = await _submit(world, step2, form, {"address": ALICE}, IN_DM)
    assert gone.ephemeral and "expired" in gone.content
    assert world.subscriptions_of("703") == []


def test_drafts_expire_after_an_interaction_tokens_lifetime() -> None:
    clock = FakeClock(T0)
    drafts = Drafts(clock)
    key = drafts.put(Draft(user_id=1, chain_id="devnet-1", preset="funds_received", created_at=clock()))
    clock.advance(14 * 60)
    assert drafts.get(key) is not None
    clock.advance(2 * 60)
    assert drafts.get(key) is None


async def test_a_preset_with_a_required_parameter_left_out_opens_the_form(world: DiscordBotWorld) -> None:
    options = {"chain": "devnet-1", "preset": "Funds received", "params": "min_amount=5", "name": "Big ones"}
    form = await world.discord.slash("subscribe", options, **IN_DM)
    assert form.type == MODAL, form.content  # not "The address is required"
    assert form.data["title"] == "Funds received"
    kept = {k: v.get("value") for k, v in form.text_inputs().items()}
    assert kept["min_amount"] == "5" and kept["_name"] == "Big ones" and kept["address"] is None

    typed = {"address": ALICE, "min_amount": "5", "denom": "", "include_fees": "", "_name": "Big ones"}
    confirm = await world.discord.submit(str(form.data["custom_id"]), typed, **IN_DM)
    assert confirm.type == CHANNEL_MESSAGE and confirm.ephemeral and "step 3 of 3" in confirm.content, confirm.content
    assert f"Address: `{ALICE}`" in confirm.embeds[0]["description"]
    done = await world.discord.press(
        confirm.as_message(IN_DM["channel_id"]), confirm.custom_ids()["✅ Subscribe"], **IN_DM
    )
    assert done.content.startswith("✅ Subscribed: **Big ones**"), done.content
    [sub] = world.subscriptions_of("703")
    assert sub.params == {"address": ALICE, "min_amount": "5"}


async def test_a_required_parameter_left_out_by_a_member_is_refused_not_a_form(world: DiscordBotWorld) -> None:
    member = {**IN_SERVER, "permissions": MEMBER}
    reply = await world.discord.slash("subscribe", {"chain": "devnet-1", "preset": "funds_received"}, **member)
    assert reply.ephemeral and "Manage Server" in reply.content, reply.content
    assert world.subscriptions_of(f"guild:{GUILD}") == []


async def test_in_a_server_the_form_for_a_left_out_parameter_ends_with_the_channel_told(world: DiscordBotWorld) -> None:
    form = await world.discord.slash("subscribe", {"chain": "devnet-1", "preset": "funds_received"}, **IN_SERVER)
    assert form.type == MODAL and form.text_inputs()["address"]["required"] is True
    typed = {"address": ALICE, "min_amount": "", "denom": "", "include_fees": "", "_name": ""}
    confirm = await world.discord.submit(str(form.data["custom_id"]), typed, **IN_SERVER)
    assert confirm.type == CHANNEL_MESSAGE and confirm.ephemeral and "step 3 of 3" in confirm.content
    done = await world.discord.press(confirm.as_message(600), confirm.custom_ids()["✅ Subscribe"], **IN_SERVER)
    await until(lambda: done.followups)
    assert done.followups[0]["content"].startswith("✅ Subscribed: **Funds received · ")
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    assert sub.params == {"address": ALICE}

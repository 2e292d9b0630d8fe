"""`/mempools settings` through the real discord.py against the fake Discord: where notifications
go, the quiet hours and each subscription's sound, with buttons and a form (a modal) to change them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.models import DiscordDestination, QuietHours
from tests.fakes.discord_bot import MANAGER, MEMBER, DiscordBotWorld
from tests.fakes.discord_gateway import MODAL, UPDATE_MESSAGE, Reply
from tests.fakes.records import ALICE, BOB
from tests.polling import until

GUILD = 4242
CHANNEL = 600
IN_SERVER: dict[str, Any] = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 701, "permissions": MANAGER}
MEMBER_IN_SERVER: dict[str, Any] = {**IN_SERVER, "user_id": 702, "permissions": MEMBER}
IN_DM: dict[str, Any] = {"channel_id": 900, "user_id": 703}
BERLIN = "🌙 Quiet hours 23:00–07:00 Europe/Berlin: notifications arrive without a sound."  # noqa: RUF001


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path) as w:
        yield w


def _labels(reply: Reply) -> list[str]:
    return [str(b.get("label")) for row in reply.components for b in row.get("components") or [] if b.get("label")]


def _quiet_hours(world: DiscordBotWorld, external_id: str) -> QuietHours | None:
    account = world.account_of(external_id)
    assert account is not None
    [dest] = [d for d in world.services.destinations.list(account) if isinstance(d, DiscordDestination)]
    return dest.quiet_hours


async def _press(world: DiscordBotWorld, screen: Reply, label: str, where: dict[str, Any]) -> Reply:
    return await world.discord.press(screen.as_message(where["channel_id"]), screen.custom_ids()[label], **where)


async def _submit(
    world: DiscordBotWorld, screen: Reply, form: Reply, values: dict[str, str], where: dict[str, Any]
) -> Reply:
    return await world.discord.submit(
        str(form.data["custom_id"]), values, message=screen.as_message(where["channel_id"]), **where
    )


async def test_settings_say_where_notifications_go_the_quiet_hours_and_each_sound(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_DM)
    await world.discord.slash("watch", {"address": BOB}, **IN_DM)
    alice, bob = sorted(world.subscriptions_of("703"), key=lambda s: s.params["address"] != ALICE)
    await world.discord.slash("silent", {"subscription": bob.id}, **IN_DM)

    shown = await world.discord.slash("settings", {}, **IN_DM)
    assert shown.ephemeral and shown.content == ""
    [embed] = shown.embeds
    assert embed["title"] == "Settings for your DMs"
    assert embed["description"] == "\n".join(
        [
            "Notifications go to your DMs.",
            "🔔 Quiet hours: off. Notifications here make their usual sound at any hour.",
            "",
            "**Subscriptions delivering here (2)**",
            f"🔔 sound on · **{alice.name}** on Devnet",
            f"🔕 no sound · **{bob.name}** on Devnet",
        ]
    )
    assert embed["footer"]["text"].startswith("The buttons silence a subscription (it still arrives)")
    assert _labels(shown) == ["🌙 Set quiet hours", f"🔕 Silence: {alice.name}", f"🔔 Sound: {bob.name}"]


async def test_the_form_sets_quiet_hours_and_the_button_turns_them_off(world: DiscordBotWorld) -> None:
    shown = await world.discord.slash("settings", {}, **IN_DM)
    form = await _press(world, shown, "🌙 Set quiet hours", IN_DM)
    assert form.type == MODAL and form.data["title"] == "Quiet hours"
    fields = form.text_inputs()
    assert list(fields) == ["start", "end", "timezone"]
    assert fields["start"]["label"] == "Start (HH:MM)" and fields["start"]["placeholder"] == "e.g. 23:00"
    assert fields["timezone"]["placeholder"] == "e.g. Europe/Berlin or UTC"

    done = await _submit(world, shown, form, {"start": "23:00", "end": "7:00", "timezone": "europe/berlin"}, IN_DM)
    assert done.type == UPDATE_MESSAGE and done.content.startswith(BERLIN), done.content
    assert BERLIN in done.embeds[0]["description"]
    assert _quiet_hours(world, "703") == QuietHours(start="23:00", end="07:00", timezone="Europe/Berlin")
    assert _labels(done) == ["🌙 Change quiet hours", "🔔 Quiet hours off"]
    assert done.followups == []  # a DM: nobody else to tell

    again = await _press(world, done, "🌙 Change quiet hours", IN_DM)
    assert {k: v.get("value") for k, v in again.text_inputs().items()} == {
        "start": "23:00",
        "end": "07:00",
        "timezone": "Europe/Berlin",
    }
    off = await _press(world, done, "🔔 Quiet hours off", IN_DM)
    assert off.type == UPDATE_MESSAGE and off.content.startswith("🔔 Quiet hours are off"), off.content
    assert _quiet_hours(world, "703") is None and _labels(off) == ["🌙 Set quiet hours"]


async def test_a_form_with_bad_values_says_which_and_keeps_what_was_typed(world: DiscordBotWorld) -> None:
    shown = await world.discord.slash("settings", {}, **IN_DM)
    form = await _press(world, shown, "🌙 Set quiet hours", IN_DM)
    typed = {"start": "25:00", "end": "07:00", "timezone": "Europe/Berln"}
    wrong = await _submit(world, shown, form, typed, IN_DM)
    assert wrong.type == UPDATE_MESSAGE
    assert wrong.content == (
        "**Quiet hours**: please fix this, what you typed is kept.\n"
        "❌ **Start (HH:MM)**: '25:00' is not a time of day: use HH:MM, from 00:00 to 23:59\n"
        "❌ **Timezone**: I don't know the timezone 'Europe/Berln'. Did you mean Europe/Berlin?"
    )
    assert _quiet_hours(world, "703") is None
    assert _labels(wrong) == ["✏️ Fix quiet hours"]

    fix = await _press(world, wrong, "✏️ Fix quiet hours", IN_DM)
    assert fix.type == MODAL
    assert {k: v.get("value") for k, v in fix.text_inputs().items()} == typed
    done = await _submit(world, wrong, fix, {**typed, "start": "23:00", "timezone": "Europe/Berlin"}, IN_DM)
    assert done.content.startswith(BERLIN) and _quiet_hours(world, "703") is not None


async def test_the_quiet_option_sets_them_and_the_server_channel_is_told(world: DiscordBotWorld) -> None:
    said = await world.discord.slash("settings", {"quiet": "23:00-07:00 Europe/Berlin"}, **IN_SERVER)
    assert not said.ephemeral and said.content.startswith(BERLIN), said.content
    assert _quiet_hours(world, f"guild:{GUILD}") == QuietHours(start="23:00", end="07:00", timezone="Europe/Berlin")
    shown = await world.discord.slash("settings", {}, **IN_SERVER)
    assert shown.embeds[0]["title"] == "Settings for this channel"
    assert shown.embeds[0]["description"].startswith(f"Notifications go to <#{CHANNEL}>.\n{BERLIN}")

    off = await world.discord.slash("settings", {"quiet": "off"}, **IN_SERVER)
    assert not off.ephemeral and off.content.startswith("🔔 Quiet hours are off")
    assert _quiet_hours(world, f"guild:{GUILD}") is None


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("25:00-07:00 Europe/Berlin", "'25:00' is not a time of day: use HH:MM, from 00:00 to 23:59"),
        ("23:00-07:00 Europe/Berln", "I don't know the timezone 'Europe/Berln'. Did you mean Europe/Berlin?"),
        ("23:00", "Give quiet hours as HH:MM-HH:MM and a timezone, e.g. 23:00-07:00 Europe/Berlin"),
    ],
)
async def test_bad_quiet_option_is_a_clear_ephemeral_error(world: DiscordBotWorld, typed: str, expected: str) -> None:
    reply = await world.discord.slash("settings", {"quiet": typed}, **IN_SERVER)
    assert reply.ephemeral and reply.content.startswith("❌") and expected in reply.content, reply.content
    assert world.account_of(f"guild:{GUILD}") is None or _quiet_hours(world, f"guild:{GUILD}") is None


async def test_a_sound_button_toggles_and_the_channel_is_told(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    shown = await world.discord.slash("settings", {}, **IN_SERVER)
    silenced = await _press(world, shown, f"🔕 Silence: {sub.name}", IN_SERVER)
    assert silenced.type == UPDATE_MESSAGE and silenced.content.startswith(f"🔕 **{sub.name}**"), silenced.content
    assert f"🔕 no sound · **{sub.name}**" in silenced.embeds[0]["description"]
    assert f"🔔 Sound: {sub.name}" in _labels(silenced)
    [after] = world.subscriptions_of(f"guild:{GUILD}")
    assert after.silent
    await until(lambda: silenced.followups)
    [told] = silenced.followups
    assert told["content"].startswith(f"🔕 **{sub.name}**") and not int(told.get("flags") or 0) & 64

    loud = await _press(world, silenced, f"🔔 Sound: {sub.name}", IN_SERVER)
    assert loud.content.startswith(f"🔔 **{sub.name}**") and not world.subscriptions_of(f"guild:{GUILD}")[0].silent


async def test_members_may_look_but_not_change(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_SERVER)
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    await world.discord.slash("settings", {"quiet": "23:00-07:00 UTC"}, **IN_SERVER)

    looked = await world.discord.slash("settings", {}, **MEMBER_IN_SERVER)
    assert looked.ephemeral and "Quiet hours 23:00–07:00 UTC" in looked.embeds[0]["description"]  # noqa: RUF001
    for label in ("🔔 Quiet hours off", f"🔕 Silence: {sub.name}", "🌙 Change quiet hours"):
        refused = await _press(world, looked, label, MEMBER_IN_SERVER)
        assert refused.ephemeral and refused.type != MODAL, label
        assert refused.content.startswith("🚫 Only server managers (the Manage Server permission)"), refused.content
    typed = await world.discord.slash("settings", {"quiet": "off"}, **MEMBER_IN_SERVER)
    assert typed.ephemeral and "Manage Server" in typed.content, typed.content
    assert _quiet_hours(world, f"guild:{GUILD}") == QuietHours(start="23:00", end="07:00", timezone="UTC")
    assert not world.subscriptions_of(f"guild:{GUILD}")[0].silent


async def test_a_forged_button_changes_nothing(world: DiscordBotWorld) -> None:
    await world.discord.slash("settings", {"quiet": "23:00-07:00 UTC"}, **IN_DM)
    shown = await world.discord.slash("settings", {}, **IN_DM)
    real = shown.custom_ids()["🔔 Quiet hours off"]
    forged = await world.discord.press(shown.as_message(900), real.rpartition("|")[0] + "|AAAAAAAA", **IN_DM)
    assert forged.ephemeral and "not made by this bot" in forged.content
    elsewhere = await world.discord.press(shown.as_message(901), real, **{**IN_DM, "channel_id": 901})
    assert elsewhere.ephemeral and "not made by this bot" in elsewhere.content
    assert _quiet_hours(world, "703") is not None


async def test_a_stale_button_of_a_deleted_subscription_redraws_without_it(world: DiscordBotWorld) -> None:
    await world.discord.slash("watch", {"address": ALICE}, **IN_DM)
    [sub] = world.subscriptions_of("703")
    shown = await world.discord.slash("settings", {}, **IN_DM)
    await world.discord.slash("unsubscribe", {"subscription": sub.id}, **IN_DM)
    stale = await _press(world, shown, f"🔕 Silence: {sub.name}", IN_DM)
    assert stale.type == UPDATE_MESSAGE and "not found" in stale.content.lower(), stale.content
    assert _labels(stale) == ["🌙 Set quiet hours"]
    assert "No subscription delivers here yet" in stale.embeds[0]["description"]


async def test_the_buttons_keep_working_after_a_restart(world: DiscordBotWorld) -> None:
    await world.discord.slash("settings", {"quiet": "22:00-06:30 UTC"}, **IN_DM)
    shown = await world.discord.slash("settings", {}, **IN_DM)
    await world.stop()
    await world.start()  # nothing of the message is remembered: the custom_id says it all
    off = await _press(world, shown, "🔔 Quiet hours off", IN_DM)
    assert off.content.startswith("🔔 Quiet hours are off") and _quiet_hours(world, "703") is None

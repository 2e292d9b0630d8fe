"""/list as a user sees it: pages of about eight with arrows, a card per subscription (query, last
fired, count, Pause / Rename / Test / Delete, no raw ids), rename by a typed answer, stale buttons
of a deleted subscription, and /history with relative times and tx links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.actions import ChatContext
from core.models import Subscription
from tests.apikit import MovableClock, make_config, seed_notifications
from tests.fakes.telegram_api import FakeTelegramApi, SentMessage
from tests.telegram_kit import BotRig, button, buttons, running_rig

ME = ChatContext(platform="telegram", user_id=42, chat_id=42)


@pytest.fixture
async def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def rig(tmp_path: Path, api: FakeTelegramApi, clock: MovableClock) -> AsyncIterator[BotRig]:
    config = make_config()
    config.chains[0].explorer_tx_url = "https://explorer.example/tx/{hash}"
    async with running_rig(tmp_path, api, clock=clock, config=config) as r:
        yield r


async def _subscribe(rig: BotRig, count: int) -> list[Subscription]:
    reg = await rig.door.kit.actions.register(ME)
    return [
        await rig.env.services.subscriptions.create(
            reg.account.id, chain_id="testchain-1", name=f"Sub {i:02}", queries=[f"tm.event = 'Tx' AND a.b = '{i}'"],
            destination_ids=[reg.destination.id],
        )
        for i in range(count)
    ]  # fmt: skip


def _names(message: SentMessage) -> list[str]:
    return [label.split(" ", 1)[1] for label, _ in buttons(message) if label.startswith(("▶️", "⏸"))]


async def test_every_subscription_is_reachable_page_by_page(rig: BotRig, api: FakeTelegramApi) -> None:
    subs = await _subscribe(rig, 20)
    [listing] = await rig.say("/list")
    assert listing.text.startswith("<b>Subscriptions</b> (20) · page 1/3\n▶️ <b>Sub 00</b> on Test chain")
    assert not any(s.id in listing.text for s in subs)  # no raw ids
    seen = _names(listing)
    assert len(seen) == 8 and [label for label, _ in buttons(listing)][-1] == "Next \u203a"
    page = listing
    for number in (2, 3):
        await rig.press(button(page, "Next"), message=listing)
        page = api.edits[-1]
        assert f"page {number}/3" in page.text
        seen += _names(page)
    assert sorted(seen) == [s.name for s in subs]  # all twenty, each once
    assert [label for label, _ in buttons(page)][-1] == "\u2039 Previous"  # the last page has no Next
    await rig.press(button(page, "Previous"), message=listing)
    assert "page 2/3" in api.edits[-1].text
    # A card remembers its page: Back returns there.
    name = _names(api.edits[-1])[0]
    await rig.press(button(api.edits[-1], name), message=listing)
    assert api.edits[-1].text.startswith(f"<b>{name}</b> on Test chain — ▶️ active\n<code>")
    await rig.press(button(api.edits[-1], "Back to the list"), message=listing)
    assert "page 2/3" in api.edits[-1].text


async def test_a_page_past_the_end_shows_the_last_page(rig: BotRig, api: FakeTelegramApi) -> None:
    subs = await _subscribe(rig, 17)
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Next"), message=listing)
    await rig.press(button(api.edits[-1], "Next"), message=listing)
    last = api.edits[-1]
    assert "page 3/3" in last.text and _names(last) == ["Sub 16"]
    for sub in subs[8:]:  # the list shrinks to one page elsewhere (the REST API, another admin)
        await rig.env.services.subscriptions.delete(sub.owner_id, sub.id)
    await rig.press(button(last, "Previous"), message=listing)  # page 2 no longer exists
    shown = api.edits[-1]
    assert shown.text.startswith("<b>Subscriptions</b> (8)\n") and len(_names(shown)) == 8
    assert not any("Next" in label or "Previous" in label for label, _ in buttons(shown))


async def test_the_card_says_when_it_last_fired_and_how_often(
    rig: BotRig, api: FakeTelegramApi, clock: MovableClock
) -> None:
    [sub] = await _subscribe(rig, 1)
    seed_notifications(
        rig.env.repos, sub.owner_id, sub.id, 3, start=clock() - timedelta(hours=3), step=timedelta(hours=1)
    )
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Sub 00"), message=listing)
    assert api.edits[-1].text == (
        "<b>Sub 00</b> on Test chain — ▶️ active\n<code>tm.event = &#x27;Tx&#x27; AND a.b = &#x27;0&#x27;</code>\n"
        "last fired 1 h ago, 3 times in all"
    )


async def test_test_from_the_card_queues_a_sample_here(rig: BotRig, api: FakeTelegramApi) -> None:
    [sub] = await _subscribe(rig, 1)
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Sub 00"), message=listing)
    answer = await rig.press(button(api.edits[-1], "Test"), message=listing)
    assert answer["text"] == "A test notification is on its way to this chat."
    assert api.edits[-1].text.startswith("🧪 A test notification is on its way to this chat.\n<b>Sub 00</b>")
    [sample] = rig.env.repos.notifications.scan()
    assert list(sample.destination_ids) == sub.destination_ids


async def test_rename_is_a_typed_answer_with_back_and_cancel(rig: BotRig, api: FakeTelegramApi) -> None:
    [sub] = await _subscribe(rig, 1)
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Sub 00"), message=listing)
    await rig.press(button(api.edits[-1], "Rename"), message=listing)
    prompt = api.edits[-1]
    assert prompt.text == "Send the new name for <b>Sub 00</b> (up to 100 characters)."
    assert [label for label, _ in buttons(prompt)] == ["\u2039 Back", "✖ Cancel"]
    await rig.press(button(prompt, "Back"), message=listing)
    assert api.edits[-1].text.startswith("<b>Sub 00</b> on Test chain")
    await rig.press(button(api.edits[-1], "Rename"), message=listing)
    # Too long, or nothing printable: said on the same message, the flow stays.
    for bad in ("x" * 10_000, " \u200b\t "):
        assert await rig.say(bad, expect=0) == []
        assert "name: 1 to 100 printable characters" in api.edits[-1].text
        assert api.edits[-1].params["message_id"] == listing.params["message_id"]
    assert rig.env.repos.subscriptions.get(sub.id).name == "Sub 00"
    assert await rig.say("🐋🐋 <b>whales</b>", expect=0) == []
    card = api.edits[-1]
    assert card.text.startswith("✏️ Renamed to <b>🐋🐋 &lt;b&gt;whales&lt;/b&gt;</b>.\n<b>🐋🐋 &lt;b&gt;whales")
    assert rig.env.repos.subscriptions.get(sub.id).name == "🐋🐋 <b>whales</b>"
    # The rename is over: text is no longer taken as a name.
    [hint] = await rig.say("another name")
    assert "I understand commands" in hint.text


async def test_stale_buttons_of_a_deleted_subscription(rig: BotRig, api: FakeTelegramApi) -> None:
    [sub, other] = await _subscribe(rig, 2)
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Sub 00"), message=listing)
    card = api.edits[-1]
    await rig.env.services.subscriptions.delete(sub.owner_id, sub.id)  # deleted elsewhere meanwhile
    for label in ("Pause", "Rename", "Test", "Delete", "Sub 00"):
        source = listing if label == "Sub 00" else card
        answer = await rig.press(button(source, label), message=listing)
        assert answer["show_alert"] and answer["text"] == "That subscription no longer exists."
        gone = api.edits[-1]
        assert gone.text == "That subscription no longer exists." and buttons(gone) == []
    assert [s.id for s in rig.env.repos.subscriptions.scan()] == [other.id] and other.enabled
    assert list(rig.env.repos.notifications.scan()) == []  # Test sent nothing


async def test_history_says_how_long_ago_with_tx_links(rig: BotRig, api: FakeTelegramApi, clock: MovableClock) -> None:
    reg = await rig.door.kit.actions.register(ME)
    day = timedelta(days=1) - timedelta(minutes=5)  # 2 days ago, 1 day ago, 10 min ago
    start = clock() - 2 * day - timedelta(minutes=10)
    seed_notifications(
        rig.env.repos, reg.account.id, "sub_x", 3, start=start, step=day, destination_ids=(reg.destination.id,)
    )
    [reply] = await rig.say("/history")
    tx = "https://explorer.example/tx/" + f"{3:064X}"
    assert reply.text.splitlines()[:2] == [
        "<b>Last 3 notifications here</b>",
        f'• 10 min ago <b>seeded</b>: 1.5 ATOM at 3 · height 3 · <a href="{tx}">tx</a>',
    ]
    assert "• 1 day ago" in reply.text and "• 2 days ago" in reply.text
    clock.advance(timedelta(hours=5))
    [later] = await rig.say("/history 1")
    assert "• 5 h ago <b>seeded</b>" in later.text


async def test_the_card_silences_a_subscription_and_gives_its_sound_back(rig: BotRig, api: FakeTelegramApi) -> None:
    [sub] = await _subscribe(rig, 1)
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Sub 00"), message=listing)
    card = api.edits[-1]
    assert [label for label, _ in buttons(card)] == [
        "⏸ Pause", "🔕 Silence", "✏️ Rename", "🧪 Test", "🗑 Delete", "\u2039 Back to the list",
    ]  # fmt: skip
    answer = await rig.press(button(card, "Silence"), message=listing)
    assert answer["text"] == "Silenced Sub 00" and not answer.get("show_alert")
    assert rig.env.repos.subscriptions.get(sub.id).silent
    silent = api.edits[-1]
    assert silent.text.startswith("<b>Sub 00</b> on Test chain — ▶️ active · 🔕 silent\n<code>")
    assert [label for label, _ in buttons(silent)][:2] == ["⏸ Pause", "🔔 Sound on"]
    # Paused and silent: the status line says both.
    await rig.press(button(silent, "Pause"), message=listing)
    assert api.edits[-1].text.startswith("<b>Sub 00</b> on Test chain — ⏸ paused · 🔕 silent\n")
    answer = await rig.press(button(api.edits[-1], "Sound on"), message=listing)
    assert answer["text"] == "Sound on for Sub 00"
    assert not rig.env.repos.subscriptions.get(sub.id).silent
    back = api.edits[-1]
    assert back.text.startswith("<b>Sub 00</b> on Test chain — ⏸ paused\n")
    assert [label for label, _ in buttons(back)][:2] == ["▶️ Resume", "🔕 Silence"]
    # /settings tells the same story: the toggle is the one /settings and /silent change.
    [settings] = await rig.say("/settings")
    assert "• Sub 00 on Test chain (paused)\n" in settings.text


async def test_a_typed_new_name_is_deleted_so_the_card_is_the_one_message(rig: BotRig, api: FakeTelegramApi) -> None:
    await _subscribe(rig, 1)
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Sub 00"), message=listing)
    await rig.press(button(api.edits[-1], "Rename"), message=listing)
    assert await rig.say("x" * 200, expect=0) == []  # refused (too long): still the user's typing, removed
    assert await rig.say("Treasury", expect=0) == []
    assert api.edits[-1].text.startswith("✏️ Renamed to <b>Treasury</b>.")
    assert api.deleted == rig.said[1:]  # both answers, not the /list command

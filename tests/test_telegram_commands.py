"""Every command of the Telegram bot, as a user sees it, through the real Application."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

from telegram.ext import CommandHandler

from bot.actions import ChatContext
from bot.telegram import TelegramFrontDoor
from core.config import TelegramConfig
from core.dispatch.dispatcher import Dispatcher
from core.dispatch.telegram import TelegramChannel
from core.support.timeutil import utcnow
from tests.apikit import BOB, Env, seed_notifications
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, button, buttons


async def test_start_registers_and_explains(rig: BotRig, api: FakeTelegramApi) -> None:
    [reply] = await rig.say("/start")
    assert reply.chat_id == 42 and reply.parse_mode == "HTML"
    assert "Mempools" in reply.text and "/watch cosmos1…" in reply.text
    assert [c["command"] for c in api.commands][:4] == ["start", "watch", "validator", "voter"]


async def test_help_lists_every_registered_command(rig: BotRig, api: FakeTelegramApi) -> None:
    [reply] = await rig.say("/help")
    for command in api.commands:
        assert f"/{command['command']} — " in reply.text


async def test_chains(rig: BotRig) -> None:
    [reply] = await rig.say("/chains")
    assert "<b>Test chain</b> <code>testchain-1</code>: addresses cosmos1…, ATOM" in reply.text
    assert "Other chain" in reply.text


async def test_watch_list_pause_resume_unsubscribe(rig: BotRig) -> None:
    [reply] = await rig.say(f"/watch {BOB}")
    assert "✅ Subscribed: <b>Funds of cosmos1xv9t…xxe5</b> on Test chain." in reply.text
    [sub] = rig.env.repos.subscriptions.scan()
    assert sub.id in reply.text and sub.params == {"address": BOB}
    [again] = await rig.say(f"/watch {BOB}")
    assert again.text.startswith("Already watching")
    [listing] = await rig.say("/list")
    assert listing.text.startswith("<b>Subscriptions</b> (1)\n▶️ <b>Funds of cosmos1xv9t…xxe5</b> on Test chain")
    assert sub.id not in listing.text  # no raw ids: the buttons open each one's card
    [paused] = await rig.say(f"/pause {sub.id}")
    assert "⏸ Paused <b>Funds of cosmos1xv9t…xxe5</b>" in paused.text
    assert not rig.env.repos.subscriptions.get(sub.id).enabled
    [resumed] = await rig.say(f"/resume {sub.id}")
    assert "▶️ Resumed" in resumed.text and rig.env.repos.subscriptions.get(sub.id).enabled
    [deleted] = await rig.say(f"/unsubscribe {sub.id}")
    assert "🗑 Deleted" in deleted.text and rig.env.repos.subscriptions.get(sub.id) is None
    [empty] = await rig.say("/list")
    assert "No subscriptions yet" in empty.text


async def test_watch_refuses_a_bad_address_helpfully(rig: BotRig) -> None:
    [reply] = await rig.say("/watch cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xv")
    assert "not a valid bech32 address (bad characters or checksum)" in reply.text
    [reply] = await rig.say("/watch juno1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5fs09pq")
    assert "juno1… is a Juno address; this service watches Test chain (cosmos1…)" in reply.text
    [reply] = await rig.say("/watch")
    assert reply.text.startswith("Usage: /watch &lt;address&gt;")
    assert list(rig.env.repos.subscriptions.scan()) == []


async def test_raw_query_subscription_and_positioned_error(rig: BotRig) -> None:
    [reply] = await rig.say("/subscribe testchain-1 tm.event = 'Tx' AND message.action EXISTS")
    assert "✅ Subscribed: <b>Custom query</b>" in reply.text
    [bad] = await rig.say("/subscribe testchain-1 transfer.amount > 'x<y' AND")
    assert "That query does not parse:" in bad.text
    assert "<pre>transfer.amount &gt; &#x27;x&lt;y&#x27; AND\n" in bad.text and "^</pre>" in bad.text
    [unknown] = await rig.say("/subscribe nochain-9 tm.event = 'Tx'")
    assert "&#x27;nochain-9&#x27; is not a configured chain" in unknown.text
    assert len(list(rig.env.repos.subscriptions.scan())) == 1


async def test_list_card_pause_resume_and_delete(rig: BotRig, api: FakeTelegramApi) -> None:
    await rig.say(f"/watch {BOB}")
    [sub] = rig.env.repos.subscriptions.scan()
    [listing] = await rig.say("/list")
    await rig.press(button(listing, "Funds of"), message=listing)
    card = api.edits[-1]
    assert card.text == (
        "<b>Funds of cosmos1xv9t…xxe5</b> on Test chain — ▶️ active\n"
        f"Funds received or sent (address = <code>{BOB}</code>)\nnever fired yet"
    )
    assert [label for label, _ in buttons(card)] == [
        "⏸ Pause",
        "🔕 Silence",
        "✏️ Rename",
        "🧪 Test",
        "🗑 Delete",
        "\u2039 Back to the list",
    ]
    answer = await rig.press(button(card, "Pause"), message=listing)
    assert answer["text"] == "Paused Funds of cosmos1xv9t…xxe5"
    assert not rig.env.repos.subscriptions.get(sub.id).enabled
    edited = api.edits[-1]
    assert "— ⏸ paused" in edited.text and buttons(edited)[0][0] == "▶️ Resume"
    await rig.press(button(edited, "Resume"), message=listing)
    assert rig.env.repos.subscriptions.get(sub.id).enabled
    await rig.press(button(api.edits[-1], "Delete"), message=listing)
    confirm = api.edits[-1]
    assert confirm.text.startswith("Delete <b>Funds of") and rig.env.repos.subscriptions.get(sub.id) is not None
    await rig.press(button(confirm, "Keep it"), message=listing)
    assert api.edits[-1].text.startswith("<b>Funds of cosmos1xv9t…xxe5</b> on Test chain — ▶️ active")
    await rig.press(button(api.edits[-1], "Delete"), message=listing)
    answer = await rig.press(button(api.edits[-1], "Yes, delete"), message=listing)
    assert answer["text"].startswith("Deleted") and rig.env.repos.subscriptions.get(sub.id) is None
    assert "No subscriptions yet" in api.edits[-1].text


async def test_history_shows_what_this_chat_received(rig: BotRig) -> None:
    [empty] = await rig.say("/history")
    assert empty.text == "Nothing was sent to this chat yet."
    reg = await rig.door.kit.actions.register(ChatContext(platform="telegram", user_id=42, chat_id=42))
    seed_notifications(
        rig.env.repos, reg.account.id, "sub_x", 7, start=utcnow() - timedelta(hours=1),
        destination_ids=(reg.destination.id,),
    )  # fmt: skip
    [reply] = await rig.say("/history 3")
    assert reply.text.startswith("<b>Last 3 notifications here</b>")
    assert "1.5 ATOM at 7 · height 7" in reply.text and "height 4" not in reply.text
    [bad] = await rig.say("/history lots")
    assert "Usage: /history [n]" in bad.text
    [bad] = await rig.say("/history 500")
    assert "1 to 50" in bad.text


async def test_link_joins_a_rest_account(rig: BotRig) -> None:
    await rig.say(f"/watch {BOB}")
    rest = await rig.env.services.accounts.get_or_create_for_identity("email", "dev@example.com")
    code = (await rig.env.services.accounts.create_link_code(rest.id)).code
    [bad] = await rig.say("/link NOPE2345")
    assert "not valid or has expired" in bad.text
    [reply] = await rig.say(f"/link {code}")
    assert reply.text.startswith("🔗 Linked")
    [sub] = rig.env.repos.subscriptions.scan()
    assert sub.owner_id == rest.id


async def test_test_sends_a_sample_notification_through_the_dispatcher(rig: BotRig, api: FakeTelegramApi) -> None:
    [reply] = await rig.say("/test")
    assert reply.text == "A test notification is on its way to this chat."
    dispatcher = Dispatcher(rig.env.outbox, rig.env.repos, {"telegram": TelegramChannel(rig.door.bot)}, lambda _c: None)
    await dispatcher.pump()
    await api.wait_sent(2)
    sample = api.sent[-1]
    assert sample.chat_id == 42 and sample.text.startswith("<b>Mempools: test notification</b>\nThis is a test")


async def test_the_same_front_door_runs_again_after_a_stop(rig: BotRig) -> None:
    """The Supervisor restarts `run(stop)` on the same object after a failure."""
    await rig.door.stop()
    stop = asyncio.Event()
    task = asyncio.create_task(rig.door.run(stop))
    [reply] = await rig.say("/help")
    assert reply.text.startswith("<b>Commands</b>")
    stop.set()
    await asyncio.wait_for(task, 10)
    await rig.door.start()  # for the fixture's stop


async def test_without_a_token_the_bot_is_off(tmp_path: Path) -> None:
    env = Env(tmp_path)
    try:
        assert TelegramFrontDoor.from_config(TelegramConfig(), env.services) is None
    finally:
        env.close()


async def test_help_and_menus_name_exactly_the_commands_that_exist(rig: BotRig, api: FakeTelegramApi) -> None:
    registered = {
        command for group in rig.door.app.handlers.values() for h in group if isinstance(h, CommandHandler)
        for command in h.commands
    }  # fmt: skip
    [reply] = await rig.say("/help")
    listed = set(re.findall(r"^/(\w+) — ", reply.text, flags=re.MULTILINE))
    assert listed == registered and {"alias", "unalias", "settings", "silent"} <= listed
    for scope in ("all_private_chats", "all_chat_administrators", "all_group_chats"):
        menu = [c["command"] for c in api.command_scopes[scope]]
        assert set(menu) <= registered and len(menu) <= 8, (scope, menu)
    # Everyone in a group may look: the list, the history, the settings; changing is for admins.
    assert [c["command"] for c in api.command_scopes["all_group_chats"]] == ["list", "history", "settings", "help"]
    assert "/cancel — Stop a guided /subscribe or a rename" in reply.text

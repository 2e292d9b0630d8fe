"""Groups: subscriptions belong to the group, only its administrators change them; forged buttons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.callbacks import CallbackSigner
from bot.telegram.keyboards import SILENCE
from tests.apikit import BOB
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, button, running_rig

GROUP = -1001234
ADMIN, MEMBER = 7, 8


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        fake.set_member(chat_id=GROUP, user_id=ADMIN, status="administrator")
        yield fake


@pytest.fixture
async def rig(tmp_path: Path, api: FakeTelegramApi) -> AsyncIterator[BotRig]:
    async with running_rig(tmp_path, api, admin_ttl=0.0) as r:
        yield r


async def test_group_subscriptions_deliver_to_the_group_and_only_admins_change_them(
    rig: BotRig, api: FakeTelegramApi
) -> None:
    [refused] = await rig.say(f"/watch {BOB}", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    assert refused.chat_id == GROUP and "🔒 Only the group&#x27;s administrators" in refused.text
    assert list(rig.env.repos.subscriptions.scan()) == []
    [made] = await rig.say(f"/watch {BOB}", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    assert "✅ Subscribed" in made.text
    [sub] = rig.env.repos.subscriptions.scan()
    dest = rig.env.repos.destinations.get(sub.destination_ids[0])
    assert dest.chat_id == GROUP and dest.chat_title == "Test group"
    assert rig.env.repos.identities.find("telegram", f"chat:{GROUP}").account_id == sub.owner_id

    # Anyone may list; a member's button press changes nothing.
    [listing] = await rig.say("/list", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    assert "<b>Funds of cosmos1xv9t…xxe5</b> on Test chain" in listing.text
    await rig.press(button(listing, "Funds of"), message=listing, user_id=MEMBER, chat_type="supergroup")
    card = api.edits[-1]  # anyone may open the card
    assert "last fired" in card.text or "never fired" in card.text
    answer = await rig.press(button(card, "Pause"), message=listing, user_id=MEMBER, chat_type="supergroup")
    assert answer["show_alert"] and "administrators" in answer["text"]
    [refused] = await rig.say(f"/unsubscribe {sub.id}", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    assert "🔒" in refused.text
    assert rig.env.repos.subscriptions.get(sub.id).enabled

    # An admin's press works; an admin demoted is refused at once (cache ttl 0 in this test).
    await rig.press(button(card, "Pause"), message=listing, user_id=ADMIN, chat_type="supergroup")
    assert not rig.env.repos.subscriptions.get(sub.id).enabled
    api.set_member(chat_id=GROUP, user_id=ADMIN, status="member")
    [refused] = await rig.say(f"/resume {sub.id}", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    assert "🔒" in refused.text and not rig.env.repos.subscriptions.get(sub.id).enabled

    # The admin's private chat is another account: the group's subscription is "not found" there.
    [private] = await rig.say(f"/pause {sub.id}", chat_id=ADMIN, user_id=ADMIN)
    assert "Subscription not found." in private.text


async def test_group_guided_flow_asks_for_replies(rig: BotRig, api: FakeTelegramApi) -> None:
    [menu] = await rig.say("/subscribe testchain-1", chat_id=GROUP, user_id=ADMIN, chat_type="group")
    await rig.press(button(menu, "Funds sent"), message=menu, user_id=ADMIN, chat_type="group")
    prompt = api.sent[-1]
    assert prompt.text == "Reply to this message with the address."
    assert prompt.params["reply_markup"]["force_reply"] is True
    # Another member's text does not feed the admin's flow.
    assert await rig.say(BOB, chat_id=GROUP, user_id=MEMBER, chat_type="group", expect=0) == []
    reply_to = int(prompt.params["message_id"])
    assert await rig.say(BOB, chat_id=GROUP, user_id=ADMIN, chat_type="group", reply_to=reply_to, expect=0) == []
    next_step = api.edits[-1]  # the flow's own message moved on (an optional step: no ForceReply)
    assert next_step.params["message_id"] == menu.params["message_id"]
    assert "Parameter 2/4" in next_step.text
    # A member pressing the admin's flow buttons: not theirs.
    answer = await rig.press(button(next_step, "Skip"), message=next_step, user_id=MEMBER, chat_type="group")
    assert "no longer active" in answer["text"]
    # ... and the admin keeps the flow: through to the name, asked for with a ForceReply too.
    for label in ("Skip", "Skip", "false"):
        await rig.press(button(api.edits[-1], label), message=menu, user_id=ADMIN, chat_type="group")
    assert "Name it" in api.edits[-1].text
    ask = api.sent[-1]
    assert ask.text == "Reply to this message with the name." and ask.params["reply_markup"]["force_reply"] is True
    reply_to = int(ask.params["message_id"])
    await rig.say("Treasury", chat_id=GROUP, user_id=ADMIN, chat_type="group", reply_to=reply_to, expect=0)
    assert api.edits[-1].text.startswith("Create <b>Treasury</b> on Test chain?")


async def test_forged_and_foreign_buttons_change_nothing(rig: BotRig, api: FakeTelegramApi) -> None:
    await rig.say(f"/watch {BOB}", chat_id=ADMIN, user_id=ADMIN)
    [victim_sub] = rig.env.repos.subscriptions.scan()
    [listing] = await rig.say("/list", chat_id=MEMBER, user_id=MEMBER)  # the attacker's own chat
    # 1. Unsigned / tampered data.
    for data in (f"D|{victim_sub.id}|AAAAAAAA", f"D|{victim_sub.id}", "garbage", "D||", "\u0000|\u202e"):
        answer = await rig.press(data, message=listing, user_id=MEMBER)
        assert answer["text"] == "This button is not valid here."
    # 2. A real button of the victim's chat replayed in the attacker's chat: signed for another chat.
    signer = CallbackSigner(api.token)  # (the attacker cannot do this; a leaked button can)
    stolen = signer.encode(ADMIN, "D", victim_sub.id)
    answer = await rig.press(stolen, message=listing, user_id=MEMBER)
    assert answer["text"] == "This button is not valid here."
    # 3. Even a correctly signed button for the attacker's chat cannot reach another's subscription.
    forged = signer.encode(MEMBER, "D", victim_sub.id)
    answer = await rig.press(forged, message=listing, user_id=MEMBER)
    assert answer["show_alert"] and answer["text"] == "That subscription no longer exists."
    assert rig.env.repos.subscriptions.get(victim_sub.id) is not None


async def test_commands_for_other_bots_are_ignored_in_groups(rig: BotRig) -> None:
    assert await rig.say("/frobnicate@some_other_bot", chat_id=GROUP, user_id=MEMBER, expect=0) == []
    [reply] = await rig.say("/frobnicate@mempools_test_bot", chat_id=GROUP, user_id=MEMBER)
    assert reply.text == "I don't know /frobnicate. Send /help for the commands."
    [reply] = await rig.say("/chains@mempools_test_bot", chat_id=GROUP, user_id=MEMBER)
    assert "Test chain" in reply.text


async def test_a_group_that_becomes_a_supergroup_keeps_its_account_and_deliveries(
    rig: BotRig, api: FakeTelegramApi
) -> None:
    """Telegram gives the supergroup a new chat id and says so in both chats; everything follows."""
    old, new = -4001, -1009876
    api.set_member(chat_id=old, user_id=ADMIN, status="administrator")
    api.set_member(chat_id=new, user_id=ADMIN, status="administrator")
    await rig.say(f"/watch {BOB}", chat_id=old, user_id=ADMIN, chat_type="group")
    [sub] = rig.env.repos.subscriptions.scan()
    group_account = sub.owner_id

    def service_message(chat_id: int, chat_type: str, **field: int) -> dict:
        update = api.message_update(chat_id=chat_id, user_id=ADMIN, text="", chat_type=chat_type)
        del update["message"]["text"]
        update["message"].update(field)
        return update

    api.push_update(service_message(old, "group", migrate_to_chat_id=new))
    api.push_update(service_message(new, "supergroup", migrate_from_chat_id=old))  # said twice: idempotent
    await rig.settled(new)  # both service messages handled
    assert rig.env.repos.identities.find("telegram", f"chat:{new}").account_id == group_account
    assert rig.env.repos.identities.find("telegram", f"chat:{old}") is None
    assert rig.env.repos.destinations.get(sub.destination_ids[0]).chat_id == new

    # Commands in the supergroup act on the same account: its subscription is listed there.
    [listing] = await rig.say("/list", chat_id=new, user_id=ADMIN, chat_type="supergroup")
    assert "Funds of cosmos1xv9t…xxe5" in listing.text
    assert [a.id for a in rig.env.repos.accounts.scan()].count(group_account) == 1


async def test_rename_in_a_group_asks_for_a_reply(rig: BotRig, api: FakeTelegramApi) -> None:
    await rig.say(f"/watch {BOB}", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    [listing] = await rig.say("/list", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    await rig.press(button(listing, "Funds of"), message=listing, user_id=ADMIN, chat_type="supergroup")
    await rig.press(button(api.edits[-1], "Rename"), message=listing, user_id=ADMIN, chat_type="supergroup")
    assert api.edits[-1].text.startswith("Send the new name for <b>Funds of")
    ask = api.sent[-1]  # privacy mode: only a reply reaches the bot
    assert ask.text == "Reply to this message with the new name." and ask.params["reply_markup"]["force_reply"]
    reply_to = int(ask.params["message_id"])
    # Another member's reply is not the admin's answer; the admin's is.
    await rig.say("hijack", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup", reply_to=reply_to, expect=0)
    await rig.say("Treasury", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup", reply_to=reply_to, expect=0)
    assert api.edits[-1].text.startswith("✏️ Renamed to <b>Treasury</b>.")
    [sub] = rig.env.repos.subscriptions.scan()
    assert sub.name == "Treasury"


async def _rename_reply(rig: BotRig, api: FakeTelegramApi, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Start a rename from the group's /list card and answer its ForceReply; the (chat, message)
    ids of the answer and of the prompt."""
    [listing] = await rig.say("/list", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    await rig.press(button(listing, "▶️"), message=listing, user_id=ADMIN, chat_type="supergroup")
    await rig.press(button(api.edits[-1], "Rename"), message=listing, user_id=ADMIN, chat_type="supergroup")
    reply_to = int(api.sent[-1].params["message_id"])
    await rig.say(name, chat_id=GROUP, user_id=ADMIN, chat_type="supergroup", reply_to=reply_to, expect=0)
    assert api.edits[-1].text.startswith(f"✏️ Renamed to <b>{name}</b>.")
    return rig.said[-1], (GROUP, reply_to)


async def test_in_a_group_an_answer_is_deleted_only_when_the_bot_may(rig: BotRig, api: FakeTelegramApi) -> None:
    await rig.say(f"/watch {BOB}", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    # A plain member: the bot cannot delete others' messages, so it does not try; its own spent
    # ForceReply prompt it may always delete, and does.
    answer, prompt = await _rename_reply(rig, api, "One")
    assert api.deleted == [prompt]
    # An administrator without the right to delete messages: the same.
    api.set_member(chat_id=GROUP, user_id=api.bot_id, status="administrator", can_delete_messages=False)
    answer, prompt = await _rename_reply(rig, api, "Two")
    assert api.deleted[-1] == prompt and answer not in api.deleted
    assert [m for m, _ in api.calls].count("deleteMessage") == 2
    # With the right: the admin's answer goes too, the card is the one message left of the rename.
    api.set_member(chat_id=GROUP, user_id=api.bot_id, status="administrator")
    answer, prompt = await _rename_reply(rig, api, "Three")
    assert api.deleted[-2:] == [prompt, answer]
    # Refused deletes (the right was taken away meanwhile) are not an error anyone sees.
    api.fail_next("deleteMessage", status=400, description="Bad Request: message can't be deleted", times=2)
    sent = len(api.sent)
    answer, prompt = await _rename_reply(rig, api, "Four")
    said = [m.text.split("\n")[0] for m in api.sent[sent:]]  # the /list and the prompt: no word of a refusal
    assert said == ["<b>Subscriptions</b> (1)", "Reply to this message with the new name."]
    assert answer not in api.deleted and prompt not in api.deleted
    [renamed] = rig.env.repos.subscriptions.scan()
    assert renamed.name == "Four"


async def test_the_card_sound_toggle_is_for_admins_and_checks_its_signature(rig: BotRig, api: FakeTelegramApi) -> None:
    await rig.say(f"/watch {BOB}", chat_id=GROUP, user_id=ADMIN, chat_type="supergroup")
    [sub] = rig.env.repos.subscriptions.scan()
    [listing] = await rig.say("/list", chat_id=GROUP, user_id=MEMBER, chat_type="supergroup")
    await rig.press(button(listing, "Funds of"), message=listing, user_id=MEMBER, chat_type="supergroup")
    card = api.edits[-1]
    silence = button(card, "Silence")
    answer = await rig.press(silence, message=listing, user_id=MEMBER, chat_type="supergroup")
    assert answer["show_alert"] and "administrators" in answer["text"]
    assert not rig.env.repos.subscriptions.get(sub.id).silent and api.edits[-1] is card
    signer = CallbackSigner(api.token)
    tampered = silence[:-1] + ("A" if silence[-1] != "A" else "B")
    for data in (tampered, signer.encode(MEMBER, SILENCE, sub.id, "0"), f"{SILENCE}|{sub.id}|0"):
        answer = await rig.press(data, message=listing, user_id=ADMIN, chat_type="supergroup")
        assert answer == {**answer, "text": "This button is not valid here.", "show_alert": True}
    assert not rig.env.repos.subscriptions.get(sub.id).silent
    answer = await rig.press(silence, message=listing, user_id=ADMIN, chat_type="supergroup")
    assert answer["text"] == f"Silenced {sub.name}" and rig.env.repos.subscriptions.get(sub.id).silent

"""Onboarding (#15 item 4), as a user sees it through the real Application and the fake Bot API:
deep links, a pasted address, /settings, the bot's profile and command menus, the group greeting."""

from __future__ import annotations

from html import escape
from pathlib import Path

from bot.telegram.format import DESCRIPTION, SHORT_DESCRIPTION
from core.config import ChainConfig, Denom
from tests.apikit import BOB, make_config
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, button, buttons, running_rig

WELCOME = "Try it: <code>/watch cosmos1…</code>"
SUBSCRIBED = "✅ Subscribed: <b>Funds of cosmos1xv9t…xxe5</b> on Test chain."
HINT = "I understand commands. To watch an address send /watch &lt;address&gt;; /help lists the rest."


def _commands(api: FakeTelegramApi, scope: str) -> list[str]:
    return [c["command"] for c in api.command_scopes[scope]]


# -- /start deep links ---------------------------------------------------------------------------
async def test_a_watch_deep_link_watches_the_address(rig: BotRig) -> None:
    [reply] = await rig.say(f"/start watch_{BOB}")
    assert reply.text.startswith(SUBSCRIBED), reply.text
    [sub] = rig.env.repos.subscriptions.scan()
    assert sub.params == {"address": BOB} and sub.id in reply.text


async def test_a_watch_deep_link_with_a_bad_address_explains_and_welcomes(rig: BotRig) -> None:
    [reply] = await rig.say("/start watch_cosmos1notanaddress")
    assert reply.text.startswith(
        "That link asked me to watch an address, but it did not work:\n"
        "❌ The address: &#x27;cosmos1notanaddress&#x27; is not a valid bech32 address (bad characters or checksum).\n"
        "\n👋 <b>Mempools</b>"
    ), reply.text
    assert WELCOME in reply.text
    assert list(rig.env.repos.subscriptions.scan()) == []


async def test_a_watch_deep_link_in_a_group_needs_an_administrator(rig: BotRig, api: FakeTelegramApi) -> None:
    [refused] = await rig.say(f"/start@mempools_test_bot watch_{BOB}", chat_id=-100, user_id=7)
    assert refused.text.startswith("That link asked me to watch an address, but it did not work:\n"), refused.text
    assert "administrators" in refused.text and "In this group, administrators create" in refused.text
    assert list(rig.env.repos.subscriptions.scan()) == []
    api.set_member(chat_id=-100, user_id=8, status="administrator")
    [reply] = await rig.say(f"/start@mempools_test_bot watch_{BOB}", chat_id=-100, user_id=8)
    assert reply.chat_id == -100 and reply.text.startswith(SUBSCRIBED), reply.text


async def test_an_unknown_deep_link_gets_the_welcome(rig: BotRig) -> None:
    [reply] = await rig.say("/start promo_2026")
    assert reply.text.startswith("🤔 That link is not one I know, so here is the usual welcome.\n\n👋 <b>Mempools</b>")
    assert WELCOME in reply.text


# -- a pasted address ------------------------------------------------------------------------------
async def test_a_pasted_address_is_offered_and_the_button_watches_it(rig: BotRig, api: FakeTelegramApi) -> None:
    [offer] = await rig.say(f"  {BOB}\u200b ")
    assert offer.text == "Watch cosmos1xv9t…xxe5 on Test chain?"
    assert [label for label, _ in buttons(offer)] == ["Watch"]
    assert list(rig.env.repos.subscriptions.scan()) == []
    await rig.press(button(offer, "Watch"), message=offer)
    assert api.edits[-1].text.startswith(SUBSCRIBED), api.edits[-1].text
    assert int(api.edits[-1].params["message_id"]) == offer.params["message_id"]
    [sub] = rig.env.repos.subscriptions.scan()
    assert sub.params == {"address": BOB}


async def test_a_pasted_address_valid_on_two_chains_asks_which(tmp_path: Path, api: FakeTelegramApi) -> None:
    config = make_config()
    config.chains.append(
        ChainConfig(
            id="cosmos-test", name="Cosmos testnet", rpc=["http://127.0.0.1:9"], bech32_prefix="cosmos",
            denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
        )
    )  # fmt: skip
    async with running_rig(tmp_path, api, config=config) as rig:
        [question] = await rig.say(BOB)
        assert question.text == f"Watch <code>{BOB}</code>? It is valid on several chains: which one?"
        assert [label for label, _ in buttons(question)] == [
            "Test chain (testchain-1)", "Cosmos testnet (cosmos-test)", "✖ Cancel",
        ]  # fmt: skip
        await rig.press(button(question, "Cosmos testnet"), message=question)
        assert api.edits[-1].text.startswith("✅ Subscribed: <b>Funds of cosmos1xv9t…xxe5</b> on Cosmos testnet.")
        [sub] = rig.env.repos.subscriptions.scan()
        assert sub.chain_id == "cosmos-test"


async def test_text_that_is_not_an_address_of_a_configured_chain_gets_the_hint(rig: BotRig) -> None:
    [reply] = await rig.say("hello there")
    assert reply.text == HINT
    [reply] = await rig.say("juno1xv9tklw7d82sezh9haa573wufgy59vmwe6xxe5")  # bad checksum, unknown prefix
    assert reply.text == HINT


# -- /settings -----------------------------------------------------------------------------------------
async def test_settings_shows_what_this_chat_receives(rig: BotRig) -> None:
    [empty] = await rig.say("/settings")
    assert empty.text == (
        "<b>Settings for this chat</b>\n"
        "Notifications here: ✅ on\n"
        "No subscription delivers here yet: /watch &lt;address&gt; or /subscribe.\n"
        "Quiet hours: off. /settings quiet 23:00-07:00 Europe/Berlin sends at night without a sound.\n"
        "/list pauses, resumes or deletes subscriptions; /help lists every command."
    )
    await rig.say(f"/watch {BOB}")
    [sub] = rig.env.repos.subscriptions.scan()
    await rig.say(f"/pause {sub.id}")
    [shown] = await rig.say("/settings")
    assert "Subscriptions delivering here (1):\n• Funds of cosmos1xv9t…xxe5 on Test chain (paused)\n" in shown.text


# -- the bot's profile and menus -------------------------------------------------------------------------
async def test_startup_sets_the_descriptions_and_scoped_short_menus(rig: BotRig, api: FakeTelegramApi) -> None:
    assert api.descriptions == {"description": DESCRIPTION, "short_description": SHORT_DESCRIPTION}
    assert len(DESCRIPTION) <= 512 and len(SHORT_DESCRIPTION) <= 120
    assert set(api.command_scopes) == {"all_private_chats", "all_chat_administrators", "all_group_chats"}
    assert _commands(api, "all_private_chats") == [
        "start", "watch", "validator", "voter", "subscribe", "list", "alias", "help",
    ]  # fmt: skip
    assert _commands(api, "all_chat_administrators") == [
        "watch", "validator", "voter", "subscribe", "list", "alias", "settings", "help",
    ]  # fmt: skip
    assert _commands(api, "all_group_chats") == ["list", "history", "settings", "help"]
    [help_reply] = await rig.say("/help")
    for scope in api.command_scopes.values():
        for command in scope:
            assert f"/{command['command']} — {escape(command['description'])}" in help_reply.text


# -- joining a group ---------------------------------------------------------------------------------------
async def test_the_bot_greets_a_group_it_is_added_to_once(rig: BotRig, api: FakeTelegramApi) -> None:
    api.push_update(api.my_chat_member_update(chat_id=-100, user_id=7, old="left", new="member"))
    [greeting] = await api.wait_sent(1)
    assert greeting.chat_id == -100
    assert greeting.text == (
        "👋 Hello! I send notifications about Cosmos chains to this group.\n"
        "Administrators subscribe: <code>/watch &lt;address&gt;</code> or /subscribe.\n"
        "Everyone can see them with /list and the last notifications with /history."
    )
    # Promoted, then removed: no greeting for either.
    api.push_update(api.my_chat_member_update(chat_id=-100, user_id=7, old="member", new="administrator"))
    api.push_update(api.my_chat_member_update(chat_id=-100, user_id=7, old="administrator", new="left"))
    await rig.settled(-100)
    assert len(api.sent) == 1
    # Added again after being kicked: greeted again.
    api.push_update(api.my_chat_member_update(chat_id=-100, user_id=7, old="kicked", new="administrator"))
    await api.wait_sent(2)
    assert api.sent[1].text == greeting.text

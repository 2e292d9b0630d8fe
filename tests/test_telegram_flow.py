"""The guided /subscribe flow: buttons, typed parameters, a restart in the middle, expiry, stale buttons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.apikit import BOB, MovableClock
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, button, buttons, running_rig


@pytest.fixture
async def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def rig(tmp_path: Path, api: FakeTelegramApi, clock: MovableClock) -> AsyncIterator[BotRig]:
    async with running_rig(tmp_path, api, clock=clock) as r:
        yield r


async def test_guided_flow_survives_a_restart_mid_flow(rig: BotRig, api: FakeTelegramApi) -> None:
    [menu] = await rig.say("/subscribe")
    assert menu.text == "<b>New subscription</b> · Which chain?"
    await rig.press(button(menu, "Test chain"), message=menu)
    presets = api.edits[-1]
    assert "What should I watch?" in presets.text
    await rig.press(button(presets, "Funds received"), message=menu)
    assert "Parameter 1/4: <b>address</b>" in api.edits[-1].text
    # Typed answers edit the flow's own message: no new message at all.
    assert await rig.say("cosmos1notanaddress", expect=0) == []
    bad = api.edits[-1]
    assert bad.params["message_id"] == menu.params["message_id"]
    assert "not a valid bech32 address" in bad.text and "Try again, or go back." in bad.text
    assert "Parameter 1/4: <b>address</b>" in bad.text

    await rig.restart()  # a new Application over the same store, mid-flow

    assert await rig.say(f"\u200f{BOB}\u200b", expect=0) == []
    assert "Parameter 2/4: <b>min_amount</b> (optional)" in api.edits[-1].text
    assert await rig.say("2.5", expect=0) == []
    denom = api.edits[-1]
    assert "Parameter 3/4: <b>denom</b>" in denom.text
    await rig.press(button(denom, "Skip"), message=menu)
    fees = api.edits[-1]
    assert "Parameter 4/4: <b>include_fees</b>" in fees.text
    await rig.press(button(fees, "false"), message=menu)
    naming = api.edits[-1]
    assert "Name it" in naming.text
    assert await rig.say("Bob's income 💰", expect=0) == []
    confirm = api.edits[-1]
    assert confirm.params["message_id"] == menu.params["message_id"]
    assert confirm.text.startswith("Create <b>Bob&#x27;s income 💰</b> on Test chain?")
    # The minimum in its unit, not in base units or as a bare number.
    assert f"address = <code>{BOB}</code>" in confirm.text and "at least <code>2.5 ATOM</code>" in confirm.text
    assert [label for label, _ in buttons(confirm)] == ["✅ Create", "\u2039 Back", "✖ Cancel"]
    assert list(rig.env.repos.subscriptions.scan()) == []
    await rig.press(button(confirm, "Create"), message=confirm)
    assert "✅ Subscribed: <b>Bob&#x27;s income 💰</b> on Test chain." in api.edits[-1].text
    [sub] = rig.env.repos.subscriptions.scan()
    assert sub.preset == "funds_received"
    assert sub.params == {"address": BOB, "min_amount": "2.5", "include_fees": "false"}
    assert sub.post_filter is not None and sub.post_filter.min_amount == 2_500_000
    # The flow is over: its buttons are stale now.
    answer = await rig.press(button(confirm, "Create"), message=confirm)
    assert answer["show_alert"] and "no longer active" in answer["text"]
    assert len(list(rig.env.repos.subscriptions.scan())) == 1


async def test_choice_parameters_and_default_name(rig: BotRig, api: FakeTelegramApi) -> None:
    [menu] = await rig.say("/subscribe testchain-1")
    assert "What should I watch?" in menu.text  # the chain was given: straight to the presets
    await rig.press(button(menu, "Governance voting ended"), message=menu)
    await rig.press(button(api.edits[-1], "Skip"), message=menu)  # proposal_id
    await rig.press(button(api.edits[-1], "passed"), message=menu)  # result
    await rig.press(button(api.edits[-1], "Use"), message=menu)  # default name
    await rig.press(button(api.edits[-1], "Create"), message=menu)
    [sub] = rig.env.repos.subscriptions.scan()
    assert sub.name == "Governance voting ended" and sub.params == {"result": "passed"}  # the chain is not repeated


async def test_an_expired_flow_offers_to_continue(rig: BotRig, api: FakeTelegramApi, clock: MovableClock) -> None:
    [menu] = await rig.say("/subscribe testchain-1")
    clock.advance(timedelta(hours=1, minutes=1))
    answer = await rig.press(button(menu, "Funds received"), message=menu)
    assert "expired after an hour" in answer["text"]
    offer = api.edits[-1]
    assert (
        offer.text == "That conversation expired after an hour without an answer. Continue where you were, or cancel."
    )
    assert [label for label, _ in buttons(offer)] == ["Continue where I was", "✖ Cancel"]
    await rig.press(button(offer, "Continue"), message=menu)
    assert "What should I watch?" in api.edits[-1].text  # where it was
    await rig.press(button(api.edits[-1], "Funds received"), message=menu)
    clock.advance(timedelta(hours=2))
    assert await rig.say(BOB, expect=0) == []  # a typed answer to an expired flow: the same offer
    again = api.edits[-1]
    assert (
        again.text.startswith("That conversation expired") and again.params["message_id"] == menu.params["message_id"]
    )
    await rig.press(button(api.edits[-1], "Continue"), message=menu)
    assert "Parameter 1/4: <b>address</b>" in api.edits[-1].text  # the answer was not taken
    assert list(rig.env.repos.subscriptions.scan()) == []


async def test_back_and_cancel_pressed_or_typed(rig: BotRig, api: FakeTelegramApi) -> None:
    [menu] = await rig.say("/subscribe")
    await rig.press(button(menu, "Test chain"), message=menu)
    await rig.press(button(api.edits[-1], "Governance voting ended"), message=menu)
    assert "Parameter 1/2: <b>proposal_id</b>" in api.edits[-1].text
    await rig.press(button(api.edits[-1], "Back"), message=menu)
    assert "What should I watch?" in api.edits[-1].text
    await rig.press(button(api.edits[-1], "Back"), message=menu)
    assert api.edits[-1].text == "<b>New subscription</b> · Which chain?"
    await rig.press(button(api.edits[-1], "Test chain"), message=menu)
    await rig.press(button(api.edits[-1], "Governance voting ended"), message=menu)
    await rig.press(button(api.edits[-1], "Skip"), message=menu)
    await rig.press(button(api.edits[-1], "passed"), message=menu)
    assert "Name it" in api.edits[-1].text
    # Typed "back" is understood, never taken as a name.
    assert await rig.say("Back", expect=0) == []
    assert "Parameter 2/2: <b>result</b>" in api.edits[-1].text
    await rig.press(button(api.edits[-1], "passed"), message=menu)
    assert await rig.say("  CANCEL ", expect=0) == []
    assert api.edits[-1].text == "Cancelled. Nothing was created." and buttons(api.edits[-1]) == []
    assert list(rig.env.repos.subscriptions.scan()) == []


@pytest.mark.parametrize(
    ("denom", "amount", "shown"),
    [(None, "1.5", "1.5 ATOM"), ("uatom", "1500000", "1.5 ATOM"), ("ATOM", "0.000001", "0.000001 ATOM")],
)
async def test_the_confirm_step_shows_the_minimum_in_its_unit(
    rig: BotRig, api: FakeTelegramApi, denom: str | None, amount: str, shown: str
) -> None:
    [menu] = await rig.say("/subscribe testchain-1")
    await rig.press(button(menu, "Funds received"), message=menu)
    await rig.say(BOB, expect=0)
    await rig.say(amount, expect=0)
    if denom is None:
        await rig.press(button(api.edits[-1], "Skip"), message=menu)
    else:
        await rig.say(denom, expect=0)
    await rig.press(button(api.edits[-1], "false"), message=menu)
    await rig.press(button(api.edits[-1], "Use"), message=menu)
    confirm = api.edits[-1].text
    assert confirm.startswith("Create <b>Funds received · cosmos1xv9t…xxe5</b> on Test chain?")
    assert f"at least <code>{shown}</code>" in confirm and "min_amount" not in confirm


async def test_a_new_flow_makes_old_buttons_stale_and_cancel_works(rig: BotRig, api: FakeTelegramApi) -> None:
    [old] = await rig.say("/subscribe")
    [new] = await rig.say("/subscribe")
    answer = await rig.press(button(old, "Test chain"), message=old)
    assert "no longer active" in answer["text"]
    await rig.press(button(new, "Cancel"), message=new)
    assert api.edits[-1].text == "Cancelled. Nothing was created."
    [reply] = await rig.say("/cancel")
    assert reply.text == "Nothing to cancel."
    [reply] = await rig.say("hello there")
    assert "I understand commands" in reply.text


async def test_watch_asks_which_chain_when_prefixes_collide(tmp_path: Path, api: FakeTelegramApi) -> None:
    from core.config import ChainConfig, Denom
    from tests.apikit import make_config

    config = make_config()
    config.chains.append(
        ChainConfig(
            id="cosmos-test", name="Cosmos testnet", rpc=["http://127.0.0.1:9"], bech32_prefix="cosmos",
            denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
        )
    )  # fmt: skip
    rig = BotRig(tmp_path, api, config=config)
    await rig.door.start()
    try:
        [question] = await rig.say(f"/watch {BOB}")
        assert "is valid on several chains. Which one?" in question.text
        await rig.press(button(question, "Cosmos testnet"), message=question)
        assert "✅ Subscribed" in api.edits[-1].text and "Cosmos testnet" in api.edits[-1].text
        [sub] = rig.env.repos.subscriptions.scan()
        assert sub.chain_id == "cosmos-test"
    finally:
        await rig.door.stop()
        rig.close()


async def test_the_cancel_command_closes_the_flow_message(rig: BotRig, api: FakeTelegramApi) -> None:
    [menu] = await rig.say("/subscribe testchain-1")
    [reply] = await rig.say("/cancel")
    assert reply.text == "Cancelled."
    closed = api.edits[-1]
    assert closed.params["message_id"] == menu.params["message_id"]
    assert closed.text == "Cancelled." and buttons(closed) == []


async def test_typed_answers_are_deleted_and_a_refused_delete_is_ignored(rig: BotRig, api: FakeTelegramApi) -> None:
    [menu] = await rig.say("/subscribe")
    await rig.press(button(menu, "Test chain"), message=menu)
    await rig.press(button(api.edits[-1], "Funds received"), message=menu)
    assert await rig.say("cosmos1notanaddress", expect=0) == []  # wrong, still removed: the flow says why
    assert await rig.say(BOB, expect=0) == []
    assert "Parameter 2/4" in api.edits[-1].text
    assert api.deleted == rig.said[1:]
    # Telegram refuses the delete (too old, already gone): nothing is said, the flow goes on.
    api.fail_next("deleteMessage", status=400, description="Bad Request: message can't be deleted")
    assert await rig.say("2.5", expect=0) == []
    assert "Parameter 3/4: <b>denom</b>" in api.edits[-1].text
    assert [m for m, _ in api.calls].count("deleteMessage") == 3 and len(api.deleted) == 2
    assert await rig.say("back", expect=0) == []  # a typed "back" is an answer too
    assert "Parameter 2/4" in api.edits[-1].text
    assert api.deleted[-1] == rig.said[-1]
    # Outside a flow a message is not an answer: it stays.
    await rig.say("  CANCEL ", expect=0)
    [hint] = await rig.say("hello")
    assert "I understand commands" in hint.text and api.deleted[-1] == rig.said[-2]

"""The guided /subscribe flow: buttons, typed parameters, a restart in the middle, expiry, stale buttons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.apikit import BOB, MovableClock
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, button, running_rig


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
    [bad] = await rig.say("cosmos1notanaddress")
    assert "not a valid bech32 address" in bad.text and "Try again, or /cancel." in bad.text

    await rig.restart()  # a new Application over the same store, mid-flow

    [amount] = await rig.say(f"\u200f{BOB}\u200b")
    assert "Parameter 2/4: <b>min_amount</b> (optional)" in amount.text
    [denom] = await rig.say("2.5")
    assert "Parameter 3/4: <b>denom</b>" in denom.text
    await rig.press(button(denom, "Skip"), message=denom)
    fees = api.edits[-1]
    assert "Parameter 4/4: <b>include_fees</b>" in fees.text
    await rig.press(button(fees, "false"), message=denom)
    naming = api.edits[-1]
    assert "Name it" in naming.text
    [confirm] = await rig.say("Bob's income 💰")
    assert confirm.text.startswith("Create <b>Bob&#x27;s income 💰</b> on Test chain?")
    assert f"address = <code>{BOB}</code>" in confirm.text and "min_amount = <code>2.5</code>" in confirm.text
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
    assert sub.name == "Governance voting ended on Test chain" and sub.params == {"result": "passed"}


async def test_expired_flow_says_so_plainly(rig: BotRig, api: FakeTelegramApi, clock: MovableClock) -> None:
    [menu] = await rig.say("/subscribe testchain-1")
    clock.advance(timedelta(hours=1, minutes=1))
    answer = await rig.press(button(menu, "Funds received"), message=menu)
    assert "expired after an hour" in answer["text"]
    assert "expired after an hour" in api.edits[-1].text
    [menu] = await rig.say("/subscribe testchain-1")
    await rig.press(button(menu, "Funds received"), message=menu)
    clock.advance(timedelta(hours=2))
    [reply] = await rig.say(BOB)
    assert "expired after an hour" in reply.text
    assert list(rig.env.repos.subscriptions.scan()) == []


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

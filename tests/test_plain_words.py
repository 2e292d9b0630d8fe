"""Errors in the user's words (issue #15, "Plain words"), through the real bots and as units.

A person in a chat never typed `min_amount` or `chain_id`, so the bots name a parameter in
words; pasting an Ethereum address, a transaction hash or a validator operator address gets a
hint that says what was pasted; and Telegram's HTML replies show code as <code>, never as "`".
The API keeps field names (its readers send those fields).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.errors import in_words
from bot.telegram.format import error_text, html_text, param_prompt
from core.errors import ValidationError
from core.query.addresses import ETHEREUM_HINT, TX_HASH_HINT, mistake_hint, validate_address
from core.query.presets import get_preset
from tests.apikit import BOB
from tests.fakes.discord_bot import DiscordBotWorld
from tests.telegram_kit import BotRig
from tests.test_discord_commands import ALICE, IN_SERVER

ETH = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 (mixed case) Ethereum address
TX = "A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90"
VALOPER = "cosmosvaloper17xpfvakm2amg962yls6f84z3kell8c5l4dh48w"  # the fee collector, as an operator


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[DiscordBotWorld]:
    async with DiscordBotWorld(tmp_path) as w:
        yield w


# -- through the Telegram bot ---------------------------------------------------------------------
async def test_telegram_says_an_ethereum_address_is_one(rig: BotRig) -> None:
    [reply] = await rig.say(f"/watch {ETH}")
    assert reply.text == (
        "❌ That looks like an Ethereum address; Mempools watches Cosmos chains: use a bech32 address such as cosmos1…."
    )
    assert list(rig.env.repos.subscriptions.scan()) == []


async def test_telegram_says_a_transaction_hash_is_one(rig: BotRig) -> None:
    [reply] = await rig.say(f"/watch {TX}")
    assert reply.text == "❌ That looks like a transaction hash, not an address; an address looks like cosmos1…."


async def test_telegram_names_the_address_in_words(rig: BotRig) -> None:
    [reply] = await rig.say("/watch cosmos1notanaddress")
    assert reply.text == (
        "❌ The address: &#x27;cosmos1notanaddress&#x27; is not a valid bech32 address (bad characters or checksum)."
    )
    assert "Address:" not in reply.text


def test_telegram_shows_code_spans_of_core_errors_as_code_tags() -> None:
    with pytest.raises(ValidationError) as caught:
        get_preset("validator_jailed").validate({"validator": VALOPER})
    text = error_text(caught.value)
    assert "`" not in text
    assert "<code>&lt;binary&gt; tendermint show-address</code>" in text
    assert "<code>query staking validator</code>" in text
    assert text.startswith("❌ The validator: cosmosvaloper1... is an operator address;"), text


def test_telegram_parameter_help_shows_code_tags() -> None:
    [denom_param] = [p for p in get_preset("funds_received").params if p.name == "min_amount"]
    prompt = param_prompt(denom_param, 2, 3)
    assert "`" not in prompt and "(in units of <code>denom</code>)" in prompt


def test_html_text_escapes_before_making_code() -> None:
    assert html_text("run `<b>&x` or `y`") == "run <code>&lt;b&gt;&amp;x</code> or <code>y</code>"
    assert html_text("a lone ` stays") == "a lone ` stays"


# -- through the Discord bot ----------------------------------------------------------------------
async def test_discord_names_the_minimum_amount_in_words(world: DiscordBotWorld) -> None:
    options = {"chain": "devnet-1", "preset": "funds_received", "params": f"address={ALICE},min_amount=lots"}
    reply = await world.discord.slash("subscribe", options, **IN_SERVER)
    assert reply.ephemeral
    assert reply.content == "❌ The minimum amount: a positive decimal number such as 1.5 is required."


async def test_discord_keeps_code_spans_as_markdown(world: DiscordBotWorld) -> None:
    options = {"chain": "devnet-1", "preset": "validator_jailed", "params": f"validator={VALOPER}"}
    reply = await world.discord.slash("subscribe", options, **IN_SERVER)
    assert reply.content.startswith("❌ The validator: cosmosvaloper1... is an operator address;"), reply.content
    assert "`<binary> tendermint show-address`" in reply.content


async def test_discord_says_an_ethereum_address_is_one(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash("watch", {"address": ETH}, **IN_SERVER)
    assert reply.content.startswith("❌ That looks like an Ethereum address; Mempools watches Cosmos chains"), (
        reply.content
    )


# -- units ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "said"),
    [
        ("chain_id: 'x' is not a configured chain", "the chain: 'x' is not a configured chain"),
        ("min_amount: required", "the minimum amount is required"),
        ("code: required, e.g. /link X", "the link code is required, e.g. /link X"),
        ("n: a number from 1 to 20", "the number: a number from 1 to 20"),
        ("some_field: bad", "some field: bad"),
        ("address: that looks like a transaction hash", "that looks like a transaction hash"),
        ("unknown preset 'x'; known: a", "unknown preset 'x'; known: a"),
    ],
)
def test_in_words(message: str, said: str) -> None:
    assert in_words(message) == said


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (ETH, ETHEREUM_HINT),
        (ETH.lower(), ETHEREUM_HINT),
        (TX, TX_HASH_HINT),
        ("0x" + TX.lower(), TX_HASH_HINT),
        (BOB, None),
        ("0x1234", None),
    ],
)
def test_mistake_hint(text: str, hint: str | None) -> None:
    assert mistake_hint(text) == hint


def test_an_operator_address_where_an_account_is_expected_says_so() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_address(VALOPER, prefix="cosmos")
    assert str(caught.value) == (
        "address: that is a validator operator address (cosmosvaloper1…); use an account address (cosmos1…)"
    )


def test_the_api_keeps_the_field_name() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_address(ETH, field="params.address")
    assert str(caught.value) == f"params.address: {ETHEREUM_HINT}"

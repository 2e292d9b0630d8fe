"""/validator and /voter on Telegram, through the real Application and the fake Bot API: one step
to a validator or voter watch with the presets' defaults, the answer a user reads, /list's line,
and every way the input can be wrong (nothing is created then)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import msgspec
import pytest

from core.config import ChainConfig
from core.dispatch.render import short_address
from core.models import Subscription
from core.monitor.models import DEFAULT_REMIND_BEFORE, DEFAULT_WINDOW_THRESHOLDS, ValidatorWatch, VoterWatch
from tests.apikit import BOB, CHAIN, make_config
from tests.fakes.telegram_api import FakeTelegramApi
from tests.monitorkit import bech
from tests.telegram_kit import BotRig, button, running_rig
from tests.validator_chain import HOSTILE, NODEFLUX, VALIDATORS_PATH, DirectoryChain, consensus_of

OPERATOR = NODEFLUX.operator_address
UNKNOWN_OPERATOR = bech("cosmosvaloper", "EE" * 20)


@pytest.fixture
def chain() -> DirectoryChain:
    return DirectoryChain()


@pytest.fixture
async def chat(tmp_path: Path, api: FakeTelegramApi, chain: DirectoryChain) -> AsyncIterator[BotRig]:
    """A bot whose Test chain answers x/staking queries (the other chain has no REST endpoint)."""
    async with running_rig(tmp_path, api, chain_queries=lambda c: chain if c == CHAIN else None) as r:
        yield r


def stored(rig: BotRig) -> list[Subscription]:
    return list(rig.env.repos.subscriptions.scan())


async def test_validator_in_one_step_says_what_will_be_told(chat: BotRig) -> None:
    [reply] = await chat.say(f"/validator {OPERATOR}")
    [sub] = stored(chat)
    assert reply.text.startswith(
        f"✅ Watching: 🛡 <b>Validator Nodeflux</b> on Test chain (<code>{OPERATOR}</code>).\nYou will be told here:\n"
    )
    assert "• missed blocks: once when it crosses 0.5, 1, 5, 10, 25, 50, 75, 90% of the slashing window" in reply.text
    assert "• 5 blocks missed in a row, and when it signs again" in reply.text
    assert "• the chain stalled: no new block for 10 min" in reply.text
    assert "Good news (recovered, signing again, unjailed, back in the set)" in reply.text
    assert "arrive silently; trouble rings." in reply.text
    assert (
        f"Id <code>{sub.id}</code>. /list pauses, silences or renames it; /unsubscribe {sub.id} removes it."
        in reply.text
    )
    assert "Other thresholds, streak, stall minutes: /subscribe with the validator preset." in reply.text
    assert sub.preset == "validator" and sub.queries == [] and sub.params == {"validator": OPERATOR}
    assert sub.monitor == ValidatorWatch(
        operator=OPERATOR,
        consensus=consensus_of(NODEFLUX),
        consensus_hex=NODEFLUX.consensus_hex,
        moniker="Nodeflux",
    )
    assert sub.monitor.window_thresholds == DEFAULT_WINDOW_THRESHOLDS

    # The same validator by its consensus address is the same watch, not a second one.
    [again] = await chat.say(f"/validator {consensus_of(NODEFLUX)}")
    assert again.text.startswith("Already watching: 🛡 <b>Validator Nodeflux</b>")
    assert len(stored(chat)) == 1

    [listing] = await chat.say("/list")
    assert (
        f"▶️ 🛡 <b>Validator Nodeflux</b> ({short_address(OPERATOR)}) on Test chain: "
        "missed blocks 0.5…90% of window, 5 in a row, stall 10 min"
    ) in listing.text


async def test_a_paused_validator_watch_is_resumed_not_duplicated(chat: BotRig) -> None:
    await chat.say(f"/validator {OPERATOR}")
    [sub] = stored(chat)
    await chat.say(f"/pause {sub.id}")
    [again] = await chat.say(f"/validator {OPERATOR}")
    assert again.text.startswith("Already watching")
    [after] = stored(chat)
    assert after.id == sub.id and after.enabled


async def test_voter_in_one_step_with_the_address_book_label(chat: BotRig) -> None:
    [reply] = await chat.say(f"/voter {BOB}")
    [sub] = stored(chat)
    assert reply.text.startswith(
        f"✅ Watching: 🗳 <b>Voter cosmos1xv9t…xxe5</b> on Test chain (<code>{BOB}</code>).\nYou will be told here:\n"
    )
    assert "• each new proposal, with its link" in reply.text
    assert "• reminders 24 h and 1 h before voting ends while it has not voted" in reply.text
    assert "Governance news (new proposals, votes, results) arrives silently; only the reminders ring." in reply.text
    assert sub.preset == "voter" and sub.monitor == VoterWatch(voter=BOB, remind_before=DEFAULT_REMIND_BEFORE)
    [again] = await chat.say(f"/voter {BOB.upper()}")
    assert again.text.startswith("Already watching") and len(stored(chat)) == 1
    [listing] = await chat.say("/list")
    assert "▶️ 🗳 <b>Voter cosmos1xv9t…xxe5</b> (cosmos1xv9t…xxe5) on Test chain: reminders 24 h, 1 h" in listing.text

    await chat.say(f"/unsubscribe {sub.id}")
    await chat.say(f"/alias {BOB} Treasury")
    [labelled] = await chat.say(f"/voter {BOB}")
    assert "🗳 <b>Voter Treasury</b> on Test chain" in labelled.text


async def test_a_hostile_moniker_is_escaped_and_cleaned(chat: BotRig) -> None:
    [reply] = await chat.say(f"/validator {HOSTILE.operator_address}")
    [sub] = stored(chat)
    assert sub.name == "Validator <b>@everyone</b>**Evil**"  # invisible and bidi characters dropped
    assert "<b>Validator &lt;b&gt;@everyone&lt;/b&gt;**Evil**</b>" in reply.text


async def test_usage_help_and_menu(chat: BotRig, api: FakeTelegramApi) -> None:
    [usage] = await chat.say("/validator")
    assert usage.text.startswith("Usage: /validator &lt;operator or consensus address&gt; [chain id]")
    [usage] = await chat.say("/voter")
    assert usage.text.startswith("Usage: /voter &lt;account address&gt; [chain id]")
    [help_] = await chat.say("/help")
    assert "/validator — Watch a validator" in help_.text and "/voter — Proposals and reminders" in help_.text
    assert {"validator", "voter"} <= {c["command"] for c in api.commands}
    assert stored(chat) == []


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/validator cosmosvaloper1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu", "not a valid bech32 address"),
        (
            f"/validator {BOB}",
            "cosmos1xv9t…xxe5 is an account address; /validator takes the validator's operator address "
            "(cosmosvaloper1…) or its consensus address (cosmosvalcons1…). An account's votes: /voter",
        ),
        (
            f"/voter {OPERATOR}",
            "is a validator's operator address; a voter watch takes the account that votes (cosmos1…): "
            f"this validator votes from its account {bech('cosmos', f'{0xA1:040X}')}",
        ),
        (f"/voter {consensus_of(NODEFLUX)}", "is a validator's consensus address"),
        (f"/validator {bech('junovaloper', 'AB' * 20)}", "junovaloper1… is a Juno address; this service watches"),
        (f"/voter {bech('juno', 'AB' * 20)}", "juno1… is a Juno address; this service watches"),
        (f"/validator {OPERATOR} otherchain-2", "Other chain validators have addresses starting with osmovaloper1"),
        (
            f"/validator {UNKNOWN_OPERATOR}",
            f"Test chain has no validator {UNKNOWN_OPERATOR} (check the address on an explorer",
        ),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_created(chat: BotRig, command: str, expected: str) -> None:
    [reply] = await chat.say(command)
    assert expected in unescape(reply.text), reply.text
    assert stored(chat) == []


async def test_an_unknown_consensus_address_is_refused(chat: BotRig) -> None:
    [reply] = await chat.say(f"/validator {bech('cosmosvalcons', 'EE' * 20)}")
    assert "Test chain has no validator cosmosvalcons1" in reply.text
    assert stored(chat) == []


async def test_the_chain_failing_names_the_query_and_creates_nothing(chat: BotRig, chain: DirectoryChain) -> None:
    chain.failing.add(VALIDATORS_PATH)
    [reply] = await chat.say(f"/validator {OPERATOR}")
    # The query that failed is named (its wording is the REST client's: core/chain/errors.py).
    assert "cannot look the validator up on Test chain:" in reply.text and "HTTP 500" in reply.text
    assert f"{VALIDATORS_PATH}/{OPERATOR}" in reply.text
    [reply] = await chat.say(f"/validator {consensus_of(NODEFLUX)}")
    assert f"cannot look the validator up on Test chain: {VALIDATORS_PATH}" in reply.text.replace("query ", "")
    assert stored(chat) == []
    assert chat.env.repos.identities.find("telegram", "42") is None  # not even an account


async def test_without_rest_a_consensus_address_works_and_an_operator_address_is_refused(rig: BotRig) -> None:
    """The default rig's chains have no REST endpoint."""
    [refused] = await rig.say(f"/validator {OPERATOR}")
    assert "no REST endpoint configured" in refused.text and "give the consensus address" in refused.text
    assert stored(rig) == []
    valcons = consensus_of(NODEFLUX)
    [reply] = await rig.say(f"/validator {valcons}")
    [sub] = stored(rig)
    assert reply.text.startswith("✅ Watching: 🛡 <b>Validator cosmosvalcons1")
    assert isinstance(sub.monitor, ValidatorWatch)
    assert sub.monitor.consensus_hex == NODEFLUX.consensus_hex and sub.monitor.operator == ""
    [listing] = await rig.say("/list")
    assert "(cosmosvalcons1" in listing.text and "missed blocks 0.5…90% of window" in listing.text


async def test_several_chains_with_the_prefix_ask_which(tmp_path: Path, api: FakeTelegramApi) -> None:
    config = make_config()
    twin = ChainConfig(id="twin-3", name="Twin chain", rpc=["http://127.0.0.1:9"], bech32_prefix="cosmos")
    config = msgspec.structs.replace(config, chains=[*config.chains, twin])
    chain = DirectoryChain()
    async with running_rig(tmp_path, api, config=config, chain_queries=lambda _c: chain) as rig:
        [asked] = await rig.say(f"/voter {BOB}")
        assert "is valid on several chains: Test chain (<code>testchain-1</code>), Twin chain" in asked.text
        assert f"<code>/voter {BOB} testchain-1</code>" in asked.text
        assert stored(rig) == []
        [reply] = await rig.say(f"/validator {OPERATOR} twin-3")
        assert "on Twin chain" in reply.text
        assert [s.chain_id for s in stored(rig)] == ["twin-3"]


async def test_the_card_of_a_watch_says_what_it_watches(chat: BotRig, api: FakeTelegramApi) -> None:
    await chat.say(f"/validator {OPERATOR}")
    [listing] = await chat.say("/list")
    await chat.press(button(listing, "Validator Nodeflux"), message=listing)
    assert api.edits[-1].text == (
        "<b>Validator Nodeflux</b> on Test chain — ▶️ active\n"
        "🛡 Validator health: missed blocks 0.5…90% of window, 5 in a row, stall 10 min\n"
        f"validator = <code>{OPERATOR}</code>\nnever fired yet"
    )

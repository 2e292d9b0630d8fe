"""`/mempools validator` and `/mempools voter`, through the real discord.py client and a local
Discord: one step to a validator or voter watch with the presets' defaults, the answer a user
reads, the list's line, and every way the input can be wrong (nothing is created then)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.config import ChainConfig
from core.dispatch.render import short_address
from core.monitor.models import DEFAULT_REMIND_BEFORE, ValidatorWatch, VoterWatch
from tests.fakes.discord_bot import DEVNET, MANAGER, MEMBER, DiscordBotWorld
from tests.fakes.discord_gateway import SELECT
from tests.monitorkit import bech
from tests.validator_chain import HOSTILE, NODEFLUX, VALIDATORS_PATH, DirectoryChain, consensus_of

GUILD = 4242
CHANNEL = 600
IN_SERVER = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 701, "permissions": MANAGER}
AS_MEMBER = {"guild_id": GUILD, "channel_id": CHANNEL, "user_id": 702, "permissions": MEMBER}
IN_DM = {"channel_id": 900, "user_id": 703}
OPERATOR = NODEFLUX.operator_address
VOTER = bech("cosmos", "5A" * 20)


@pytest.fixture
def chain() -> DirectoryChain:
    return DirectoryChain()


@pytest.fixture
async def world(tmp_path: Path, chain: DirectoryChain) -> AsyncIterator[DiscordBotWorld]:
    """Devnet answers x/staking queries; the Osmo chain has no REST endpoint."""
    async with DiscordBotWorld(tmp_path, chain_queries=lambda c: chain if c == DEVNET.id else None) as w:
        yield w


async def test_validator_in_a_server_channel(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash("validator", {"address": OPERATOR}, **IN_SERVER)
    assert not reply.ephemeral  # the channel sees what will be posted to it
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    lines = reply.content.splitlines()
    assert lines[0] == f"✅ Watching 🛡 **Validator Nodeflux** on Devnet (`{OPERATOR}`). Posted to <#{CHANNEL}>:"
    assert lines[1].startswith("• missed blocks: once when it crosses 0.5, 1, 5, 10, 25, 50, 75, 90% of the slashing")
    assert "• 5 blocks missed in a row, and when it signs again" in lines
    assert "• the chain stalled: no new block for 10 min" in lines
    assert "arrive silently; trouble rings." in reply.content
    assert f"Subscription `{sub.id}` · `/mempools list` pauses it, `/mempools unsubscribe` removes it" in reply.content
    assert sub.preset == "validator" and sub.params == {"validator": OPERATOR}
    assert sub.monitor == ValidatorWatch(
        operator=OPERATOR, consensus=consensus_of(NODEFLUX), consensus_hex=NODEFLUX.consensus_hex, moniker="Nodeflux"
    )
    again = await world.discord.slash("validator", {"address": consensus_of(NODEFLUX)}, **IN_SERVER)
    assert again.ephemeral and again.content.startswith("Already watching 🛡 **Validator Nodeflux**")
    assert sub.id in again.content and len(world.subscriptions_of(f"guild:{GUILD}")) == 1

    listed = await world.discord.slash("list", {}, **AS_MEMBER)
    description = listed.embeds[0]["description"]
    assert (
        f"`{sub.id}` 🛡 **Validator Nodeflux** ({short_address(OPERATOR)}): "
        "missed blocks 0.5…90% of window, 5 in a row, stall 10 min · Devnet · active"
    ) in description


async def test_voter_in_a_dm(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash("voter", {"address": VOTER}, **IN_DM)
    assert reply.ephemeral
    [sub] = world.subscriptions_of("703")
    assert reply.content.startswith(
        f"✅ Watching 🗳 **Voter {short_address(VOTER)}** on Devnet (`{VOTER}`). Posted to your DMs:"
    )
    assert "• reminders 24 h and 1 h before voting ends while it has not voted" in reply.content
    assert "Governance news (new proposals, votes, results) arrives silently; only the reminders ring." in reply.content
    assert sub.monitor == VoterWatch(voter=VOTER, remind_before=DEFAULT_REMIND_BEFORE)
    listed = await world.discord.slash("list", {}, **IN_DM)
    assert (
        f"🗳 **Voter {short_address(VOTER)}** ({short_address(VOTER)}): reminders 24 h, 1 h · Devnet"
        in (listed.embeds[0]["description"])
    )


async def test_commands_are_registered_with_chain_autocomplete(world: DiscordBotWorld) -> None:
    command = world.discord.synced["global"][0]
    options = {o["name"]: o for o in command["options"]}
    for name in ("validator", "voter"):
        assert [o["name"] for o in options[name]["options"]] == ["address", "chain"]
        assert options[name]["options"][1]["autocomplete"] is True


async def test_a_hostile_moniker_cannot_ping_or_format(world: DiscordBotWorld) -> None:
    reply = await world.discord.slash("validator", {"address": HOSTILE.operator_address}, **IN_SERVER)
    [sub] = world.subscriptions_of(f"guild:{GUILD}")
    assert sub.name == "Validator <b>@everyone</b>**Evil**"
    assert "@everyone" not in reply.content.replace("@\u200beveryone", "")  # escaped mention
    assert "\\*\\*Evil\\*\\*" in reply.content


async def test_a_member_without_manage_server_is_refused(world: DiscordBotWorld) -> None:
    for name, address in (("validator", OPERATOR), ("voter", VOTER)):
        reply = await world.discord.slash(name, {"address": address}, **AS_MEMBER)
        assert reply.ephemeral and "Manage Server" in reply.content
    assert world.subscriptions_of(f"guild:{GUILD}") == []


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    [
        ("validator", {"address": "cosmosvaloper1notanaddress"}, "not a valid bech32 address"),
        ("validator", {"address": VOTER}, "is an account address; `/mempools validator` takes the validator's"),
        ("voter", {"address": OPERATOR}, "is a validator's operator address; a voter watch takes the account"),
        ("voter", {"address": consensus_of(NODEFLUX)}, "is a validator's consensus address"),
        ("validator", {"address": bech("junovaloper", "AB" * 20)}, "junovaloper1… is a Juno address"),
        ("voter", {"address": bech("juno", "AB" * 20)}, "juno1… is a Juno address"),
        ("validator", {"address": OPERATOR, "chain": "osmo-test"}, "Osmo Test validators have addresses starting"),
        ("voter", {"address": VOTER, "chain": "nochain-9"}, "not a configured chain"),
        ("validator", {"address": bech("cosmosvaloper", "EE" * 20)}, "Devnet has no validator cosmosvaloper1"),
        ("validator", {"address": bech("cosmosvalcons", "EE" * 20)}, "Devnet has no validator cosmosvalcons1"),
        ("validator", {"address": "   "}, "❌"),
    ],
)
async def test_bad_input_is_a_clear_ephemeral_error(
    world: DiscordBotWorld, command: str, options: dict[str, str], expected: str
) -> None:
    reply = await world.discord.slash(command, options, **IN_SERVER)
    assert reply.ephemeral and expected in reply.content, reply.content
    assert world.subscriptions_of(f"guild:{GUILD}") == []


async def test_the_chain_failing_names_the_query_and_creates_nothing(
    world: DiscordBotWorld, chain: DirectoryChain
) -> None:
    chain.failing.add(VALIDATORS_PATH)
    reply = await world.discord.slash("validator", {"address": OPERATOR}, **IN_SERVER)
    assert reply.ephemeral, reply.content
    assert "cannot look the validator up on Devnet:" in reply.content and "HTTP 500" in reply.content
    assert f"{VALIDATORS_PATH}/{OPERATOR}" in reply.content
    assert world.subscriptions_of(f"guild:{GUILD}") == [] and world.account_of(f"guild:{GUILD}") is None


async def test_without_rest_only_a_consensus_address_works(tmp_path: Path) -> None:
    osmo_valoper = bech("osmovaloper", "AB" * 20)
    osmo_valcons = bech("osmovalcons", "CD" * 20)
    async with DiscordBotWorld(tmp_path) as world:
        refused = await world.discord.slash("validator", {"address": osmo_valoper}, **IN_DM)
        assert "no REST endpoint configured" in refused.content and "give the consensus address" in refused.content
        assert world.subscriptions_of("703") == []
        reply = await world.discord.slash("validator", {"address": osmo_valcons}, **IN_DM)
        assert reply.content.startswith(f"✅ Watching 🛡 **Validator {short_address(osmo_valcons)}** on Osmo Test")
        [sub] = world.subscriptions_of("703")
        assert isinstance(sub.monitor, ValidatorWatch) and sub.monitor.consensus_hex == "CD" * 20


async def test_several_chains_with_the_prefix_ask_for_the_chain(tmp_path: Path, chain: DirectoryChain) -> None:
    twin = ChainConfig(id="devnet-2", name="Devnet Two", rpc=["http://127.0.0.1:9"], bech32_prefix="cosmos")
    queries = {DEVNET.id: chain, twin.id: chain}
    async with DiscordBotWorld(tmp_path, chains=[DEVNET, twin], chain_queries=queries.get) as world:
        asked = await world.discord.slash("validator", {"address": OPERATOR}, **IN_DM)
        assert asked.ephemeral and "valid on several chains; give the `chain` option (`devnet-1`, `devnet-2`)" in (
            asked.content
        )
        assert world.subscriptions_of("703") == []
        reply = await world.discord.slash("validator", {"address": OPERATOR, "chain": "devnet-2"}, **IN_DM)
        assert "on Devnet Two" in reply.content
        assert [s.chain_id for s in world.subscriptions_of("703")] == ["devnet-2"]


async def test_the_opened_watch_says_what_it_tells(world: DiscordBotWorld) -> None:
    await world.discord.slash("voter", {"address": VOTER}, **IN_DM)
    [sub] = world.subscriptions_of("703")
    listing = await world.discord.slash("list", {}, **IN_DM)
    menu = listing.select()
    opened = await world.discord.send_interaction(
        world.discord.component(
            listing.as_message(IN_DM["channel_id"]), menu["custom_id"], values=[sub.id], component_type=SELECT, **IN_DM
        )
    )
    description = opened.embeds[0]["description"]
    assert "preset `voter`\n• each new proposal, with its link\n• reminders 24 h and 1 h before voting ends" in (
        description
    )

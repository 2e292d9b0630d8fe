"""Issue #14, presets: exact amounts, the CLI built for a configured chain exactly as the API builds
it, operator addresses refused where a consensus address is needed, fees left out of the funds
presets, and subscriptions that would deliver nowhere refused.

The API runs on a real loopback port over a real RocksDB store; the CLI runs in-process through
its entry point (and once as a real process); fees are checked on a recorded Osmosis mainnet block.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import msgspec
import pytest

from bot.actions import ChatActions, ChatContext
from core.chain.decoder import BlockDecoder
from core.errors import ValidationError
from core.models import Chain, Denom
from core.query import SubscriptionIndex
from core.query.presets import get_preset, resolve_min_amount
from core.services.deliveries import DeliveryService
from mempools.cli import main
from tests.apikit import ALICE, BOB, CHAIN, Env, assert_problem, signup
from tests.loopback_api import serve_api
from tests.processes import write_devnet_config

ROOT = Path(__file__).resolve().parent.parent
OSMOSIS_BLOCK = (
    Path(__file__).parent / "fixtures/cometbft/tendermint-rs/osmosis_fixtures/block_results_at_height_10499831.json"
)
VALOPER = "cosmosvaloper1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc56kct20"  # ALICE's key as an operator address
VALCONS = "cosmosvalcons1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5w9thxw"
HUB = Chain(
    id="cosmoshub-4", name="Hub", bech32_prefix="cosmos", denoms=(Denom(base="uatom", display="ATOM", exponent=6),)
)
INJ = Chain(id="injective-1", name="Inj", bech32_prefix="inj", denoms=(Denom(base="inj", display="INJ", exponent=18),))


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
async def api(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_api(env.app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


# -- 4. amounts are exact ---------------------------------------------------------------------------
def test_amounts_are_exact_decimals_never_rounded() -> None:
    assert resolve_min_amount("1.5", "ATOM", HUB) == ("uatom", 1_500_000)
    assert resolve_min_amount("0.000001", "ATOM", HUB) == ("uatom", 1)
    # 18 decimals, beyond a float's 15-17 digits and a default Decimal context's 28
    assert resolve_min_amount("12345678901.000000000000000001", "INJ", INJ) == ("inj", 12345678901000000000000000001)
    with pytest.raises(ValidationError, match=r"1\.0000001 ATOM is finer than its smallest unit: ATOM has at most 6"):
        resolve_min_amount("1.0000001", "ATOM", HUB)
    with pytest.raises(ValidationError, match="uatom has no decimals"):
        resolve_min_amount("1.5", "uatom", HUB)


def test_cli_without_a_chain_refuses_a_display_amount_it_cannot_scale() -> None:
    code, out, err = cli("query", "preset", "funds_received", f"address={ALICE}", "min_amount=1.5", "denom=ATOM")
    assert code == 2 and out == ""
    assert "1.5 ATOM is finer than its smallest unit" in err and "ATOM is read as a base denom" in err


def test_cli_with_chain_scales_exactly_from_the_default_config() -> None:
    code, out, err = cli(
        "query",
        "preset",
        "funds_received",
        f"address={ALICE}",
        "min_amount=1.5",
        "denom=ATOM",
        "--chain",
        "cosmoshub-4",
    )
    assert (code, err) == (0, "")
    post_filter = msgspec.json.decode(out.splitlines()[-1].removeprefix("post-filter: "))
    assert post_filter["denom"] == "uatom" and post_filter["min_amount"] == 1_500_000
    code, _, err = cli("query", "preset", "funds_received", f"address={ALICE}", "--chain", "nope-1")
    assert code == 2 and "unknown chain 'nope-1'; configured: cosmoshub-4, osmosis-1" in err


CLI_VS_API = [
    ("funds_received", {"address": ALICE, "min_amount": "1.5", "denom": "ATOM"}),
    ("funds_sent", {"address": ALICE, "include_fees": "true"}),
    ("funds_either", {"address": BOB}),
    ("funds_from_to", {"sender": ALICE, "recipient": BOB, "min_amount": "0.000001"}),
    ("delegation_to_validator", {"validator": VALOPER, "min_amount": "2.25"}),
    ("validator_missed_blocks", {"validator": VALCONS, "min_missed": "10"}),
]


async def test_cli_output_equals_what_the_api_builds(tmp_path: Path, env: Env, api: httpx.AsyncClient) -> None:
    config = write_devnet_config(tmp_path / "config.toml", tmp_path / "data", "http://127.0.0.1:9", CHAIN)
    _, h = await signup(api, "alice@example.com")
    r = await api.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=h)
    assert r.status_code == 201, r.text
    for name, params in CLI_VS_API:
        argv = [f"{k}={v}" for k, v in params.items()]
        code, out, err = cli("query", "preset", name, *argv, "--chain", CHAIN, "--config", str(config))
        assert (code, err) == (0, ""), name
        body = {"chain_id": CHAIN, "name": name, "preset": name, "params": params}
        r = await api.post("/v1/subscriptions", json=body, headers=h)
        assert r.status_code == 201, r.text
        sub = r.json()
        expected = sub["queries"] + (
            ["post-filter: " + msgspec.json.encode(sub["post_filter"]).decode()] if sub["post_filter"] else []
        )
        assert out.splitlines() == expected, name


# -- 5. operator addresses where a consensus address is needed ---------------------------------------
def _says_how_to_find_the_consensus_address(text: str) -> None:
    assert "validator: cosmosvaloper1... is an operator address; use the consensus address (cosmosvalcons1...)" in text
    assert "`<binary> tendermint show-address` on the validator" in text
    assert "Mintscan: 'Consensus address'" in text and "consensus pubkey in `query staking validator`" in text


def test_cli_refuses_an_operator_address_even_without_a_chain() -> None:
    for name in ("validator_jailed", "validator_slashed", "validator_missed_blocks"):
        proc = subprocess.run(
            [sys.executable, "-m", "mempools", "query", "preset", name, f"validator={VALOPER}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and proc.stdout == "", name
        _says_how_to_find_the_consensus_address(proc.stderr)
    # the one preset that takes an operator address still does
    assert cli("query", "preset", "delegation_to_validator", f"validator={VALOPER}")[0] == 0


async def test_api_refuses_an_operator_address_with_the_hint(api: httpx.AsyncClient) -> None:
    _, h = await signup(api, "alice@example.com")
    r = await api.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=h)
    assert r.status_code == 201, r.text
    body = {"chain_id": CHAIN, "name": "x", "preset": "validator_missed_blocks", "params": {"validator": VALOPER}}
    problem = assert_problem(await api.post("/v1/subscriptions", json=body, headers=h), 422)
    assert problem["detail"].startswith("validator: ")
    _says_how_to_find_the_consensus_address(problem["detail"])


async def test_bots_refuse_an_operator_address_with_the_hint(env: Env) -> None:
    actions = ChatActions(env.services, send_sample=DeliveryService(env.repos, env.outbox).send_sample)
    chat = ChatContext(platform="telegram", user_id=101, chat_id=101, username="alice")
    with pytest.raises(ValidationError) as refused:
        await actions.subscribe(chat, CHAIN, preset="validator_jailed", params={"validator": VALOPER})
    _says_how_to_find_the_consensus_address(str(refused.value))
    with pytest.raises(ValidationError) as one_param:  # the step-by-step check of one parameter
        actions.check_param(CHAIN, "validator_jailed", "validator", VALOPER)
    _says_how_to_find_the_consensus_address(str(one_param.value))
    assert (await actions.subscribe(chat, CHAIN, preset="validator_jailed", params={"validator": VALCONS})).queries == [
        f"slash.jailed = '{VALCONS}'"
    ]


# -- 6. fees are left out of the funds presets --------------------------------------------------------
OSMO = Chain(
    id="osmosis-1", name="Osmosis", bech32_prefix="osmo", denoms=(Denom(base="uosmo", display="OSMO", exponent=6),)
)
TRADER = "osmo1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"  # tx 0: pays a 500uosmo fee and swaps
FEE_ONLY = "osmo18xrruhq5r246mwk0yj9elnn3mte8xa9ugwga6w"  # tx 2: pays a 7858uosmo fee, moves nothing else


def _notified(name: str, params: dict[str, str]) -> list[int]:
    """The scopes of the recorded block a subscription on this preset is notified for."""
    block = BlockDecoder().decode(OSMOSIS_BLOCK.read_bytes())
    result = get_preset(name).compile(params, OSMO)
    index: SubscriptionIndex[str] = SubscriptionIndex()
    index.add("sub", result.queries, result.post_filter)
    return [i for i, scope in enumerate(block.scopes) if index.match(scope.events_map)]


def test_the_fee_collector_is_derived_for_every_chain() -> None:
    from core.query.addresses import module_address

    assert module_address("fee_collector", "cosmos") == "cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta"
    assert module_address("fee_collector", "osmo") == "osmo17xpfvakm2amg962yls6f84z3kell8c5lczssa0"  # in the block


@pytest.mark.parametrize("name", ["funds_sent", "funds_either"])
def test_a_fee_alone_does_not_notify_unless_asked(name: str) -> None:
    assert _notified(name, {"address": FEE_ONLY}) == []
    assert _notified(name, {"address": FEE_ONLY, "include_fees": "false"}) == []
    assert _notified(name, {"address": FEE_ONLY, "include_fees": "true"}) == [2]
    # a tx with a fee and a real transfer notifies once, for the transfer
    assert _notified(name, {"address": TRADER}) == [0]
    assert _notified(name, {"address": TRADER, "include_fees": "true"}) == [0]


def test_fees_are_not_counted_toward_a_minimum() -> None:
    # the trader's only uosmo in tx 0 is its 500uosmo fee
    assert _notified("funds_sent", {"address": TRADER, "min_amount": "500", "denom": "uosmo"}) == []
    assert _notified(
        "funds_sent", {"address": TRADER, "min_amount": "500", "denom": "uosmo", "include_fees": "true"}
    ) == [0]


def test_the_fee_collector_receives_only_fees() -> None:
    collector = "osmo17xpfvakm2amg962yls6f84z3kell8c5lczssa0"
    assert _notified("funds_received", {"address": collector}) == []
    assert _notified("funds_received", {"address": collector, "include_fees": "true"}) == list(range(8))


# -- 7. a subscription must deliver somewhere ----------------------------------------------------------
async def test_destinations_default_to_the_accounts_enabled_ones(env: Env, api: httpx.AsyncClient) -> None:
    account, h = await signup(api, "alice@example.com")
    body = {"chain_id": CHAIN, "name": "x", "queries": ["tm.event = 'Tx'"]}
    problem = assert_problem(await api.post("/v1/subscriptions", json=body, headers=h), 422)
    assert problem["detail"].startswith("destination_ids: this account has no destinations yet: create one first")
    assert "POST /v1/destinations" in problem["detail"]

    hook = (
        await api.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=h)
    ).json()
    chat = await env.services.destinations.ensure_telegram_chat(account, 42)
    off = await env.services.destinations.ensure_telegram_chat(account, 43)
    r = await api.patch(f"/v1/destinations/{off.id}", json={"enabled": False}, headers=h)
    assert r.status_code == 200, r.text
    r = await api.post("/v1/subscriptions", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert sorted(r.json()["destination_ids"]) == sorted([hook["id"], chat.id])

    problem = assert_problem(await api.post("/v1/subscriptions", json={**body, "destination_ids": []}, headers=h), 422)
    assert "an empty list would deliver nowhere" in problem["detail"]
    sub = r.json()["id"]
    problem = assert_problem(await api.patch(f"/v1/subscriptions/{sub}", json={"destination_ids": []}, headers=h), 422)
    assert "an empty list would deliver nowhere" in problem["detail"]
    r = await api.post("/v1/subscriptions", json={**body, "destination_ids": [chat.id]}, headers=h)
    assert r.status_code == 201 and r.json()["destination_ids"] == [chat.id]


async def test_all_destinations_disabled_is_refused_too(env: Env, api: httpx.AsyncClient) -> None:
    account, h = await signup(api, "alice@example.com")
    off = await env.services.destinations.ensure_telegram_chat(account, 43)
    assert (await api.patch(f"/v1/destinations/{off.id}", json={"enabled": False}, headers=h)).status_code == 200
    body = {"chain_id": CHAIN, "name": "x", "queries": ["tm.event = 'Tx'"]}
    problem = assert_problem(await api.post("/v1/subscriptions", json=body, headers=h), 422)
    assert "none of this account's destinations is enabled" in problem["detail"]

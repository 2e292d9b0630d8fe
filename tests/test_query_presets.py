"""Presets on REAL recorded blocks (Osmosis, Injective, Sei) and their parameter validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chain.blocks import DecodedBlock
from core.chain.decoder import BlockDecoder
from core.errors import ValidationError
from core.models import Chain, Denom
from core.query import SubscriptionIndex, TransferFilter, matches
from core.query.presets import PRESETS, PresetSpec, get_preset

FIX = Path(__file__).parent / "fixtures" / "cometbft" / "tendermint-rs"
DOCS = Path(__file__).parent.parent / "docs" / "QUERIES.md"

OSMOSIS_CHAIN = Chain(
    id="osmosis-1", name="Osmosis", bech32_prefix="osmo", denoms=(Denom(base="uosmo", display="OSMO", exponent=6),)
)
INJECTIVE_CHAIN = Chain(
    id="injective-1", name="Injective", bech32_prefix="inj", denoms=(Denom(base="inj", display="INJ", exponent=18),)
)
SEI_CHAIN = Chain(
    id="pacific-1", name="Sei", bech32_prefix="sei", denoms=(Denom(base="usei", display="SEI", exponent=6),)
)

TRADER = "osmo1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"  # swaps in tx 0
POOL = "osmo1kxnekx4q8yem6wvp5t9ggqvhuxaqw7san00x5qdazp3fe597f8hsqft4nq"  # pool 872 account
FEE_COLLECTOR = "osmo17xpfvakm2amg962yls6f84z3kell8c5lczssa0"
VAULT_OWNER = "osmo1edkgn2pp5ealk9wtc9az5h4cq6pafnafw9wx25"  # paid by the DCA contract in tx 7
IBC_SENDER = "osmo154jgxe5dqaac5ufqyy5u3jup7utahk3gyla4yt"  # only in an IBC acknowledgement (tx 5)
CONTRACT = "osmo1zacxlu90sl6j2zf90uctpddhfmux84ryrw794ywnlcwx2zeh5a4q67qtc9"
VALCONS = "osmovalcons1z4cs8z66426rrmqpra4tzz2yv0rwmxzz2zunuq"  # liveness: 3998 missed blocks
INJ_VALOPER = "injvaloper1h4t5dqenq86znza06thc64pzyxtme7zltyeg8k"  # 49.98 INJ delegated in tx 3
SEI_VOTER = "sei1nurfe690mer9dmy8pp7resdsfx3pya7h9qw39l"  # fee payer of tx 2
COIN_OUT = "ibc/9F9B07EF9AD291167CF5700628145DE1DEB777C2CFC7907553B24446515F6D0E"


@pytest.fixture(scope="module")
def osmosis() -> DecodedBlock:
    return BlockDecoder().decode((FIX / "osmosis_fixtures" / "block_results_at_height_10499831.json").read_bytes())


@pytest.fixture(scope="module")
def injective() -> DecodedBlock:
    return BlockDecoder().decode((FIX / "gaia_fixtures" / "block_results_at_height_4555980.json").read_bytes())


@pytest.fixture(scope="module")
def sei() -> DecodedBlock:
    return BlockDecoder().decode((FIX / "sei_fixtures" / "block_results_with_failed_txs.json").read_bytes())


def scopes_matching(block: DecodedBlock, name: str, params: dict, chain: object = None) -> list[int]:
    result = get_preset(name).compile(params, chain)  # type: ignore[arg-type]
    idx: SubscriptionIndex[str] = SubscriptionIndex()
    idx.add("s", result.queries, result.post_filter)
    return [i for i, scope in enumerate(block.scopes) if idx.match(scope.events_map)]


def test_funds_presets_on_osmosis(osmosis: DecodedBlock) -> None:
    assert scopes_matching(osmosis, "funds_received", {"address": TRADER}, OSMOSIS_CHAIN) == [0]
    assert scopes_matching(osmosis, "funds_sent", {"address": TRADER}, OSMOSIS_CHAIN) == [0]
    assert scopes_matching(osmosis, "funds_either", {"address": TRADER}, OSMOSIS_CHAIN) == [0]
    assert scopes_matching(osmosis, "funds_received", {"address": VAULT_OWNER}, OSMOSIS_CHAIN) == [7]
    assert scopes_matching(osmosis, "funds_sent", {"address": VAULT_OWNER}, OSMOSIS_CHAIN) == []
    # the fee collector receives every fee (only with include_fees), and pays out in the block scope
    fees = {"address": FEE_COLLECTOR, "include_fees": "true"}
    assert scopes_matching(osmosis, "funds_received", fees) == list(range(8))
    assert scopes_matching(osmosis, "funds_received", {"address": FEE_COLLECTOR}) == []
    assert scopes_matching(osmosis, "funds_sent", {"address": FEE_COLLECTOR}) == [8]
    # an acknowledgement of an IBC transfer is not a send
    assert scopes_matching(osmosis, "funds_sent", {"address": IBC_SENDER}, OSMOSIS_CHAIN) == []


def test_min_amount_post_filter_on_osmosis(osmosis: DecodedBlock) -> None:
    got = {"address": TRADER, "denom": COIN_OUT}
    assert scopes_matching(osmosis, "funds_received", {**got, "min_amount": "360484932"}) == [0]
    assert scopes_matching(osmosis, "funds_received", {**got, "min_amount": "360484933"}) == []
    # display units: fees are 500 to 7858 uosmo (0.0005 to 0.007858 OSMO)
    fee = {"address": FEE_COLLECTOR, "denom": "OSMO", "include_fees": "true"}
    assert scopes_matching(osmosis, "funds_received", {**fee, "min_amount": "0.003"}, OSMOSIS_CHAIN) == [2, 7]
    assert scopes_matching(osmosis, "funds_received", {**fee, "min_amount": "0.007858"}, OSMOSIS_CHAIN) == [2]
    assert scopes_matching(osmosis, "funds_received", {**fee, "min_amount": "0.007859"}, OSMOSIS_CHAIN) == []
    # no denom: the chain's first denom
    assert scopes_matching(
        osmosis,
        "funds_received",
        {"address": FEE_COLLECTOR, "min_amount": "0.005", "include_fees": "true"},
        OSMOSIS_CHAIN,
    ) == [2]
    assert scopes_matching(osmosis, "funds_received", {**fee, "min_amount": "0.0005"}, OSMOSIS_CHAIN) == list(range(8))
    # the trader sent 360000000 of the ibc/D189... coin and 500uosmo fees in tx 0: its only uosmo
    # is the fee, counted only with include_fees
    sent = {"address": TRADER, "denom": "uosmo", "include_fees": "true"}
    assert scopes_matching(osmosis, "funds_sent", {**sent, "min_amount": "500"}, OSMOSIS_CHAIN) == [0]
    assert scopes_matching(osmosis, "funds_sent", {**sent, "min_amount": "501"}, OSMOSIS_CHAIN) == []
    assert scopes_matching(osmosis, "funds_sent", {**sent, "min_amount": "500", "include_fees": "false"}) == []


def test_funds_from_to_checks_one_transfer_event(osmosis: DecodedBlock) -> None:
    assert scopes_matching(osmosis, "funds_from_to", {"sender": TRADER, "recipient": POOL}) == [0]
    assert scopes_matching(osmosis, "funds_from_to", {"sender": TRADER, "recipient": FEE_COLLECTOR}) == [0]
    # pool -> trader and trader -> fee collector exist in tx 0, pool -> fee collector does not:
    query = get_preset("funds_from_to").build({"sender": POOL, "recipient": FEE_COLLECTOR})
    assert matches(query[0], osmosis.scopes[0].events_map)  # CometBFT's answer (independent conditions)
    assert scopes_matching(osmosis, "funds_from_to", {"sender": POOL, "recipient": FEE_COLLECTOR}) == []


def test_contract_events_on_osmosis(osmosis: DecodedBlock) -> None:
    assert scopes_matching(osmosis, "contract_events", {"contract": CONTRACT}, OSMOSIS_CHAIN) == [6, 7]
    assert scopes_matching(osmosis, "contract_events", {"contract": CONTRACT, "attributes": "vault_id=1143"}) == [7]
    assert scopes_matching(osmosis, "contract_events", {"contract": CONTRACT, "attributes": {"vault_id": "859"}}) == [6]
    assert scopes_matching(osmosis, "contract_events", {"contract": CONTRACT, "event": "swap"}) == []
    q = get_preset("contract_events").build({"contract": CONTRACT, "event": "swap", "attributes": "pool=1,dir=in"})
    assert q == [f"wasm-swap._contract_address = '{CONTRACT}' AND wasm-swap.pool = '1' AND wasm-swap.dir = 'in'"]
    assert matches(q[0], {"wasm-swap._contract_address": [CONTRACT], "wasm-swap.pool": ["1"], "wasm-swap.dir": ["in"]})


def test_tx_outcome(osmosis: DecodedBlock, sei: DecodedBlock) -> None:
    assert scopes_matching(osmosis, "tx_outcome", {"signer": TRADER, "outcome": "succeeded"}) == [0]
    assert scopes_matching(osmosis, "tx_outcome", {"signer": TRADER}) == [0]
    assert scopes_matching(osmosis, "tx_outcome", {"signer": TRADER, "outcome": "failed"}) == []
    failed = {**osmosis.scopes[0].events_map, "tx.code": ["5"]}  # the same tx had it failed
    queries = get_preset("tx_outcome").build({"signer": TRADER, "outcome": "failed"})
    assert any(matches(q, failed) for q in queries)
    assert not any(
        matches(q, failed) for q in get_preset("tx_outcome").build({"signer": TRADER, "outcome": "Succeeded"})
    )
    # SDK 0.47+ chains name the fee payer: Sei oracle votes
    assert scopes_matching(sei, "tx_outcome", {"signer": SEI_VOTER, "outcome": "succeeded"}, SEI_CHAIN) == [2]


def test_validator_presets(osmosis: DecodedBlock) -> None:
    assert scopes_matching(osmosis, "validator_missed_blocks", {"validator": VALCONS}, OSMOSIS_CHAIN) == [8]
    assert scopes_matching(osmosis, "validator_missed_blocks", {"validator": VALCONS, "min_missed": "3998"}) == [8]
    assert scopes_matching(osmosis, "validator_missed_blocks", {"validator": VALCONS, "min_missed": "3999"}) == []
    for name in ("validator_jailed", "validator_slashed"):
        assert scopes_matching(osmosis, name, {}) == []
        assert scopes_matching(osmosis, name, {"validator": VALCONS}) == []
    slash = {
        "tm.event": ["NewBlock"],
        "slash.address": [VALCONS],
        "slash.power": ["100"],
        "slash.reason": ["missing_signature"],
        "slash.jailed": [VALCONS],
    }
    for name in ("validator_jailed", "validator_slashed"):
        for params in ({}, {"validator": VALCONS}):
            assert any(matches(q, slash) for q in get_preset(name).build(params, OSMOSIS_CHAIN))


def test_delegation_on_injective(injective: DecodedBlock) -> None:
    assert scopes_matching(injective, "delegation_to_validator", {"validator": INJ_VALOPER}, INJECTIVE_CHAIN) == [3]
    at_least = {"validator": INJ_VALOPER, "denom": "INJ"}
    assert scopes_matching(
        injective, "delegation_to_validator", {**at_least, "min_amount": "49.98"}, INJECTIVE_CHAIN
    ) == [3]
    assert (
        scopes_matching(injective, "delegation_to_validator", {**at_least, "min_amount": "49.99"}, INJECTIVE_CHAIN)
        == []
    )
    # default denom: the chain's first (staking) denom
    assert get_preset("delegation_to_validator").build(
        {"validator": INJ_VALOPER, "min_amount": "1.5"}, INJECTIVE_CHAIN
    ) == [f"delegate.validator = '{INJ_VALOPER}' AND delegate.amount >= 1500000000000000000"]


def test_governance_presets(osmosis: DecodedBlock, injective: DecodedBlock) -> None:
    for block in (osmosis, injective):
        assert scopes_matching(block, "gov_proposal_submitted", {}) == []
        assert scopes_matching(block, "gov_voting_ended", {}) == []
    submitted = {
        "tm.event": ["Tx"],
        "submit_proposal.proposal_id": ["42"],
        "submit_proposal.proposal_messages": [",/x"],
    }
    assert matches(get_preset("gov_proposal_submitted").build({})[0], submitted)
    ended = {
        "tm.event": ["NewBlock", "NewBlockEvents"],
        "active_proposal.proposal_id": ["42"],
        "active_proposal.proposal_result": ["proposal_passed"],
    }
    build = get_preset("gov_voting_ended").build
    assert matches(build({})[0], ended)
    assert matches(build({"proposal_id": "042", "result": "passed"})[0], ended)
    assert not matches(build({"proposal_id": "41"})[0], ended)
    assert not matches(build({"result": "rejected"})[0], ended)
    assert not matches(build({})[0], {**ended, "tm.event": ["Tx"]})


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("funds_received", {}, "address: required"),
        ("funds_received", {"address": ""}, "address: required"),
        ("funds_received", {"address": TRADER[:-1] + "x"}, "checksum"),
        ("funds_received", {"address": "cosmos1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"}, "checksum"),
        ("funds_received", {"address": "Osmo1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"}, "mixes upper and lower"),
        ("funds_received", {"address": IBC_SENDER.replace("osmo", "osmo ")}, "not a valid bech32"),
        ("funds_received", {"address": TRADER, "colour": "red"}, "unknown parameter(s) colour"),
        ("funds_received", {"address": TRADER, "min_amount": "-1"}, "positive decimal"),
        ("funds_received", {"address": TRADER, "min_amount": "0"}, "positive decimal"),
        ("funds_received", {"address": TRADER, "min_amount": "1e5"}, "positive decimal"),
        ("funds_received", {"address": TRADER, "denom": "u'atom"}, "not a denom"),
        ("funds_received", {"address": VALCONS}, "expected an address starting with osmo1"),
        ("delegation_to_validator", {"validator": TRADER}, "starting with osmovaloper1"),
        ("validator_jailed", {"validator": INJ_VALOPER}, "is an operator address"),
        ("validator_jailed", {"validator": TRADER}, "starting with osmovalcons1"),
        ("funds_sent", {"address": TRADER, "include_fees": "maybe"}, "one of false, true"),
        ("funds_received", {"address": TRADER, "min_amount": "0.0000001", "denom": "OSMO"}, "at most 6 decimals"),
        ("contract_events", {"contract": CONTRACT, "attributes": {"a": "it's"}}, "single quote"),
        ("contract_events", {"contract": CONTRACT, "attributes": "nokeyvalue"}, "key=value"),
        ("contract_events", {"contract": CONTRACT, "attributes": {"a b": "x"}}, "letters, digits"),
        ("contract_events", {"contract": CONTRACT, "event": "bad event"}, "letters, digits"),
        ("contract_events", {"contract": CONTRACT, "attributes": {f"k{i}": "v" * 40 for i in range(12)}}, "512"),
        ("tx_outcome", {"signer": TRADER, "outcome": "maybe"}, "one of any, succeeded, failed"),
        ("gov_voting_ended", {"proposal_id": "12a"}, "non-negative integer"),
        ("no_such_preset", {}, "unknown preset"),
    ],
)
def test_parameter_validation(name: str, params: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        get_preset(name).compile(params, OSMOSIS_CHAIN)
    assert fragment in str(info.value)


def test_min_amount_needs_a_denom_without_chain() -> None:
    with pytest.raises(ValidationError, match="denom: required"):
        get_preset("funds_received").compile({"address": TRADER, "min_amount": "1"})


def test_addresses_are_normalised_to_lower_case() -> None:
    assert get_preset("funds_received").build({"address": TRADER.upper()}, OSMOSIS_CHAIN)[0] == (
        f"transfer.recipient = '{TRADER}'"
    )


def test_min_amount_is_exact_in_base_units() -> None:
    pf = get_preset("funds_received").post_filter(
        {"address": TRADER, "min_amount": "1.000001", "denom": "osmo"}, OSMOSIS_CHAIN
    )
    assert pf == TransferFilter(recipient=TRADER, denom="uosmo", min_amount=1_000_001, exclude_recipient=FEE_COLLECTOR)


def test_specs_are_serialisable_and_complete() -> None:
    import msgspec

    for name, preset in PRESETS.items():
        assert preset.name == name and preset.title and preset.description
        spec = msgspec.json.decode(msgspec.json.encode(preset.spec), type=PresetSpec)
        assert spec == preset.spec


#: The example of every preset in docs/QUERIES.md: the documented queries must be what the code builds.
DOC_EXAMPLES: dict[str, dict] = {
    "funds_received": {"address": TRADER},
    "funds_sent": {"address": TRADER},
    "funds_either": {"address": TRADER},
    "funds_from_to": {"sender": TRADER, "recipient": POOL},
    "contract_events": {"contract": CONTRACT, "event": "swap", "attributes": "pool=1"},
    "tx_outcome": {"signer": TRADER, "outcome": "failed"},
    "gov_proposal_submitted": {},
    "gov_voting_ended": {"proposal_id": "42", "result": "passed"},
    "validator_jailed": {"validator": VALCONS},
    "validator_slashed": {"validator": VALCONS},
    "validator_missed_blocks": {"validator": VALCONS, "min_missed": "100"},
    "delegation_to_validator": {"validator": "osmovaloper1c9ye54e3pzwm3e0zpdlel6pnavrj9qqv5qgdz9", "min_amount": "1.5"},
    # Watches: no queries (docs/MONITORING.md); the docs must still name them.
    "validator": {"validator": VALCONS},
    "voter": {"voter": TRADER},
    "governance": {},
}


def test_docs_show_the_exact_queries_of_every_preset() -> None:
    docs = DOCS.read_text()
    assert set(DOC_EXAMPLES) == set(PRESETS)
    for name, params in DOC_EXAMPLES.items():
        assert f"`{name}`" in docs, name
        for q in get_preset(name).build(params, OSMOSIS_CHAIN):
            assert q in docs, (name, q)


def test_resolve_min_amount() -> None:
    from core.query.presets import resolve_min_amount

    cosmos = Chain(
        id="cosmoshub-4",
        name="Cosmos Hub",
        bech32_prefix="cosmos",
        denoms=(Denom(base="uatom", display="ATOM", exponent=6),),
    )
    assert resolve_min_amount("1.5", "ATOM", cosmos) == ("uatom", 1_500_000)
    assert resolve_min_amount("1.5", "atom", cosmos) == ("uatom", 1_500_000)
    assert resolve_min_amount("1.5", None, cosmos) == ("uatom", 1_500_000)
    assert resolve_min_amount("1500000", "uatom", cosmos) == ("uatom", 1_500_000)
    assert resolve_min_amount("2.0", "uatom", cosmos) == ("uatom", 2)
    with pytest.raises(ValidationError, match=r"2\.5 uatom is finer than its smallest unit: uatom has no decimals"):
        resolve_min_amount("2.5", "uatom", cosmos)
    assert resolve_min_amount("7", "ibc/ABC", cosmos) == ("ibc/ABC", 7)
    with pytest.raises(ValidationError):
        resolve_min_amount("1,5", "ATOM", cosmos)
    with pytest.raises(ValidationError):
        resolve_min_amount("1", None, None)

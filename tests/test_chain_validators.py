"""`/validators` decoding and paging, consensus addresses, against recorded Cosmos Hub answers.

The cosmoshub-4 recordings (tests/fixtures/missed-blocks-checker/ORIGIN.md) are a `/block` with
180 commit signatures and the two `/validators` pages of the same 180-member set: they let the
tests check what the validator monitor relies on, that signatures come in the set's order and
that the hex address in both is what the consensus key derives to.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aiohttp import web

from core.chain.decoder import BlockDecoder
from core.chain.errors import BlockDecodeError, HeightNotAvailable, RpcBadResponse
from core.chain.jsonrpc import pruned_error
from core.chain.pool import EndpointPool
from core.chain.rpc import RpcClient
from core.chain.validators import (
    consensus_address_hex,
    decode_validators_page,
    hex_to_valcons,
    normalise_key_type,
    pub_key_of,
    valcons_to_hex,
)
from tests.recorded_node import RecordedNode, body, fixture, recorded

MBC = "missed-blocks-checker"
PAGE1 = f"{MBC}/cosmoshub-4_validators_page1.json"
PAGE2 = f"{MBC}/cosmoshub-4_validators_page2.json"
HUB_BLOCK = f"{MBC}/cosmoshub-4_block_21955288.json"


def hub_members() -> list[Any]:
    _, first, _ = decode_validators_page(fixture(PAGE1))
    _, second, _ = decode_validators_page(fixture(PAGE2))
    return first + second


# --- decoding -----------------------------------------------------------------------------------


def test_recorded_pages_decode() -> None:
    height, members, total = decode_validators_page(fixture(PAGE1))
    assert (height, len(members), total) == (21955392, 100, 180)
    first = members[0]
    assert first.address == "D68EEC0D2E8248F1EC64CDB585EDB61ECA432BD8"
    assert (first.pub_key_type, first.pub_key, first.power) == (
        "ed25519",
        "LtiHVLCcE+oFII0vpIl9mfkGDmk9BpPg1eUkvKnO4xw=",
        24631503,
    )
    height, members, total = decode_validators_page(fixture(PAGE2))
    assert (height, len(members), total) == (21955396, 80, 180)


def test_every_hub_address_is_derived_from_its_key() -> None:
    members = hub_members()
    assert len({m.address for m in members}) == 180
    for m in members:
        assert consensus_address_hex(m.pub_key_type, m.pub_key) == m.address


def test_hub_commit_signatures_follow_the_set_order() -> None:
    raw = json.loads(fixture(HUB_BLOCK))
    n_txs = len(raw["result"]["block"]["data"]["txs"])
    block = BlockDecoder().decode({"height": "21955288", "txs_results": [{"code": 0}] * n_txs}, raw)
    assert [s.address for s in block.signatures] == [m.address for m in hub_members()]
    assert all(s.flag == 2 and s.signed for s in block.signatures)
    assert block.proposer == "AC2D56057CD84765E6FBE318979093E8E44AA18F"
    assert block.proposer in {m.address for m in hub_members()}


def test_hostile_pages_are_refused() -> None:
    with pytest.raises(BlockDecodeError, match="count"):
        decode_validators_page(fixture(f"{MBC}/validators_invalid_pagination.json"))
    with pytest.raises(BlockDecodeError, match="malformed"):
        decode_validators_page(b'{"result": {"block_height": "5", "validators": [')
    with pytest.raises(BlockDecodeError, match="not a /validators"):
        decode_validators_page(b'{"result": null}')
    with pytest.raises(HeightNotAvailable):
        decode_validators_page(json.dumps({"error": pruned_error(5, 100)}).encode())


# --- keys and addresses -------------------------------------------------------------------------


def test_key_type_spellings() -> None:
    spellings = ("tendermint/PubKeyEd25519", "/cosmos.crypto.ed25519.PubKey", "tendermint.crypto.PublicKey_Ed25519")
    for spelling in spellings:
        assert normalise_key_type(spelling) == "ed25519"
    assert normalise_key_type("tendermint/PubKeySecp256k1") == "secp256k1"
    assert normalise_key_type("/cosmos.crypto.secp256k1.PubKey") == "secp256k1"
    key = "LtiHVLCcE+oFII0vpIl9mfkGDmk9BpPg1eUkvKnO4xw="
    for shape in (
        {"type": "tendermint/PubKeyEd25519", "value": key},
        {"Sum": {"type": "tendermint.crypto.PublicKey_Ed25519", "value": {"ed25519": key}}},
        {"ed25519": key},
        {"@type": "/cosmos.crypto.ed25519.PubKey", "key": key},
    ):
        assert pub_key_of(shape) == ("ed25519", key)
    with pytest.raises(ValueError):
        pub_key_of({"type": "x"})
    with pytest.raises(ValueError):
        pub_key_of("not a key")


def test_secp256k1_address_matches_the_cometbft_vector() -> None:
    # the test vector of tendermint-rs (tendermint/src/account.rs, test_secp_id)
    key = base64.b64encode(bytes.fromhex("02950E1CDFCB133D6024109FD489F734EEB4502418E538C28481F22BCE276F248C")).decode()
    assert consensus_address_hex("secp256k1", key) == "7C2BB42A8BE69791EC763E51F5A49BCD41E82237"


def test_bad_keys() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        consensus_address_hex("ed25519", base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="33 bytes"):
        consensus_address_hex("secp256k1", base64.b64encode(b"x" * 32).decode())
    with pytest.raises(ValueError, match="not base64"):
        consensus_address_hex("ed25519", "!!!")


def test_valcons_round_trip_with_recorded_signing_info() -> None:
    # ys-validator on cosmoshub-4: staking key (REST) -> hex -> valcons == its signing info's address
    validator = next(
        v
        for v in json.loads(fixture(f"{MBC}/cosmoshub-4_staking_validators_page2.json"))["validators"]
        if v["description"]["moniker"] == "ys-validator"
    )
    info = json.loads(fixture(f"{MBC}/cosmoshub-4_signing_info_tombstoned.json"))["val_signing_info"]
    key_type, key = pub_key_of(validator["consensus_pubkey"])
    address = consensus_address_hex(key_type, key)
    assert hex_to_valcons(address, "cosmos") == info["address"]
    assert valcons_to_hex(info["address"]) == address
    assert valcons_to_hex(info["address"].upper()) == address


def test_bad_consensus_addresses() -> None:
    with pytest.raises(ValueError, match="not a consensus address"):
        valcons_to_hex("cosmosvaloper1rcp29q3hpd246n6qak7jluqep4v006cdsc2kkl")
    with pytest.raises(ValueError, match="not a valid bech32"):
        valcons_to_hex("cosmosvalcons1rxmc3l8jzvqz5q3tll5crev2azncq8egfntczx")  # checksum
    with pytest.raises(ValueError, match="20 bytes"):
        hex_to_valcons("ABCD", "cosmos")
    with pytest.raises(ValueError, match="not a hex"):
        hex_to_valcons("XYZ", "cosmos")


# --- RpcClient.validators and the pool ----------------------------------------------------------


def paged_node_handler(*, pin: bool = True) -> Any:
    """Serves the recorded pages by `page`, like a node answering at the requested height."""
    pages = {"1": json.loads(fixture(PAGE1)), "2": json.loads(fixture(PAGE2))}

    async def handler(request: web.Request) -> web.StreamResponse:
        doc = json.loads(json.dumps(pages[request.query.get("page", "1")]))
        if pin and "height" in request.query:
            doc["result"]["block_height"] = request.query["height"]
        return web.json_response(doc)

    return handler


async def test_client_joins_the_pages_in_order() -> None:
    async with RecordedNode({"/validators": paged_node_handler()}) as node, RpcClient(node.url) as rpc:
        vset = await rpc.validators()
    assert vset.height == 21955392
    assert [m.address for m in vset.members] == [m.address for m in hub_members()]
    assert vset.index_of(hub_members()[150].address.lower()) == 150
    assert vset.total_power == sum(m.power for m in hub_members())
    asked = node.asked("/validators")
    # page 2 is asked at page 1's height, so both pages describe one set
    assert [a["query"] for a in asked] == [
        {"page": "1", "per_page": "100"},
        {"height": "21955392", "page": "2", "per_page": "100"},
    ]


async def test_client_refuses_pages_of_different_heights() -> None:
    # exactly as recorded: the node answered page 2 at a later tip (21955396)
    async with RecordedNode({"/validators": paged_node_handler(pin=False)}) as node, RpcClient(node.url) as rpc:
        with pytest.raises(RpcBadResponse, match="heights 21955392 and 21955396"):
            await rpc.validators()


async def test_client_refuses_a_set_that_does_not_add_up() -> None:
    page1 = fixture(PAGE1)
    # a node that answers page 1 for every page: 200 members of an announced 180
    async with RecordedNode({"/validators": body(page1)}) as node, RpcClient(node.url) as rpc:
        with pytest.raises(RpcBadResponse, match="announced 180 members at height 21955392 but sent 200"):
            await rpc.validators(21955392)

    many = json.loads(page1)
    many["result"]["total"] = "250"
    empty = json.loads(page1)
    empty["result"]["total"] = "250"
    empty["result"]["validators"] = []

    async def then_empty(request: web.Request) -> web.StreamResponse:
        return web.json_response(many if request.query["page"] == "1" else empty)

    async with RecordedNode({"/validators": then_empty}) as node, RpcClient(node.url) as rpc:
        with pytest.raises(RpcBadResponse, match="announced 250 members at height 21955392 but sent 100"):
            await rpc.validators(21955392)


async def test_client_maps_node_errors() -> None:
    pruned = json.dumps({"jsonrpc": "2.0", "id": -1, "error": pruned_error(3, 1000)}).encode()
    async with RecordedNode({"/validators": body(pruned, status=500)}) as node, RpcClient(node.url) as rpc:
        with pytest.raises(HeightNotAvailable) as info:
            await rpc.validators(3)
        assert info.value.lowest == 1000
    bad = recorded(f"{MBC}/validators_invalid_pagination.json")
    async with RecordedNode({"/validators": bad}) as node, RpcClient(node.url) as rpc:
        with pytest.raises(RpcBadResponse, match="malformed /validators response"):
            await rpc.validators(3)


def status_handler(chain_id: str, height: int = 21955400) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "jsonrpc": "2.0",
                "id": -1,
                "result": {
                    "node_info": {"network": chain_id, "moniker": "recorded", "version": "0.37.6"},
                    "sync_info": {"latest_block_height": str(height), "earliest_block_height": "1"},
                },
            }
        )

    return handler


async def test_pool_fails_over_for_the_set() -> None:
    html = body(b"<html><body>502 Bad Gateway</body></html>", status=502, content_type="text/html")
    broken = {"/status": status_handler("cosmoshub-4"), "/validators": html}
    good = {"/status": status_handler("cosmoshub-4"), "/validators": paged_node_handler()}
    async with RecordedNode(broken) as a, RecordedNode(good) as b, EndpointPool("cosmoshub-4", [a.url, b.url]) as pool:
        vset = await pool.validators(21955392)
        assert len(vset.members) == 180 and vset.height == 21955392
        health = {h.url: h for h in pool.health()}
        # whichever was tried first, the broken one is now known to be failing
        if a.asked("/validators"):
            assert health[a.url].consecutive_errors == 1
            assert "HTTP 502" in (health[a.url].last_error or "")
        assert health[b.url].consecutive_errors == 0


async def test_pool_reports_a_set_no_endpoint_keeps() -> None:
    pruned = json.dumps({"jsonrpc": "2.0", "id": -1, "error": pruned_error(3, 1000)}).encode()
    routes = {"/status": status_handler("cosmoshub-4"), "/validators": body(pruned, status=500)}
    async with (
        RecordedNode(routes) as a,
        RecordedNode(dict(routes)) as b,
        EndpointPool("cosmoshub-4", [a.url, b.url]) as pool,
    ):
        with pytest.raises(HeightNotAvailable):
            await pool.validators(3)
        assert len(a.asked("/validators")) == len(b.asked("/validators")) == 1

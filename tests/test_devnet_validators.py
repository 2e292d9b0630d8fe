"""The devnet's validator set, commit signatures and slashing, over real HTTP on 127.0.0.1.

What a monitor sees: `/validators` in CometBFT's shape and order, `/block` signatures that are
ABSENT exactly as CometBFT encodes them, x/slashing jailing a validator once it misses more than
the window allows (events, validator updates, a new validators_hash), and the staking/slashing
REST paths agreeing with all of it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import bech32
import httpx
import msgspec
import pytest

from mempools.devnet import ChainConfig, DevnetChain, DevnetServer
from mempools.devnet.addresses import bech32_address
from mempools.devnet.faults import Faults

GENESIS = 1_700_000_000.0


def chain_of(**kw: Any) -> DevnetChain:
    cfg: dict[str, Any] = {"history": 20, "block_time": 0, "genesis_time": GENESIS, "txs_per_block": 2} | kw
    return DevnetChain(ChainConfig(**cfg))


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
        yield client


def _bytes(address: str) -> bytes:
    _, data = bech32.bech32_decode(address)
    assert data is not None
    raw = bech32.convertbits(data, 5, 8, False)
    assert raw is not None
    return bytes(raw)


def _block_events(results: dict[str, Any], type_: str) -> list[dict[str, str]]:
    return [
        {a["key"]: a["value"] for a in ev["attributes"]}
        for ev in results["finalize_block_events"]
        if ev["type"] == type_
    ]


def _tx_events(results: dict[str, Any], type_: str) -> list[dict[str, str]]:
    return [
        {a["key"]: a["value"] for a in ev["attributes"]}
        for tx in results["txs_results"] or []
        for ev in tx["events"]
        if ev["type"] == type_
    ]


async def rpc(http: httpx.AsyncClient, server: DevnetServer, path: str, **params: Any) -> Any:
    r = await http.get(server.url + path, params=params)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def test_identities_are_consistent_and_the_address_book_uses_them() -> None:
    chain = chain_of()
    vals = chain.validators
    assert len(vals) == 4 and len({v.moniker for v in vals}) == 4
    for v in vals:
        pub = base64.b64decode(v.pub_key)
        assert len(pub) == 32
        assert v.hex == hashlib.sha256(pub).digest()[:20].hex().upper()
        assert _bytes(v.consensus) == bytes.fromhex(v.hex) and v.consensus.startswith("cosmosvalcons1")
        assert _bytes(v.operator) == _bytes(v.account) and v.operator.startswith("cosmosvaloper1")
        assert v.bonded and not v.jailed and v.power > 0
    assert chain.book.validators == [v.operator for v in vals]
    assert chain.book.consensus == [v.consensus for v in vals]
    # generated delegations go to real validators
    delegated = {
        e["validator"]
        for h in range(2, 21)
        for e in _tx_events(msgspec.json.decode(chain.block_results_json(h)), "delegate")
    }
    assert delegated and delegated <= set(chain.book.validators)
    assert DevnetChain(ChainConfig(validators=180, block_time=0)).validators[179].moniker != vals[0].moniker


async def test_validators_endpoint_pages_in_cometbft_order(http: httpx.AsyncClient) -> None:
    chain = chain_of(validators=180)
    async with DevnetServer(chain) as server:
        first = await rpc(http, server, "/validators", height=10, per_page=100)
        assert (first["block_height"], first["count"], first["total"]) == ("10", "100", "180")
        second = await rpc(http, server, "/validators", height=10, page=2, per_page=100)
        assert (second["count"], second["total"]) == ("80", "180")
        members = first["validators"] + second["validators"]
        order = [(-int(m["voting_power"]), m["address"]) for m in members]
        assert order == sorted(order) and len({m["address"] for m in members}) == 180
        assert members[0] == {
            "address": members[0]["address"],
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": members[0]["pub_key"]["value"]},
            "voting_power": members[0]["voting_power"],
            "proposer_priority": "0",
        }
        assert (await rpc(http, server, "/validators", height=10))["count"] == "30"  # CometBFT's default per_page

        r = await http.get(server.url + "/validators", params={"height": 10, "page": 3, "per_page": 100})
        assert r.status_code == 500
        assert r.json()["error"]["data"] == "page should be within [1, 2] range, given 3"
        r = await http.get(server.url + "/validators", params={"height": 21})
        assert r.json()["error"]["data"] == "height 21 must be less than or equal to the current blockchain height 20"

        posted = await http.post(
            server.url,
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "validators",
                "params": {"height": "10", "page": "2", "per_page": "100"},
            },
        )
        assert posted.json()["id"] == 7 and posted.json()["result"] == second


async def test_block_signatures_follow_the_set_and_absent_is_cometbft_shaped(http: httpx.AsyncClient) -> None:
    chain = chain_of()
    async with DevnetServer(chain) as server:
        block = (await rpc(http, server, "/block", height=20))["block"]
        vals = await rpc(http, server, "/validators", height=19)
        header = block["header"]
        assert header["proposer_address"] in {m["address"] for m in vals["validators"]}
        sigs = block["last_commit"]["signatures"]
        assert [s["validator_address"] for s in sigs] == [m["address"] for m in vals["validators"]]
        assert all(s["block_id_flag"] == 2 and s["timestamp"] and len(s["signature"]) == 88 for s in sigs)

        third = chain.validators[2]
        chain.set_missing(third.operator)
        server.advance(2)
        sigs = (await rpc(http, server, "/block", height=22))["block"]["last_commit"]["signatures"]
        absent = [s for s in sigs if s["block_id_flag"] == 1]
        assert absent == [
            {"block_id_flag": 1, "validator_address": "", "timestamp": "0001-01-01T00:00:00Z", "signature": None}
        ]
        # who missed is known only from the set's order
        order = [m["address"] for m in (await rpc(http, server, "/validators", height=21))["validators"]]
        assert order[sigs.index(absent[0])] == third.hex
        assert [s["validator_address"] for s in sigs if s["block_id_flag"] == 2] == [a for a in order if a != third.hex]
        liveness = _block_events(await rpc(http, server, "/block_results", height=22), "liveness")
        assert liveness == [{"address": third.consensus, "missed_blocks": "2", "height": "22", "mode": "BeginBlock"}]


async def test_downtime_jails_updates_the_set_and_unjail_rejoins(http: httpx.AsyncClient) -> None:
    # window 10, min signed 0.5: jailed once more than 5 of the last 10 are missed (and height > 10)
    chain = chain_of(signed_blocks_window=10, min_signed_per_window="0.5")
    victim = chain.validators[1]
    async with DevnetServer(chain) as server:
        old_hash = (await rpc(http, server, "/block", height=20))["block"]["header"]["validators_hash"]
        chain.set_missing(victim.consensus)
        server.advance(6)  # blocks 21..26 carry its ABSENT votes for 20..25
        misses = [
            _block_events(await rpc(http, server, "/block_results", height=h), "liveness")[0]["missed_blocks"]
            for h in range(21, 27)
        ]
        assert misses == ["1", "2", "3", "4", "5", "6"]
        results = await rpc(http, server, "/block_results", height=26)
        [slash] = _block_events(results, "slash")
        assert slash["address"] == victim.consensus and slash["jailed"] == victim.consensus
        assert slash["reason"] == "missing_signature" and int(slash["power"]) > 0
        assert results["validator_updates"] == [
            {"pub_key": {"Sum": {"type": "tendermint.crypto.PublicKey_Ed25519", "value": {"ed25519": victim.pub_key}}}}
        ]
        for h in range(21, 26):
            assert not _block_events(await rpc(http, server, "/block_results", height=h), "slash")

        server.advance(3)
        h27 = (await rpc(http, server, "/block", height=27))["block"]["header"]
        h28 = (await rpc(http, server, "/block", height=28))["block"]["header"]
        assert h27["validators_hash"] == old_hash != h27["next_validators_hash"] == h28["validators_hash"]
        in_set = {m["address"] for m in (await rpc(http, server, "/validators", height=28))["validators"]}
        assert victim.hex not in in_set and len(in_set) == 3
        assert victim.hex in {m["address"] for m in (await rpc(http, server, "/validators", height=27))["validators"]}
        sigs28 = (await rpc(http, server, "/block", height=29))["block"]["last_commit"]["signatures"]
        assert len(sigs28) == 3 and all(s["block_id_flag"] == 2 for s in sigs28)

        rest = (await http.get(f"{server.url}/cosmos/staking/v1beta1/validators/{victim.operator}")).json()
        assert rest["validator"]["jailed"] is True and rest["validator"]["status"] == "BOND_STATUS_UNBONDING"
        # historical queries (x-cosmos-block-height) see the state after that block
        path = f"{server.url}/cosmos/staking/v1beta1/validators/{victim.operator}"
        before = (await http.get(path, headers={"x-cosmos-block-height": "25"})).json()["validator"]
        assert before["jailed"] is False and before["status"] == "BOND_STATUS_BONDED"
        assert (await http.get(path, headers={"x-cosmos-block-height": "26"})).json()["validator"]["jailed"] is True
        future = await http.get(path, headers={"x-cosmos-block-height": "999"})
        assert future.status_code == 500 and "height in the future" in future.json()["message"]
        info = (await http.get(f"{server.url}/cosmos/slashing/v1beta1/signing_infos/{victim.consensus}")).json()
        assert info["val_signing_info"]["jailed_until"] == "2023-11-14T22:23:45Z"  # block 26 time + 600 s
        assert info["val_signing_info"]["tombstoned"] is False

        r = await http.post(f"{server.url}/devnet/validators/missing", json={"who": victim.operator, "missing": False})
        assert r.status_code == 200 and r.json()["missing"] is False
        r = await http.post(f"{server.url}/devnet/validators/unjail", json={"who": victim.operator})
        assert r.status_code == 200
        unjail_height = r.json()["height"]
        server.advance(1)
        results = await rpc(http, server, "/block_results", height=unjail_height)
        msgs = _tx_events(results, "message")
        assert {
            "action": "/cosmos.slashing.v1beta1.MsgUnjail",
            "sender": victim.account,
            "module": "slashing",
            "msg_index": "0",
        } in msgs
        assert {"module": "slashing", "sender": victim.operator, "msg_index": "0"} in msgs
        assert results["validator_updates"][0]["power"] == str(victim.power)
        server.advance(2)
        back = {m["address"] for m in (await rpc(http, server, "/validators", height=unjail_height + 2))["validators"]}
        assert victim.hex in back
        rest = (await http.get(f"{server.url}/cosmos/staking/v1beta1/validators/{victim.operator}")).json()
        assert rest["validator"]["jailed"] is False and rest["validator"]["status"] == "BOND_STATUS_BONDED"


async def test_jail_tombstone_and_edit_through_control_endpoints(http: httpx.AsyncClient) -> None:
    chain = chain_of()
    a, b, c = chain.validators[:3]
    async with DevnetServer(chain) as server:
        listed = (await http.get(f"{server.url}/devnet/validators")).json()
        assert [(v["moniker"], v["power"], v["status"]) for v in listed] == [
            (v.moniker, v.power, "BOND_STATUS_BONDED") for v in chain.validators
        ]
        assert (await http.post(f"{server.url}/devnet/validators/jail", json={"who": a.hex})).status_code == 200
        assert (await http.post(f"{server.url}/devnet/validators/tombstone", json={"who": 1})).status_code == 200
        edit = await http.post(
            f"{server.url}/devnet/validators/edit",
            json={"who": c.operator, "moniker": "Charlie Renamed", "commission_rate": "0.07"},
        )
        assert edit.status_code == 200
        server.advance()
        results = await rpc(http, server, "/block_results", height=21)
        slashes = _block_events(results, "slash")
        assert [(s["address"], s["reason"], s["jailed"]) for s in slashes] == [
            (a.consensus, "missing_signature", a.consensus),
            (b.consensus, "double_sign", b.consensus),
        ]
        assert _block_events(results, "liveness")[0]["address"] == a.consensus
        assert len(results["validator_updates"]) == 2
        assert _tx_events(results, "edit_validator") == [
            {"commission_rate": "0.070000000000000000", "min_self_delegation": "1", "msg_index": "0"}
        ]
        info = (await http.get(f"{server.url}/cosmos/slashing/v1beta1/signing_infos/{b.consensus}")).json()
        assert info["val_signing_info"]["tombstoned"] is True
        assert info["val_signing_info"]["jailed_until"] == "9999-12-31T23:59:59.999999999Z"
        refused = await http.post(f"{server.url}/devnet/validators/unjail", json={"who": b.operator})
        assert refused.status_code == 400 and "tombstoned" in refused.json()["error"]
        edited = (await http.get(f"{server.url}/cosmos/staking/v1beta1/validators/{c.operator}")).json()["validator"]
        assert edited["description"]["moniker"] == "Charlie Renamed"
        assert edited["commission"]["commission_rates"]["rate"] == "0.070000000000000000"
        unknown = await http.post(f"{server.url}/devnet/validators/jail", json={"who": "cosmosvaloper1nobody"})
        assert unknown.status_code == 400 and "no such validator" in unknown.json()["error"]


async def test_staking_and_slashing_rest_shapes_pagination_and_errors(http: httpx.AsyncClient) -> None:
    chain = chain_of(validators=5)
    chain.jail(4)
    chain.advance()
    async with DevnetServer(chain, faults=Faults(rest_failing={"/cosmos/gov"})) as server:
        base = f"{server.url}/cosmos/staking/v1beta1/validators"
        seen: list[str] = []
        key = ""
        for _ in range(5):
            params = {"pagination.limit": "2"} | ({"pagination.key": key} if key else {})
            page = (await http.get(base, params=params)).json()
            seen += [v["operator_address"] for v in page["validators"]]
            key = page["pagination"]["next_key"]
            if key is None:
                break
        assert sorted(seen) == seen and set(seen) == {v.operator for v in chain.validators}
        counted = (await http.get(base, params={"pagination.count_total": "true"})).json()
        assert counted["pagination"] == {"next_key": None, "total": "5"}
        bonded = (await http.get(base, params={"status": "BOND_STATUS_BONDED"})).json()["validators"]
        assert len(bonded) == 4 and chain.validators[4].operator not in {v["operator_address"] for v in bonded}
        one = (await http.get(f"{base}/{chain.validators[0].operator}")).json()["validator"]
        assert one["consensus_pubkey"] == {"@type": "/cosmos.crypto.ed25519.PubKey", "key": chain.validators[0].pub_key}
        assert one["description"]["moniker"] == chain.validators[0].moniker and one["tokens"].isdigit()

        ghost = bech32_address("cosmosvaloper", b"\x01" * 20)
        r = await http.get(f"{base}/{ghost}")
        assert r.status_code == 404 and r.json() == {
            "code": 5,
            "message": f"validator {ghost} not found",
            "details": [],
        }
        params = (await http.get(f"{server.url}/cosmos/slashing/v1beta1/params")).json()["params"]
        assert params["signed_blocks_window"] == "100" and params["min_signed_per_window"] == "0.500000000000000000"

        failing = await http.get(f"{server.url}/cosmos/gov/v1/proposals")
        assert failing.status_code == 500 and failing.json()["code"] == 13
        missing = await http.get(f"{server.url}/cosmos/bank/v1beta1/balances/x")
        assert missing.status_code == 501
        assert missing.json() == {"code": 12, "message": "Not Implemented", "details": []}


def test_180_validators_serve_thousands_of_blocks_quickly() -> None:
    chain = DevnetChain(ChainConfig(validators=180, history=3000, block_time=0, genesis_time=GENESIS, cache_blocks=10))
    chain.set_missing(5)
    chain.advance(200)
    started = time.perf_counter()
    for h in range(1, chain.tip + 1):
        chain.block_json(h)
        chain.block_results_json(h)
    elapsed = time.perf_counter() - started
    assert elapsed < 15.0, f"{chain.tip} blocks took {elapsed:.1f}s"
    # evicted heights come back identical: history is recorded, not recomputed from today's state
    first = chain.block_json(3030)
    chain.block_json(5)
    assert (
        msgspec.json.decode(first)["block"]["last_commit"]["signatures"].count(
            {"block_id_flag": 1, "validator_address": "", "timestamp": "0001-01-01T00:00:00Z", "signature": None}
        )
        == 1
    )
    assert chain.block_json(3030) == first

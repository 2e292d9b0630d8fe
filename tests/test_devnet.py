"""The devnet over real HTTP and websockets on 127.0.0.1: shapes, content, injection, faults, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import websockets

from core.chain.decoder import BlockDecoder, decode_status
from mempools.devnet import ChainConfig, DevnetChain, DevnetServer, Faults
from mempools.devnet.addresses import is_valid
from tests.polling import until

FIX = Path(__file__).parent / "fixtures" / "cometbft" / "tendermint-rs"
GENESIS = 1_700_000_000.0


def manual_chain(**kw: Any) -> DevnetChain:
    cfg: dict[str, Any] = {"history": 50, "block_time": 0, "genesis_time": GENESIS, "seed": 7} | kw
    return DevnetChain(ChainConfig(**cfg))


async def get(client: httpx.AsyncClient, server: DevnetServer, path: str, **params: Any) -> httpx.Response:
    return await client.get(server.url + path, params=params)


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


# --- shapes ---------------------------------------------------------------------------------------


async def test_status_block_and_block_results_shapes(http: httpx.AsyncClient) -> None:
    async with DevnetServer(manual_chain(chain_id="devnet-9")) as server:
        assert server.url.startswith("http://127.0.0.1:") and server.port > 0
        r = await get(http, server, "/status")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        doc = r.json()
        assert doc["jsonrpc"] == "2.0" and doc["id"] == -1
        status = decode_status(r.content)
        assert (status.chain_id, status.latest_height, status.earliest_height) == ("devnet-9", 50, 1)
        assert doc["result"]["sync_info"]["latest_block_height"] == "50"  # int64 as a string

        block = (await get(http, server, "/block", height=3)).json()["result"]
        assert block["block"]["header"]["height"] == "3"
        assert block["block"]["header"]["chain_id"] == "devnet-9"
        assert block["block"]["header"]["time"] == "2023-11-14T22:13:22Z"  # GENESIS + 2 s
        assert len(block["block"]["data"]["txs"]) == 5
        results = (await get(http, server, "/block_results", height=3)).json()["result"]
        assert results["height"] == "3" and len(results["txs_results"]) == 5
        assert "finalize_block_events" in results and "begin_block_events" not in results

        latest = (await get(http, server, "/block")).json()["result"]
        assert latest["block"]["header"]["height"] == "50"
        quoted = (await get(http, server, "/block_results", height='"4"')).json()["result"]
        assert quoted["height"] == "4"


async def test_jsonrpc_post_single_and_batch(http: httpx.AsyncClient) -> None:
    async with DevnetServer(manual_chain()) as server:
        one = {"jsonrpc": "2.0", "id": 1, "method": "block_results", "params": {"height": "7"}}
        r = await http.post(server.url + "/", json=one)
        assert r.status_code == 200
        assert r.json()["id"] == 1 and r.json()["result"]["height"] == "7"
        batch = [one | {"id": "a", "method": "status", "params": {}}, one | {"id": 2, "params": {"height": "999"}}]
        out = (await http.post(server.url + "/", json=batch)).json()
        assert out[0]["id"] == "a" and out[0]["result"]["node_info"]["network"] == "devnet-1"
        assert out[1]["error"]["data"] == "height 999 must be less than or equal to the current blockchain height 50"
        assert (await http.post(server.url + "/", content=b"{nope")).json()["error"]["code"] == -32700
        unknown = (await http.post(server.url + "/", json=one | {"method": "nope"})).json()
        assert unknown["error"]["message"] == "Method not found"


async def test_real_error_responses_for_unavailable_heights(http: httpx.AsyncClient) -> None:
    async with DevnetServer(manual_chain(), faults=Faults(prune_below=10, missing_heights={20})) as server:
        r = await get(http, server, "/block_results", height=5)
        assert r.status_code == 500  # CometBFT's URI handler answers errors with HTTP 500
        assert r.json()["error"] == {
            "code": -32603,
            "message": "Internal error",
            "data": "height 5 is not available, lowest height is 10",
        }
        r = await get(http, server, "/block", height=51)
        assert r.json()["error"]["data"] == "height 51 must be less than or equal to the current blockchain height 50"
        r = await get(http, server, "/block_results", height=20)
        assert r.json()["error"]["data"] == "could not find results for height #20"
        r = await get(http, server, "/block", height=0)
        assert r.json()["error"]["data"] == "height must be greater than 0, but got 0"
        status = decode_status((await get(http, server, "/status")).content)
        assert status.earliest_height == 10


# --- content --------------------------------------------------------------------------------------


async def test_decoder_decodes_every_generated_block(http: httpx.AsyncClient) -> None:
    chain = manual_chain(history=120, txs_per_block=6)
    decoder = BlockDecoder()
    kinds: Counter[str] = Counter()
    codes: Counter[int] = Counter()
    async with DevnetServer(chain) as server:
        for h in range(1, 121):
            results = (await get(http, server, "/block_results", height=h)).content
            block = (await get(http, server, "/block", height=h)).content
            b = decoder.decode(results, block)
            assert b.height == h and b.chain_id == "devnet-1" and len(b.txs) == 6
            for tx in b.txs:
                assert tx.tx_hash is not None and len(tx.tx_hash) == 64
                codes[tx.code or 0] += 1
                kinds.update(a for a in tx.events_map.get("message.action", []))
                assert tx.events_map["tx.fee_payer"] and tx.events_map["tx.height"] == [str(h)]
            blk = b.block_scope.events_map
            assert set(blk["mint.mode"]) == {"BeginBlock"}
            assert len(blk["rewards.validator"]) == 4
            # nobody misses, nobody proposes: slashing and gov stay quiet (tests/test_devnet_validators.py, _gov.py)
            assert "slash.address" not in blk and "liveness.address" not in blk
            assert "active_proposal.proposal_id" not in blk
            assert set(blk["rewards.validator"]) <= set(chain.book.validators)
    assert {
        "/cosmos.bank.v1beta1.MsgSend",
        "/cosmwasm.wasm.v1.MsgExecuteContract",
        "/cosmos.staking.v1beta1.MsgDelegate",
    } == set(kinds)
    assert codes[5] > 0 and codes[0] > codes[5]  # failed txs (insufficient funds) exist, still with events


def test_generated_content_is_deterministic_and_addresses_valid() -> None:
    a, b = manual_chain(seed=3), manual_chain(seed=3)
    assert a.block_results_json(17) == b.block_results_json(17)
    assert a.block_json(17) == b.block_json(17)
    assert manual_chain(seed=4).block_results_json(17) != a.block_results_json(17)
    assert all(is_valid(x, "cosmos") for x in a.book.accounts + a.book.contracts)
    assert all(is_valid(x, "cosmosvaloper") for x in a.book.validators)
    decoded = BlockDecoder().decode(a.block_results_json(17), a.block_json(17))
    assert decoded.height == 17 and len(decoded.txs) == 5
    osmo = DevnetChain(ChainConfig(prefix="osmo", history=3, block_time=0))
    assert all(is_valid(x, "osmo") for x in osmo.book.accounts)


def test_wasm_events_have_contract_address_and_custom_type() -> None:
    chain = manual_chain(history=60)
    decoder = BlockDecoder()
    seen = False
    for h in range(1, 61):
        for tx in decoder.decode(chain.block_results_json(h)).txs:
            if "wasm._contract_address" in tx.events_map:
                seen = True
                assert tx.events_map["wasm-transfer._contract_address"] == tx.events_map["wasm._contract_address"]
                assert tx.events_map["wasm._contract_address"][0] in chain.book.contracts
    assert seen


async def test_schedule_transfer_lands_in_the_next_block(http: httpx.AsyncClient) -> None:
    chain = manual_chain()
    alice, bob = chain.book.accounts[0], chain.book.accounts[1]
    async with DevnetServer(chain) as server:
        injected = chain.schedule_transfer(alice, bob, 1_500_000, "uatom")
        assert injected.height == 51 and injected.index == 5
        assert (await get(http, server, "/block_results", height=51)).status_code == 500  # not made yet
        server.advance()
        results = (await get(http, server, "/block_results", height=51)).content
        block = (await get(http, server, "/block", height=51)).content
        b = BlockDecoder().decode(results, block)
        tx = b.txs[injected.index]
        assert tx.tx_hash == injected.tx_hash and tx.code == 0
        assert tx.events_map["transfer.sender"][-1] == alice
        assert tx.events_map["transfer.recipient"][-1] == bob
        assert tx.events_map["transfer.amount"][-1] == "1500000uatom"
        assert tx.events_map["message.action"] == ["/cosmos.bank.v1beta1.MsgSend"]
        with pytest.raises(Exception, match="already made"):
            chain.schedule_transfer(alice, bob, 1, height=51)
        with pytest.raises(Exception, match="bech32"):
            chain.schedule_transfer("osmo1notmine", bob, 1)


async def test_http_inject_and_advance(http: httpx.AsyncClient) -> None:
    chain = manual_chain()
    alice, bob = chain.book.accounts[2], chain.book.accounts[3]
    async with DevnetServer(chain) as server:
        r = await http.post(
            server.url + "/devnet/inject", json={"from": alice, "to": bob, "amount": 42, "denom": "ustake"}
        )
        assert r.status_code == 200
        body = r.json()
        assert body["height"] == 51 and len(body["tx_hash"]) == 64
        bad = await http.post(server.url + "/devnet/inject", json={"from": "x", "to": bob, "amount": 1})
        assert bad.status_code == 400 and "bech32" in bad.json()["error"]
        r = await http.post(server.url + "/devnet/advance", json={"n": 2})
        assert r.json() == {"tip": 52}
        b = BlockDecoder().decode(
            (await get(http, server, "/block_results", height=51)).content,
            (await get(http, server, "/block", height=51)).content,
        )
        hit = [tx for tx in b.txs if tx.tx_hash == body["tx_hash"]]
        assert hit and hit[0].events_map["coin_received.amount"][-1] == "42ustake"


async def test_replayed_fixture_blocks(http: httpx.AsyncClient) -> None:
    chain = manual_chain()
    osmosis = chain.replay((FIX / "osmosis_fixtures" / "block_results_at_height_10499831.json").read_bytes())
    sei = chain.replay((FIX / "sei_fixtures" / "block_results_with_failed_txs.json").read_bytes(), height=53)
    assert (osmosis, sei) == (51, 53)
    chain.advance(3)
    async with DevnetServer(chain) as server:
        b = BlockDecoder().decode(
            (await get(http, server, "/block_results", height=51)).content,
            (await get(http, server, "/block", height=51)).content,
        )
        assert [len(s.events) for s in b.txs] == [25, 32, 32, 43, 25, 27, 18, 52]
        assert len(b.block_scope.events) == 308 and all(s.tx_hash for s in b.txs)
        s = BlockDecoder().decode(
            (await get(http, server, "/block_results", height=53)).content,
            (await get(http, server, "/block", height=53)).content,
        )
        assert [tx.code for tx in s.txs[:3]] == [32, 32, 0] and len(s.txs) == 28


# --- faults ---------------------------------------------------------------------------------------


async def test_fault_latency(http: httpx.AsyncClient) -> None:
    async with DevnetServer(manual_chain(), faults=Faults(latency_ms=150)) as server:
        start = time.perf_counter()
        assert (await get(http, server, "/status")).status_code == 200
        assert time.perf_counter() - start >= 0.14


async def test_fault_errors_timeouts_truncation(http: httpx.AsyncClient) -> None:
    async with DevnetServer(manual_chain()) as server:
        server.set_faults(error_rate=1.0)
        r = await get(http, server, "/block", height=3)
        assert r.status_code == 503 and "<html>" in r.text
        server.set_faults(error_rate=0.0, truncate_rate=1.0)
        r = await get(http, server, "/block_results", height=3)
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)
        server.set_faults(truncate_rate=0.0, timeout_rate=1.0)
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url + "/status", timeout=0.3)
        server.set_faults(timeout_rate=0.0, error_rate=0.5)
        statuses = Counter([(await get(http, server, "/status")).status_code for _ in range(60)])
        assert 10 < statuses[503] < 50 and statuses[200] > 10
    # a hung request does not delay shutdown (checked by the test's duration)


async def test_fault_lag_and_wrong_chain(http: httpx.AsyncClient) -> None:
    async with DevnetServer(manual_chain(), faults=Faults(lag=5, wrong_chain_id="other-1")) as server:
        status = decode_status((await get(http, server, "/status")).content)
        assert (status.latest_height, status.chain_id) == (45, "other-1")
        r = await get(http, server, "/block", height=47)
        assert r.json()["error"]["data"].endswith("current blockchain height 45")
        block = (await get(http, server, "/block", height=45)).json()["result"]
        assert block["block"]["header"]["chain_id"] == "other-1"


async def test_faults_via_http(http: httpx.AsyncClient) -> None:
    async with DevnetServer(manual_chain()) as server:
        r = await http.post(server.url + "/devnet/faults", json={"lag": 2, "error_rate": 0.0})
        assert r.status_code == 200 and r.json()["lag"] == 2
        assert server.faults.lag == 2
        assert (await http.get(server.url + "/devnet/faults")).json()["lag"] == 2
        assert (await http.post(server.url + "/devnet/faults", json={"lag": "x"})).status_code == 400
        assert decode_status((await get(http, server, "/status")).content).latest_height == 48


# --- time -----------------------------------------------------------------------------------------


async def test_clock_advances_and_on_demand(http: httpx.AsyncClient) -> None:
    chain = DevnetChain(ChainConfig(block_time=0.05, history=3))
    async with DevnetServer(chain) as server:
        await until(lambda: chain.tip >= 6)  # 0.3 s of block time
        status = decode_status((await get(http, server, "/status")).content)
        assert status.latest_height >= 6
    async with DevnetServer(manual_chain(), on_demand=True) as server:
        heights = [decode_status((await get(http, server, "/status")).content).latest_height for _ in range(3)]
        assert heights == [51, 52, 53]


# --- websocket ------------------------------------------------------------------------------------


async def test_websocket_subscribe_newblock() -> None:
    chain = manual_chain()
    real = json.loads((FIX / "kvstore_fixtures_v0_38" / "incoming" / "subscribe_newblock_0.json").read_bytes())
    async with DevnetServer(chain) as server, websockets.connect(server.ws_url) as ws:
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 7, "method": "subscribe", "params": {"query": "tm.event = 'NewBlock'"}})
        )
        assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 7, "result": {}}
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 8, "method": "subscribe", "params": {"query": "tm.event = 'NewBlock'"}})
        )
        assert json.loads(await ws.recv())["error"]["data"] == "already subscribed"
        await ws.send(
            json.dumps({"jsonrpc": "2.0", "id": 9, "method": "subscribe", "params": {"query": "tm.event = 'Tx'"}})
        )
        assert "error" in json.loads(await ws.recv())
        server.advance(2)
        msgs = [json.loads(await asyncio.wait_for(ws.recv(), 2)) for _ in range(2)]
        assert [int(m["result"]["data"]["value"]["block"]["header"]["height"]) for m in msgs] == [51, 52]
        m = msgs[0]
        assert m["id"] == 7 and m["result"]["query"] == "tm.event = 'NewBlock'"
        assert m["result"]["data"]["type"] == real["result"]["data"]["type"] == "tendermint/event/NewBlock"
        assert set(real["result"]["data"]["value"]) <= set(m["result"]["data"]["value"])
        assert m["result"]["events"]["tm.event"] == ["NewBlock"]
        assert m["result"]["events"]["mint.mode"] == ["BeginBlock"]
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 10, "method": "unsubscribe_all", "params": {}}))
        assert json.loads(await ws.recv())["id"] == 10
        server.advance()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_starts_serves_and_stops_on_sigterm() -> None:
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mempools",
            "devnet",
            "--port",
            "0",
            "--block-time",
            "0.1",
            "--history",
            "20",
            "--chain-id",
            "cli-1",
            "--seed",
            "5",
            "--lag",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
        status = decode_status(httpx.get(url + "/status", timeout=5, trust_env=False).content)
        assert status.chain_id == "cli-1" and status.latest_height >= 19
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_bad_flags() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mempools", "devnet", "--error-rate", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.returncode == 2 and "error-rate" in proc.stderr


def test_faults_struct_roundtrip() -> None:
    f = msgspec.convert({"missing_heights": [3, 4], "lag": 1}, Faults)
    assert f.missing_heights == {3, 4} and f.lag == 1

"""`POST /v1/queries/test` on the latest block, on a range of heights, and with a preset (its
post-filter applied), against a devnet's real CometBFT RPC on loopback: an answer per height, a
pruned height reported in its own result, and every malformed form a 422 saying what to send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import core.services.queries as queries
from core.chain.blocks import DecodedBlock
from core.chain.errors import RpcUnavailable
from core.chain.pool import EndpointPool
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import CHAIN, Env, api_client, signup


@dataclass
class Rig:
    client: httpx.AsyncClient
    headers: dict[str, str]
    server: DevnetServer
    recipient: str
    in_flight: list[int]  # fetches under way now, and the most at once, [now, most]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A devnet at height 8 whose only txs send 1.5 ATOM (height 6) and 3 ATOM (height 8) to
    `recipient`; heights below 3 are pruned by its node."""
    chain = DevnetChain(DevnetConfig(chain_id=CHAIN, block_time=0, history=5, txs_per_block=0, seed=3))
    async with DevnetServer(chain, run_clock=False) as server:
        sender, recipient = chain.book.accounts[0], chain.book.accounts[1]
        chain.schedule_transfer(sender, recipient, 1_500_000, height=6)
        chain.schedule_transfer(sender, recipient, 3_000_000, height=8)
        chain.advance(3)
        server.faults.prune_below = 3
        pool = EndpointPool(CHAIN, [server.url])
        in_flight = [0, 0]

        async def fetch(chain_id: str, height: int) -> DecodedBlock:
            assert chain_id == CHAIN
            in_flight[0] += 1
            in_flight[1] = max(in_flight)
            try:
                return await pool.fetch_height(height)
            finally:
                in_flight[0] -= 1

        async def latest(chain_id: str) -> int:
            return await pool.latest_height()

        env = Env(tmp_path, fetch_block=fetch, latest_height=latest)
        try:
            async with api_client(env.app) as client:
                _, h = await signup(client, "alice@example.com")
                yield Rig(client=client, headers=h, server=server, recipient=recipient, in_flight=in_flight)
        finally:
            env.close()
            await pool.aclose()


async def _test(rig: Rig, body: dict[str, Any]) -> httpx.Response:
    return await rig.client.post("/v1/queries/test", json={"chain_id": CHAIN, **body}, headers=rig.headers)


def _query(recipient: str) -> str:
    return f"transfer.recipient = '{recipient}'"


async def test_latest_block(rig: Rig) -> None:
    r = await _test(rig, {"query": _query(rig.recipient), "latest": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched_heights"] == [8] and body["preset"] is None and body["post_filter"] is None
    assert body["queries"] == [_query(rig.recipient)]
    [result] = body["results"]
    assert result["height"] == 8 and result["error"] is None and result["time"]
    assert [m["kind"] for m in result["matches"]] == ["tx"] and result["scopes_total"] >= 2


async def test_a_range_answers_per_height_and_reports_pruned_heights(rig: Rig) -> None:
    r = await _test(rig, {"query": _query(rig.recipient), "height_from": 1, "height_to": 8})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["height"] for x in body["results"]] == list(range(1, 9))
    assert body["matched_heights"] == [6, 8]
    pruned = [x for x in body["results"] if x["error"] is not None]
    assert [x["height"] for x in pruned] == [1, 2] and all("not available" in x["error"] for x in pruned)
    assert all(x["matches"] == [] for x in pruned)


async def test_a_preset_applies_its_post_filter(rig: Rig) -> None:
    plain = await _test(
        rig, {"preset": "funds_received", "params": {"address": rig.recipient}, "height_from": 5, "height_to": 8}
    )
    assert plain.status_code == 200, plain.text
    assert plain.json()["matched_heights"] == [6, 8] and plain.json()["preset"] == "funds_received"
    r = await _test(
        rig,
        {
            "preset": "funds_received",
            "params": {"address": rig.recipient, "min_amount": 2},
            "height_from": 5,
            "height_to": 8,
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["post_filter"] is not None and body["matched_heights"] == [8]  # 1.5 ATOM at 6 is below 2
    preview = await rig.client.post(
        "/v1/presets/funds_received/preview",
        json={"chain_id": CHAIN, "params": {"address": rig.recipient, "min_amount": 2}},
    )
    assert (body["queries"], body["post_filter"]) == (preview.json()["queries"], preview.json()["post_filter"])
    one = await _test(rig, {"preset": "funds_received", "params": {"address": rig.recipient}, "height": 6})
    assert one.json()["matched_heights"] == [6] and len(one.json()["results"]) == 1


async def test_the_original_form_answers_as_before(rig: Rig) -> None:
    r = await _test(rig, {"query": _query(rig.recipient), "height": 8})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"chain_id", "height", "time", "query", "scopes_total", "matches"}
    assert [m["kind"] for m in r.json()["matches"]] == ["tx"]


async def test_a_range_of_100_is_fetched_at_most_8_at_once(rig: Rig) -> None:
    rig.server.chain.advance(100)
    r = await _test(rig, {"query": "tm.event = 'NewBlock'", "height_from": 9, "height_to": 108})
    assert r.status_code == 200, r.text
    assert r.json()["matched_heights"] == list(range(9, 109))
    assert 1 < rig.in_flight[1] <= 8


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"latest": True}, "query, preset"),
        ({"query": "tm.event = 'Tx'", "preset": "funds_received", "latest": True}, "query, preset"),
        ({"query": "tm.event = 'Tx'", "params": {"address": "x"}, "latest": True}, "params"),
        ({"query": "tm.event = 'Tx'"}, "exactly one"),
        ({"query": "tm.event = 'Tx'", "height": 3, "latest": True}, "exactly one"),
        ({"query": "tm.event = 'Tx'", "height": 3, "height_from": 3, "height_to": 4}, "exactly one"),
        ({"query": "tm.event = 'Tx'", "height_from": 3}, "needs both"),
        ({"query": "tm.event = 'Tx'", "height_from": 9, "height_to": 3}, "height_from"),
        ({"query": "tm.event = 'Tx'", "height_from": 1, "height_to": 101}, "at most 100 heights"),
        ({"query": "tm.event =", "latest": True}, "tm.event ="),
        ({"preset": "no_such", "params": {}, "latest": True}, "unknown preset"),
        ({"preset": "funds_received", "params": {}, "latest": True}, "address"),
        ({"preset": "funds_received", "params": {"address": "<script>x</script>"}, "latest": True}, "address"),
        ({"chain_id": "nope-1", "query": "tm.event = 'Tx'", "latest": True}, "chain_id"),
    ],
)
async def test_malformed_tests_are_a_422_saying_what_to_send(rig: Rig, body: dict[str, Any], says: str) -> None:
    r = await _test(rig, body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert says in r.json()["detail"] and "<script>" not in r.text
    assert rig.in_flight[1] == 0  # refused before any block was fetched


async def test_query_tests_need_a_caller(rig: Rig) -> None:
    r = await rig.client.post("/v1/queries/test", json={"chain_id": CHAIN, "query": "tm.event = 'Tx'", "latest": True})
    assert r.status_code == 401


def test_the_bounds_are_the_documented_ones() -> None:
    assert (queries.MAX_TEST_HEIGHTS, queries.FETCH_CONCURRENCY) == (100, 8)


async def test_endpoints_that_serve_no_height_are_a_502(tmp_path: Path) -> None:
    async def down(chain_id: str, height: int) -> DecodedBlock:
        raise RpcUnavailable("connection refused")

    env = Env(tmp_path, fetch_block=down)
    try:
        async with api_client(env.app) as client:
            _, h = await signup(client, "alice@example.com")
            body = {"chain_id": CHAIN, "query": "tm.event = 'Tx'", "height_from": 1, "height_to": 3}
            r = await client.post("/v1/queries/test", json=body, headers=h)
            assert r.status_code == 502 and "could not serve" in r.json()["detail"], r.text
            r = await client.post(
                "/v1/queries/test", json={"chain_id": CHAIN, "query": "tm.event = 'Tx'", "latest": True}, headers=h
            )
            assert r.status_code == 503 and "latest height" in r.json()["detail"], r.text  # not wired here
    finally:
        env.close()

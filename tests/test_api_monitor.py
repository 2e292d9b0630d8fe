"""The monitor presets over the REST API on a chain configured without a REST endpoint: what works
without one (a consensus address counts missed blocks), what is refused and how, the preview, and
the query tester refusing a watch (the devnet e2e tests cover a chain with one)."""

from __future__ import annotations

import bech32
import httpx

from tests.apikit import ALICE, CHAIN, assert_problem, signup


def _bech(hrp: str, payload: bytes) -> str:
    data = bech32.convertbits(payload, 8, 5)
    assert data is not None
    return str(bech32.bech32_encode(hrp, data))


VALCONS = _bech("cosmosvalcons", bytes(range(20)))
VALOPER = _bech("cosmosvaloper", bytes(range(20)))


async def _hooked(client: httpx.AsyncClient) -> dict[str, str]:
    _, h = await signup(client, "alice@example.com")
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=h)
    assert r.status_code == 201, r.text
    return h


async def test_a_consensus_address_works_without_a_rest_endpoint(client: httpx.AsyncClient) -> None:
    h = await _hooked(client)
    params = {"validator": VALCONS, "thresholds": "5,1"}
    body = {"chain_id": CHAIN, "name": "v", "preset": "validator", "params": params}
    r = await client.post("/v1/subscriptions", json=body, headers=h)
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["queries"] == [] and sub["preset"] == "validator"
    assert sub["monitor"]["type"] == "validator" and sub["monitor"]["consensus_hex"] == bytes(range(20)).hex().upper()
    assert sub["monitor"]["window_thresholds"] == [1.0, 5.0] and sub["monitor"]["consecutive"] == [5]


async def test_what_cannot_be_watched_is_refused_with_why(client: httpx.AsyncClient) -> None:
    h = await _hooked(client)

    async def refused(preset: str, params: dict[str, str]) -> str:
        body = {"chain_id": CHAIN, "name": "v", "preset": preset, "params": params}
        return str(assert_problem(await client.post("/v1/subscriptions", json=body, headers=h), 422)["detail"])

    assert "cannot be looked up" in await refused("validator", {"validator": VALOPER})
    assert "valcons1" in await refused("validator", {"validator": VALOPER})
    assert (await refused("validator", {"validator": ALICE})).startswith("validator: cosmos1... is an account address")
    assert "checksum" in await refused("validator", {"validator": VALCONS[:-1] + "x"})
    assert "not a percentage" in await refused("validator", {"validator": VALCONS, "thresholds": "lots"})
    assert "above 0 and at most 100" in await refused("validator", {"validator": VALCONS, "thresholds": "150"})
    assert "not a duration" in await refused("voter", {"voter": ALICE, "remind": "tomorrow"})
    assert "operator address" in await refused("voter", {"voter": VALOPER})
    assert (await client.get("/v1/subscriptions", headers=h)).json()["items"] == []  # nothing was made


async def test_preview_shows_the_watch_and_the_tester_refuses_one(client: httpx.AsyncClient) -> None:
    h = await _hooked(client)
    r = await client.post("/v1/presets/voter/preview", json={"chain_id": CHAIN, "params": {"voter": ALICE}})
    assert r.status_code == 200, r.text
    assert r.json()["queries"] == [] and r.json()["monitor"] == {
        "type": "voter", "voter": ALICE, "remind_before": [86400, 3600]
    }  # fmt: skip
    kinds = {p["name"]: p["kind"] for p in (await client.get("/v1/presets")).json()["items"]}
    assert kinds["validator"] == kinds["voter"] == kinds["governance"] == "monitor" and kinds["funds_sent"] == "query"
    test = {"chain_id": CHAIN, "preset": "governance", "params": {}, "latest": True}
    detail = assert_problem(await client.post("/v1/queries/test", json=test, headers=h), 422)["detail"]
    assert "keeps state across blocks" in detail

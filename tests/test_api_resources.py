"""Chains, destinations, subscriptions and query tools over HTTP, against the real services.

The test event goes to a real webhook endpoint on loopback through core/dispatch's webhook
channel and is verified with the reference `standardwebhooks` package; the query tester fetches
a real block from the devnet's CometBFT RPC through the endpoint pool.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from core.chain.pool import EndpointPool
from core.dispatch.http import HttpClient
from core.dispatch.webhook import WebhookChannel
from core.watch.watcher import WatcherStats
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import ALICE, BOB, CHAIN, OTHER_CHAIN, Env, api_client, signup
from tests.fakes.webhook_receiver import Reply, WebhookReceiver


@pytest.fixture
async def receiver():
    async with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def http_client():
    client = HttpClient(allow_private_networks=True, total_timeout=5)
    yield client
    await client.close()


@pytest.fixture
def env(tmp_path: Path, http_client: HttpClient):
    stats = {CHAIN: WatcherStats(chain_id=CHAIN, cursor=95, tip=100)}
    e = Env(tmp_path, tester=WebhookChannel(http_client).send_test_event, stats=stats.get)
    yield e
    e.close()


async def test_chains_show_progress(client: httpx.AsyncClient) -> None:
    chains = {c["id"]: c for c in (await client.get("/v1/chains")).json()["items"]}
    assert chains[CHAIN] == {
        "id": CHAIN,
        "name": "Test chain",
        "bech32_prefix": "cosmos",
        "denoms": [{"base": "uatom", "display": "ATOM", "exponent": 6}],
        "explorer_tx_url": None,
        "height": 95,
        "tip": 100,
        "lag": 5,
        "status": "ok",
        "status_detail": None,
        "monitoring_problems": [],
    }
    assert chains[OTHER_CHAIN]["status"] == "not_watched"


async def test_webhook_destination_lifecycle_and_signed_test_event(
    client: httpx.AsyncClient, env: Env, receiver: WebhookReceiver
) -> None:
    account_id, h = await signup(client, "alice@example.com")
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": receiver.url("/hook")}, headers=h)
    assert r.status_code == 201
    created = r.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["kind"] == "webhook"
    dest_id = created["id"]

    listed = (await client.get("/v1/destinations", headers=h)).json()["items"]
    assert [d["id"] for d in listed] == [dest_id] and listed[0]["secret"] is None
    assert (await client.get(f"/v1/destinations/{dest_id}", headers=h)).json()["secret"] is None

    r = await client.post(f"/v1/destinations/{dest_id}/test", headers=h)
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["status"] == 200, r.text
    (got,) = receiver.received
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "webhook.test"

    receiver.script(Reply(status=500, body=b"boom"))
    r = await client.post(f"/v1/destinations/{dest_id}/test", headers=h)
    assert r.json()["ok"] is False and r.json()["status"] == 500

    r = await client.patch(f"/v1/destinations/{dest_id}", json={"rotate_secret": True, "name": "main"}, headers=h)
    rotated = r.json()
    assert rotated["secret"] != secret and rotated["previous_secret_expires_at"] is not None
    assert rotated["name"] == "main"
    r = await client.patch(f"/v1/destinations/{dest_id}", json={"enabled": False}, headers=h)
    assert r.json()["enabled"] is False and r.json()["secret"] is None

    await env.services.destinations.ensure_telegram_chat(account_id, 4242, chat_title="Alice's group")
    kinds = sorted(d["kind"] for d in (await client.get("/v1/destinations", headers=h)).json()["items"])
    assert kinds == ["telegram", "webhook"]

    assert (await client.delete(f"/v1/destinations/{dest_id}", headers=h)).status_code == 204
    assert (await client.get(f"/v1/destinations/{dest_id}", headers=h)).status_code == 404


async def test_destination_validation_and_quota(client: httpx.AsyncClient, env: Env) -> None:
    _, h = await signup(client, "alice@example.com")
    for body in (
        {"kind": "telegram", "url": "http://127.0.0.1/x"},
        {"kind": "webhook"},
        {"kind": "webhook", "url": "http://127.0.0.1/x", "secret": "mine"},
    ):
        r = await client.post("/v1/destinations", json=body, headers=h)
        assert r.status_code == 400, body
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": "gopher://x"}, headers=h)
    assert r.status_code == 422 and "http or https" in r.json()["detail"]
    env.services.destinations.max_per_account = 1
    assert (
        await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1/a"}, headers=h)
    ).status_code == 201
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1/b"}, headers=h)
    assert r.status_code == 403 and r.json()["type"] == "/problems/quota-exceeded"


async def test_subscriptions_crud_filters_and_query_errors(client: httpx.AsyncClient, env: Env) -> None:
    _, h = await signup(client, "alice@example.com")
    dest = (
        await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1/a"}, headers=h)
    ).json()
    r = await client.post(
        "/v1/subscriptions",
        json={
            "chain_id": CHAIN,
            "name": "to bob",
            "queries": [f"transfer.recipient='{BOB}'"],
            "destination_ids": [dest["id"]],
        },
        headers=h,
    )
    assert r.status_code == 201
    sub = r.json()
    assert sub["queries"] == [f"transfer.recipient = '{BOB}'"] and sub["destination_ids"] == [dest["id"]]
    r = await client.post(
        "/v1/subscriptions",
        json={
            "chain_id": CHAIN,
            "name": "preset",
            "preset": "funds_sent",
            "params": {"address": ALICE, "min_amount": "2"},
        },
        headers=h,
    )
    assert r.status_code == 201 and r.json()["post_filter"]["min_amount"] == 2_000_000
    preset_id = r.json()["id"]

    r = await client.post(
        "/v1/subscriptions", json={"chain_id": CHAIN, "name": "bad", "queries": ["tm.event = 'Tx' AND"]}, headers=h
    )
    assert r.status_code == 422
    problem = r.json()
    assert problem["type"] == "/problems/query-syntax" and problem["position"] == 19
    assert problem["detail"].endswith("^") and problem["query"] == "tm.event = 'Tx' AND"
    r = await client.post(
        "/v1/subscriptions", json={"chain_id": "nope", "name": "x", "queries": ["a.b EXISTS"]}, headers=h
    )
    assert r.status_code == 422 and "not a configured chain" in r.json()["detail"]
    r = await client.post("/v1/subscriptions", json={"chain_id": CHAIN, "name": "x", "preset": "nope"}, headers=h)
    assert r.status_code == 422 and "unknown preset" in r.json()["detail"]

    r = await client.patch(f"/v1/subscriptions/{preset_id}", json={"enabled": False}, headers=h)
    assert r.json()["enabled"] is False
    enabled = (await client.get("/v1/subscriptions?enabled=true", headers=h)).json()["items"]
    assert [s["id"] for s in enabled] == [sub["id"]]
    assert len((await client.get(f"/v1/subscriptions?chain_id={CHAIN}", headers=h)).json()["items"]) == 2
    assert (await client.get(f"/v1/subscriptions?chain_id={OTHER_CHAIN}", headers=h)).json()["items"] == []
    r = await client.patch(
        f"/v1/subscriptions/{sub['id']}", json={"queries": ["tm.event = 'Tx'"], "name": "all"}, headers=h
    )
    assert r.json()["queries"] == ["tm.event = 'Tx'"] and r.json()["name"] == "all"
    assert [s.id for s in env.matcher.match(CHAIN, {"tm.event": ["Tx"]})] == [sub["id"]]
    assert (await client.get(f"/v1/subscriptions/{sub['id']}", headers=h)).json()["name"] == "all"
    assert (await client.delete(f"/v1/subscriptions/{sub['id']}", headers=h)).status_code == 204
    assert (await client.get(f"/v1/subscriptions/{sub['id']}", headers=h)).status_code == 404
    assert env.matcher.match(CHAIN, {"tm.event": ["Tx"]}) == []


async def test_query_check(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/queries/check", json={"query": "tm.event='Tx' AND transfer.amount>5"})
    assert r.status_code == 200 and r.json() == {"valid": True, "normalized": "tm.event = 'Tx' AND transfer.amount > 5"}
    r = await client.post("/v1/queries/check", json={"query": "tm.event = "})
    assert r.status_code == 422 and r.json()["position"] == 11


async def test_query_test_against_a_real_block(tmp_path: Path) -> None:
    chain = DevnetChain(DevnetConfig(chain_id=CHAIN, block_time=0, history=3, txs_per_block=2))
    async with DevnetServer(chain, run_clock=False) as server:
        sender, recipient = chain.book.accounts[0], chain.book.accounts[1]
        injected = chain.schedule_transfer(sender, recipient, 1_500_000)
        chain.advance()
        pool = EndpointPool(CHAIN, [server.url])

        async def fetch(chain_id: str, height: int):
            assert chain_id == CHAIN
            return await pool.fetch_height(height)

        env = Env(tmp_path / "q", fetch_block=fetch)
        try:
            async with api_client(env.app) as client:
                _, h = await signup(client, "alice@example.com")
                query = f"transfer.recipient = '{recipient}' AND transfer.amount = '1500000uatom'"
                r = await client.post(
                    "/v1/queries/test", json={"chain_id": CHAIN, "query": query, "height": injected.height}, headers=h
                )
                assert r.status_code == 200, r.text
                result = r.json()
                assert result["height"] == injected.height and result["scopes_total"] >= 2
                assert [(m["kind"], m["tx_hash"]) for m in result["matches"]] == [("tx", injected.tx_hash)]
                r = await client.post(
                    "/v1/queries/test",
                    json={"chain_id": CHAIN, "query": "tm.event = 'NewBlock'", "height": 2},
                    headers=h,
                )
                assert [m["kind"] for m in r.json()["matches"]] == ["block"]
                r = await client.post(
                    "/v1/queries/test",
                    json={"chain_id": CHAIN, "query": "tm.event = 'Tx'", "height": 10_000},
                    headers=h,
                )
                assert r.status_code == 422 and "not available" in r.json()["detail"]
                r = await client.post(
                    "/v1/queries/test", json={"chain_id": CHAIN, "query": "tm.event =", "height": 2}, headers=h
                )
                assert r.status_code == 422 and r.json()["position"] == 10
                assert (
                    await client.post("/v1/queries/test", json={"chain_id": CHAIN, "query": "a.b EXISTS", "height": 2})
                ).status_code == 401
        finally:
            env.close()
            await pool.aclose()

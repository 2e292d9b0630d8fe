"""A watch made through the REST API shows what it watches: `monitor` in the subscription's
answer (the same shape the bots' /validator and /voter store), listed and fetched alike."""

from __future__ import annotations

import httpx

from tests.apikit import BOB, CHAIN, signup


async def test_a_voter_watch_answers_its_monitor(client: httpx.AsyncClient) -> None:
    _, auth = await signup(client, "voter@example.com")
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/hook"}, headers=auth)
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/subscriptions",
        json={"chain_id": CHAIN, "name": "Votes", "preset": "voter", "params": {"voter": BOB, "remind": "48h, 2h"}},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["queries"] == [] and created["monitor"] == {
        "type": "voter",
        "voter": BOB,
        "remind_before": [48 * 3600, 2 * 3600],
    }
    listed = (await client.get("/v1/subscriptions", headers=auth)).json()["items"]
    assert [s["monitor"] for s in listed] == [created["monitor"]]
    fetched = (await client.get(f"/v1/subscriptions/{created['id']}", headers=auth)).json()
    assert fetched["monitor"] == created["monitor"]


async def test_a_query_subscription_has_no_monitor(client: httpx.AsyncClient) -> None:
    _, auth = await signup(client, "plain@example.com")
    await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/hook"}, headers=auth)
    r = await client.post(
        "/v1/subscriptions", json={"chain_id": CHAIN, "name": "Q", "queries": ["tm.event = 'Tx'"]}, headers=auth
    )
    assert r.status_code == 201, r.text
    assert r.json()["monitor"] is None

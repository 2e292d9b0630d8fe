"""`silent` on subscriptions and `quiet_hours` on chat destinations over HTTP, against the real
services and store: what a client sends, what it reads back, and the problems for bad input."""

from __future__ import annotations

import httpx

from tests.apikit import BOB, CHAIN, Env, signup

NIGHT = {"start": "23:00", "end": "07:00", "timezone": "Europe/Berlin"}


async def test_a_subscription_is_made_silent_and_loud_again(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    await env.services.destinations.ensure_telegram_chat(account_id, 4242)
    body = {"chain_id": CHAIN, "name": "to bob", "queries": [f"transfer.recipient='{BOB}'"], "silent": True}
    r = await client.post("/v1/subscriptions", json=body, headers=h)
    assert r.status_code == 201 and r.json()["silent"] is True
    sub_id = r.json()["id"]
    assert env.repos.subscriptions.get(sub_id).silent is True
    r = await client.patch(f"/v1/subscriptions/{sub_id}", json={"silent": False}, headers=h)
    assert r.status_code == 200 and r.json()["silent"] is False
    r = await client.patch(f"/v1/subscriptions/{sub_id}", json={"name": "renamed"}, headers=h)
    assert r.json()["silent"] is False  # left out: unchanged
    r = await client.patch(f"/v1/subscriptions/{sub_id}", json={"silent": "yes"}, headers=h)
    assert r.status_code == 400 and "silent" in r.text
    del body["silent"]
    assert (await client.post("/v1/subscriptions", json=body, headers=h)).json()["silent"] is False


async def test_quiet_hours_of_a_chat_are_set_normalised_and_turned_off(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    chat = await env.services.destinations.ensure_telegram_chat(account_id, 4242)
    assert (await client.get(f"/v1/destinations/{chat.id}", headers=h)).json()["quiet_hours"] is None
    typed = {"start": "23:00", "end": "7:00", "timezone": "europe/berlin"}
    r = await client.patch(f"/v1/destinations/{chat.id}", json={"quiet_hours": typed}, headers=h)
    assert r.status_code == 200 and r.json()["quiet_hours"] == NIGHT
    r = await client.patch(f"/v1/destinations/{chat.id}", json={"name": "night owls"}, headers=h)
    assert r.json()["quiet_hours"] == NIGHT and r.json()["name"] == "night owls"  # left out: unchanged
    r = await client.patch(f"/v1/destinations/{chat.id}", json={"quiet_hours": None}, headers=h)
    assert r.status_code == 200 and r.json()["quiet_hours"] is None
    same = {"start": "07:00", "end": "07:00", "timezone": "UTC"}
    r = await client.patch(f"/v1/destinations/{chat.id}", json={"quiet_hours": same}, headers=h)
    assert r.json()["quiet_hours"] is None  # start == end: no window
    dm = await env.services.destinations.ensure_discord(account_id, user_id=777)
    r = await client.patch(f"/v1/destinations/{dm.id}", json={"quiet_hours": NIGHT}, headers=h)
    assert r.status_code == 200 and r.json()["quiet_hours"] == NIGHT


async def test_bad_quiet_hours_are_problems_and_change_nothing(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    chat = await env.services.destinations.ensure_telegram_chat(account_id, 4242, chat_title="Group")
    for window, status, detail in (
        ({**NIGHT, "start": "25:00"}, 422, "'25:00' is not a time of day: use HH:MM, from 00:00 to 23:59"),
        ({**NIGHT, "end": "7-8"}, 422, "'7-8' is not a time of day"),
        ({**NIGHT, "timezone": "Europe/Berln"}, 422, "I don't know the timezone 'Europe/Berln'. Did you mean"),
        ({**NIGHT, "timezone": "E" * 1_000}, 400, "timezone"),
        ({**NIGHT, "timezone": "E" * 10_000}, 413, ""),  # over the API's body limit before any parsing
        ({"start": "23:00", "end": "07:00"}, 400, "timezone"),
    ):
        change = {"name": "changed", "quiet_hours": window}
        r = await client.patch(f"/v1/destinations/{chat.id}", json=change, headers=h)
        assert r.status_code == status, (window, r.text)
        problem = r.json()
        assert problem["status"] == status and detail in r.text  # 400s name the field in `errors`
        assert len(r.text) < 600  # a long timezone is not echoed back
        assert r.headers["content-type"].startswith("application/problem+json")
    stored = env.repos.destinations.get(chat.id)
    assert stored.name == "Group" and stored.quiet_hours is None  # nothing of the refused changes was kept
    hook = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1/a"}, headers=h)
    r = await client.patch(f"/v1/destinations/{hook.json()['id']}", json={"quiet_hours": NIGHT}, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"] == "quiet_hours: only Telegram and Discord destinations have quiet hours"

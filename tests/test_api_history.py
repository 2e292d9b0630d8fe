"""History over HTTP: newest-first cursor pages, filters, one notification with attempts,
redelivery, dead letters and gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from core.models import DeadLetter, DeliveryAttempt, Gap
from tests.apikit import CHAIN, OTHER_CHAIN, Env, seed_notifications, signup
from tests.seeding import put_now

T0 = datetime(2024, 5, 1, tzinfo=UTC)


async def _pages(client: httpx.AsyncClient, h: dict[str, str], query: str = "", limit: int = 40) -> list[str]:
    ids: list[str] = []
    url = f"/v1/notifications?limit={limit}{query}"
    cursor = None
    while True:
        r = await client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        ids += [n["id"] for n in body["items"]]
        if body["next_cursor"] is None:
            return ids
        cursor = body["next_cursor"]


async def test_notifications_paginate_newest_first_with_filters(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    await env.services.destinations.ensure_telegram_chat(account_id, 42)
    sub = await env.services.subscriptions.create(account_id, chain_id=CHAIN, name="x", queries=["tm.event = 'Tx'"])
    made = seed_notifications(env.repos, account_id, sub.id, 250, start=T0)
    other = seed_notifications(env.repos, account_id, "sub_old", 3, start=T0, chain_id=OTHER_CHAIN)

    first = (await client.get("/v1/notifications", headers=h)).json()
    assert len(first["items"]) == 50 and first["items"][0]["id"] == made[-1].id
    assert first["items"][0]["events"][0]["type"] == "transfer"
    assert await _pages(client, h, f"&subscription_id={sub.id}") == [n.id for n in reversed(made)]
    assert await _pages(client, h, f"&chain_id={OTHER_CHAIN}") == [n.id for n in reversed(other)]
    since, until = made[100].time.isoformat(), made[110].time.isoformat()
    window = await _pages(client, h, f"&since={since.replace('+00:00', 'Z')}&until={until.replace('+00:00', 'Z')}", 4)
    assert window == [n.id for n in reversed(made[100:110])]
    naive = made[100].time.replace(tzinfo=None).isoformat()
    assert len(await _pages(client, h, f"&since={naive}", 200)) == 150  # made[100:] (the other chain is older)
    assert len((await client.get("/v1/notifications?limit=200", headers=h)).json()["items"]) == 200


async def test_notification_detail_redeliver_and_dead_letters(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    dest = (
        await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/h"}, headers=h)
    ).json()
    (n,) = seed_notifications(env.repos, account_id, "sub_1", 1, start=T0, destination_ids=(dest["id"],))
    put_now(
        env.repos.attempts,
        DeliveryAttempt(
            notification_id=n.id, destination_id=dest["id"], attempt=1, at=T0, outcome="failed", http_status=502
        ),
    )
    put_now(
        env.repos.dead_letters,
        DeadLetter(
            notification_id=n.id, destination_id=dest["id"], owner_id=account_id, attempts=8, last_error="x", dead_at=T0
        ),
    )
    detail = (await client.get(f"/v1/notifications/{n.id}", headers=h)).json()
    assert detail["notification"]["id"] == n.id
    assert [(a["attempt"], a["http_status"]) for a in detail["attempts"]] == [(1, 502)]
    dead = (await client.get("/v1/dead-letters", headers=h)).json()
    assert [d["notification_id"] for d in dead["items"]] == [n.id] and dead["next_cursor"] is None

    r = await client.post(f"/v1/notifications/{n.id}/redeliver", headers=h)
    assert r.status_code == 202 and r.json() == {"notification_id": n.id, "queued_destination_ids": [dest["id"]]}
    assert env.outbox.get(n.id, dest["id"]) is not None
    assert (await client.get("/v1/dead-letters", headers=h)).json()["items"] == []
    r = await client.post(f"/v1/notifications/{n.id}/redeliver?destination_id=dst_other", headers=h)
    assert r.status_code == 422
    assert (await client.get("/v1/notifications/ntf_nope", headers=h)).status_code == 404


async def test_gaps_are_visible_to_every_account(client: httpx.AsyncClient, env: Env) -> None:
    _, h = await signup(client, "alice@example.com")
    put_now(env.repos.gaps, Gap(chain_id=CHAIN, height=7, reason="pruned on every endpoint", recorded_at=T0))
    put_now(env.repos.gaps, Gap(chain_id=OTHER_CHAIN, height=9, reason="pruned", recorded_at=T0 + timedelta(1)))
    assert [g["height"] for g in (await client.get("/v1/gaps", headers=h)).json()["items"]] == [9, 7]
    assert [g["height"] for g in (await client.get(f"/v1/gaps?chain_id={CHAIN}", headers=h)).json()["items"]] == [7]
    assert (await client.get("/v1/gaps")).status_code == 401

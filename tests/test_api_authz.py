"""Authorization matrix: a second account tries every read and write on the first account's
objects and gets 404 every time (existence is never leaked), and nothing of the first account
changes. Listings of the second account never show the first account's objects."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest

from core.models import DeadLetter
from tests.apikit import CHAIN, Env, api_client, seed_notifications, signup
from tests.seeding import put_now

T0 = datetime(2024, 5, 1, tzinfo=UTC)

# (method, path, json body); {dst} {tg} {sub} {ntf} {key} are the first account's ids.
ATTEMPTS: list[tuple[str, str, dict | None]] = [
    ("GET", "/v1/destinations/{dst}", None),
    ("GET", "/v1/destinations/{tg}", None),
    ("PATCH", "/v1/destinations/{dst}", {"enabled": False}),
    ("PATCH", "/v1/destinations/{dst}", {"rotate_secret": True}),
    ("PATCH", "/v1/destinations/{dst}", {"url": "http://127.0.0.1:1/stolen"}),
    ("PATCH", "/v1/destinations/{tg}", {"name": "mine"}),
    ("DELETE", "/v1/destinations/{dst}", None),
    ("DELETE", "/v1/destinations/{tg}", None),
    ("POST", "/v1/destinations/{dst}/test", None),
    ("GET", "/v1/subscriptions/{sub}", None),
    ("PATCH", "/v1/subscriptions/{sub}", {"enabled": False}),
    ("PATCH", "/v1/subscriptions/{sub}", {"queries": ["tm.event = 'Tx'"]}),
    ("DELETE", "/v1/subscriptions/{sub}", None),
    (
        "POST",
        "/v1/subscriptions",
        {"chain_id": CHAIN, "name": "x", "queries": ["a.b EXISTS"], "destination_ids": ["{dst}"]},
    ),
    ("PATCH", "/v1/subscriptions/{own_sub}", {"destination_ids": ["{tg}"]}),
    ("GET", "/v1/notifications?subscription_id={sub}", None),
    ("GET", "/v1/notifications/{ntf}", None),
    ("POST", "/v1/notifications/{ntf}/redeliver", None),
    ("POST", "/v1/notifications/{ntf}/redeliver?destination_id={dst}", None),
    ("DELETE", "/v1/api-keys/{key}", None),
]


class World(msgspec.Struct):
    env: Env
    client: httpx.AsyncClient
    ids: dict[str, str]
    a: dict[str, str]
    b: dict[str, str]


@pytest.fixture
async def world(tmp_path: Path):
    env = Env(tmp_path)
    async with api_client(env.app) as client:
        alice, a = await signup(client, "alice@example.com")
        _, b = await signup(client, "bob@example.com")
        dst = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=a)
        tg = await env.services.destinations.ensure_telegram_chat(alice, 1234)
        sub = await client.post(
            "/v1/subscriptions",
            json={
                "chain_id": CHAIN,
                "name": "a",
                "queries": ["a.b EXISTS"],
                "destination_ids": [dst.json()["id"], tg.id],
            },
            headers=a,
        )
        await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/b"}, headers=b)
        own_sub = await client.post(
            "/v1/subscriptions", json={"chain_id": CHAIN, "name": "b", "queries": ["a.b EXISTS"]}, headers=b
        )
        (ntf,) = seed_notifications(
            env.repos, alice, sub.json()["id"], 1, start=T0, destination_ids=(dst.json()["id"],)
        )
        put_now(
            env.repos.dead_letters,
            DeadLetter(
                notification_id=ntf.id,
                destination_id=dst.json()["id"],
                owner_id=alice,
                attempts=8,
                last_error="x",
                dead_at=T0,
            ),
        )
        key = (await client.get("/v1/api-keys", headers=a)).json()["items"][0]["id"]
        ids = {
            "dst": dst.json()["id"],
            "tg": tg.id,
            "sub": sub.json()["id"],
            "ntf": ntf.id,
            "key": key,
            "own_sub": own_sub.json()["id"],
        }
        yield World(env=env, client=client, ids=ids, a=a, b=b)
    env.close()


async def _snapshot(w: World) -> list:
    c, a = w.client, w.a
    return [
        (await c.get(f"/v1/destinations/{w.ids['dst']}", headers=a)).json(),
        (await c.get(f"/v1/destinations/{w.ids['tg']}", headers=a)).json(),
        (await c.get(f"/v1/subscriptions/{w.ids['sub']}", headers=a)).json(),
        (await c.get(f"/v1/notifications/{w.ids['ntf']}", headers=a)).json(),
        (await c.get("/v1/dead-letters", headers=a)).json(),
        (await c.get("/v1/api-keys", headers=a)).json()["items"],
        w.env.outbox.get(w.ids["ntf"], w.ids["dst"]),
    ]


def _fill(template: object, ids: dict[str, str]) -> object:
    if template is None:
        return None
    text = msgspec.json.encode(template).decode()
    for name, value in ids.items():
        text = text.replace("{" + name + "}", value)
    return msgspec.json.decode(text)


@pytest.mark.parametrize(("method", "path", "body"), ATTEMPTS, ids=[f"{m} {p}" for m, p, _ in ATTEMPTS])
async def test_other_account_gets_404(world: World, method: str, path: str, body: dict | None) -> None:
    before = await _snapshot(world)
    r = await world.client.request(method, path.format(**world.ids), json=_fill(body, world.ids), headers=world.b)
    assert r.status_code in (403, 404), r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert "whsec_" not in r.text and "127.0.0.1:9/a" not in r.text  # nothing of the first account shows
    assert await _snapshot(world) == before


async def test_listings_show_only_own_objects(world: World) -> None:
    c, b = world.client, world.b
    for url in ("/v1/destinations", "/v1/subscriptions", "/v1/api-keys"):
        listed = (await c.get(url, headers=b)).json()["items"]
        assert not any(x["id"] in world.ids.values() and x["id"] != world.ids["own_sub"] for x in listed), url
    assert (await c.get("/v1/notifications", headers=b)).json()["items"] == []
    assert (await c.get("/v1/dead-letters", headers=b)).json()["items"] == []
    # and the first account does see its own
    assert len((await c.get("/v1/notifications", headers=world.a)).json()["items"]) == 1


@pytest.mark.parametrize(("method", "path", "body"), ATTEMPTS, ids=[f"{m} {p}" for m, p, _ in ATTEMPTS])
async def test_anonymous_gets_401(world: World, method: str, path: str, body: dict | None) -> None:
    r = await world.client.request(method, path.format(**world.ids), json=_fill(body, world.ids))
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"

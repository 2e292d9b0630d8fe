"""Accounts and auth over HTTP: registration, login cookie, logout, /me, API keys, throttling, link codes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from api.throttle import LoginThrottle
from tests.apikit import PASSWORD, Env, MovableClock, api_client, same_origin, signup


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def env(tmp_path: Path, clock: MovableClock):
    e = Env(tmp_path, clock=clock, throttle=LoginThrottle(per_email=3, per_address=5, window=60))
    yield e
    e.close()


async def test_register_login_me_logout(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/accounts", json={"email": "Alice@Example.com", "password": PASSWORD})
    assert r.status_code == 201
    body = r.json()
    assert body["email"] == "alice@example.com" and "password_hash" not in body
    assert (
        await client.post("/v1/accounts", json={"email": "alice@example.com", "password": PASSWORD})
    ).status_code == 409
    r = await client.post("/v1/accounts", json={"email": "bob@example.com", "password": "short"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"

    assert (await client.get("/v1/me")).status_code == 401
    r = await client.post("/v1/sessions", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 201
    cookie = r.headers["set-cookie"]
    assert "mp_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http here
    me = (await client.get("/v1/me")).json()
    assert me["id"] == body["id"] and me["identities"][0]["kind"] == "email"

    r = await client.delete("/v1/sessions", headers=same_origin(client))
    assert r.status_code == 204 and "Max-Age=0" in r.headers["set-cookie"]
    client.cookies.clear()
    assert (await client.get("/v1/me")).status_code == 401


async def test_cookie_is_secure_over_tls(env: Env) -> None:
    async with api_client(env.app, "https://testserver.local") as client:
        await client.post("/v1/accounts", json={"email": "alice@example.com", "password": PASSWORD})
        r = await client.post("/v1/sessions", json={"email": "alice@example.com", "password": PASSWORD})
        assert "Secure" in r.headers["set-cookie"]


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    await client.post("/v1/accounts", json={"email": "alice@example.com", "password": PASSWORD})
    wrong = await client.post("/v1/sessions", json={"email": "alice@example.com", "password": "nope nope"})
    unknown = await client.post("/v1/sessions", json={"email": "who@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_login_is_throttled_per_email_and_per_address(client: httpx.AsyncClient) -> None:
    await client.post("/v1/accounts", json={"email": "alice@example.com", "password": PASSWORD})
    for _ in range(3):
        r = await client.post("/v1/sessions", json={"email": "alice@example.com", "password": "wrong pass"})
        assert r.status_code == 401
    r = await client.post("/v1/sessions", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 429
    assert 0 < int(r.headers["retry-after"]) <= 60
    assert r.json()["type"] == "/problems/throttled"
    # other emails from the same address: allowed until the per-address limit (5 failures)
    for i in range(2):
        r = await client.post("/v1/sessions", json={"email": f"x{i}@example.com", "password": "wrong pass"})
        assert r.status_code == 401
    r = await client.post("/v1/sessions", json={"email": "y@example.com", "password": "wrong pass"})
    assert r.status_code == 429


async def test_api_keys_lifecycle(client: httpx.AsyncClient, clock: MovableClock) -> None:
    _, headers = await signup(client, "alice@example.com")
    r = await client.post("/v1/api-keys", json={"name": "deploy"}, headers=headers)
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("mp_") and created["prefix"] == created["key"][:10]
    listed = (await client.get("/v1/api-keys", headers=headers)).json()["items"]
    assert {k["name"] for k in listed} == {"tests", "deploy"}
    assert all(k["key"] is None for k in listed)
    second = {"Authorization": f"Bearer {created['key']}"}
    assert (await client.get("/v1/me", headers=second)).status_code == 200
    assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=headers)).status_code == 204
    r = await client.get("/v1/me", headers=second)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert (await client.delete("/v1/api-keys/key_nope", headers=headers)).status_code == 404

    expiring = (
        await client.post(
            "/v1/api-keys",
            json={"name": "short", "expires_at": (clock.now + timedelta(hours=1)).isoformat()},
            headers=headers,
        )
    ).json()["key"]
    clock.advance(timedelta(hours=2))
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {expiring}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer mp_forged", "Bearer ", "Basic dXNlcjpwYXNz", "mp_nobearer", "Bearer " + "x" * 5000],
)
async def test_bad_authorization_headers_are_401(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/v1/me", headers={"Authorization": header})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"


async def test_forged_session_cookie_is_401(client: httpx.AsyncClient) -> None:
    client.cookies.set("mp_session", "forged")
    assert (await client.get("/v1/me")).status_code == 401


async def test_link_code_joins_a_telegram_user(client: httpx.AsyncClient, env: Env) -> None:
    _, headers = await signup(client, "alice@example.com")
    r = await client.post("/v1/link-codes", headers=headers)
    assert r.status_code == 201
    code = r.json()["code"]
    assert len(code) == 8 and code in r.json()["instructions"]
    await env.services.accounts.redeem_link_code(code, "telegram", "555", "alice_tg")
    me = (await client.get("/v1/me", headers=headers)).json()
    assert {(i["kind"], i["external_id"]) for i in me["identities"]} == {
        ("email", "alice@example.com"),
        ("telegram", "555"),
    }

"""CSRF: writes authenticated by the session cookie must come from the API's own origin (or a
configured CORS origin); API keys are not ambient credentials and need no Origin. Over real HTTP
(uvicorn on 127.0.0.1), with headers as browsers send them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from core.config import ApiConfig
from core.dispatch.http import HttpClient
from core.dispatch.webhook import WebhookChannel
from core.services.records import LinkCodeRepository
from tests.apikit import PASSWORD, Env, make_config, seed_notifications, signup
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.loopback_api import serve_api

PROBLEM = "application/problem+json"
EVIL = "https://evil.example"

CROSS_ORIGIN = [
    {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},  # a form or fetch on another site
    {"Origin": EVIL},  # a browser without Fetch Metadata
    {"Origin": "http://sub.127.0.0.1.nip.io", "Sec-Fetch-Site": "same-site"},  # a sibling subdomain
    {"Sec-Fetch-Site": "cross-site"},  # no Origin at all
    {"Origin": "null"},  # a sandboxed frame or a file: page
]


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def http_client() -> AsyncIterator[HttpClient]:
    client = HttpClient(allow_private_networks=True, total_timeout=5)
    yield client
    await client.close()


def _env(path: Path, http_client: HttpClient, **api: object) -> Env:
    config = make_config()
    config.api = ApiConfig(cors_origins=["https://app.example"], max_body_bytes=8 * 1024, **api)  # type: ignore[arg-type]
    return Env(path, config=config, tester=WebhookChannel(http_client).send_test_event)


@pytest.fixture
def env(tmp_path: Path, http_client: HttpClient):
    e = _env(tmp_path, http_client)
    yield e
    e.close()


@pytest.fixture
async def base(env: Env) -> AsyncIterator[str]:
    async with serve_api(env.app) as url:
        yield url


@contextlib.asynccontextmanager
async def _logged_in(
    base: str, email: str = "alice@example.com"
) -> AsyncIterator[tuple[httpx.AsyncClient, str, dict[str, str]]]:
    """A client holding a session cookie, its account id and an API key's headers."""
    async with httpx.AsyncClient(base_url=base) as client:
        account_id, bearer = await signup(client, email)
        r = await client.post("/v1/sessions", json={"email": email, "password": PASSWORD})
        assert r.status_code == 201 and client.cookies.get("mp_session")
        yield client, account_id, bearer


def _refused(r: httpx.Response) -> dict:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"] == "/problems/cross-origin" and body["status"] == 403
    assert "API key" in body["detail"]
    return body


async def test_cross_origin_body_less_writes_with_the_cookie_are_refused_and_nothing_happens(
    env: Env, base: str, receiver: WebhookReceiver
) -> None:
    async with _logged_in(base) as (client, account_id, bearer):
        r = await client.post("/v1/destinations", json={"kind": "webhook", "url": receiver.url()}, headers=bearer)
        dest = r.json()["id"]
        (n,) = seed_notifications(
            env.repos, account_id, "sub_1", 1, start=datetime(2024, 1, 1, tzinfo=UTC), destination_ids=(dest,)
        )
        links = LinkCodeRepository(env.store)
        for headers in CROSS_ORIGIN:
            _refused(await client.post(f"/v1/notifications/{n.id}/redeliver", headers=headers))
            _refused(await client.post(f"/v1/destinations/{dest}/test", headers=headers))
            _refused(await client.post("/v1/link-codes", headers=headers))
            _refused(await client.delete(f"/v1/destinations/{dest}", headers=headers))
        # Nothing happened: nothing queued, no test event sent, no code made, the destination is there.
        assert env.outbox.get(n.id, dest) is None
        assert receiver.received == []
        assert links.of_account(account_id) == []
        assert (await client.get(f"/v1/destinations/{dest}", headers={"Origin": EVIL})).status_code == 200

        # The same requests from our own pages (and from the configured CORS origin) work, and
        # so do those with neither header: not a browser, so no forgery (curl with its cookie).
        own = ({"Sec-Fetch-Site": "same-origin"}, {"Origin": base}, {"Origin": "https://app.example"}, {})
        for i, headers in enumerate(own):
            r = await client.post(f"/v1/notifications/{n.id}/redeliver", headers=headers)
            assert r.status_code == 202, r.text
            assert env.outbox.get(n.id, dest) is not None
            r = await client.post(f"/v1/destinations/{dest}/test", headers=headers)
            assert r.status_code == 200 and r.json()["ok"] is True
            assert len(receiver.received) == i + 1
            r = await client.post("/v1/link-codes", headers=headers)
            assert r.status_code == 201 and len(r.json()["code"]) == 8


async def test_an_api_key_needs_no_origin(env: Env, base: str, receiver: WebhookReceiver) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        _, bearer = await signup(client, "bob@example.com")  # signup drops the cookie
        dest = (
            await client.post("/v1/destinations", json={"kind": "webhook", "url": receiver.url()}, headers=bearer)
        ).json()
        for headers in ({}, {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}):
            r = await client.post(f"/v1/destinations/{dest['id']}/test", headers={**bearer, **headers})
            assert r.status_code == 200, r.text
            assert (await client.post("/v1/link-codes", headers={**bearer, **headers})).status_code == 201
        assert len(receiver.received) == 2


async def test_login_from_another_site_is_refused_and_sets_no_cookie(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        await signup(client, "carol@example.com")
        for headers in ({"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
            r = await client.post(
                "/v1/sessions", json={"email": "carol@example.com", "password": PASSWORD}, headers=headers
            )
            body = _refused(r)
            assert "login" in body["detail"] and "set-cookie" not in r.headers
        # A program (no browser headers) and our own page log in.
        for headers in ({}, {"Origin": base, "Sec-Fetch-Site": "same-origin"}):
            r = await client.post(
                "/v1/sessions", json={"email": "carol@example.com", "password": PASSWORD}, headers=headers
            )
            assert r.status_code == 201 and "mp_session=" in r.headers["set-cookie"]


async def test_logout_from_another_site_is_refused(base: str) -> None:
    async with _logged_in(base, "dave@example.com") as (client, _, _):
        _refused(await client.delete("/v1/sessions", headers={"Origin": EVIL}))
        assert (await client.get("/v1/me")).status_code == 200  # still logged in
        assert (await client.delete("/v1/sessions", headers={"Origin": base})).status_code == 204
        client.cookies.clear()


async def test_the_public_url_is_our_origin_behind_a_proxy(tmp_path: Path, http_client: HttpClient) -> None:
    # Behind a TLS-terminating proxy the API sees Host 127.0.0.1:PORT over http, and the proxy
    # forwards the (Secure) cookie; the browser's Origin is the public one.
    env = _env(tmp_path, http_client, public_url="https://mempools.example/")
    try:
        async with serve_api(env.app) as url, httpx.AsyncClient(base_url=url) as client:
            login = {"email": "erin@example.com", "password": PASSWORD}
            assert (await client.post("/v1/accounts", json=login)).status_code == 201
            r = await client.post("/v1/sessions", json=login, headers={"Origin": "https://mempools.example"})
            assert r.status_code == 201 and "Secure" in r.headers["set-cookie"]
            cookie = {"Cookie": f"mp_session={r.cookies['mp_session']}"}
            r = await client.post("/v1/link-codes", headers={**cookie, "Origin": "https://mempools.example"})
            assert r.status_code == 201, r.text
            for origin in ("https://mempools.example.evil.example", "https://mempools.example:8443"):
                _refused(await client.post("/v1/link-codes", headers={**cookie, "Origin": origin}))
    finally:
        env.close()

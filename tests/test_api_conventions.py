"""What every route shares: problem+json for every error, bad input refused with a 4xx (never a
500), body size limit, JSON-only bodies, compression, CORS, OpenAPI 3.1, health and readiness."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import httpx
import pytest

from tests.apikit import CHAIN, PROBLEM, Env, assert_problem, seed_notifications, signup


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return (await signup(client, "alice@example.com"))[1]


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/nothing-here"), 404)
    r = await client.put("/v1/chains")
    assert_problem(r, 405)
    assert "GET" in r.headers["allow"]


async def test_oversized_body_is_413(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    big = b'{"chain_id": "x", "name": "' + b"a" * 20_000 + b'", "queries": ["a.b EXISTS"]}'
    r = await client.post("/v1/subscriptions", content=big, headers={**auth, "content-type": "application/json"})
    assert_problem(r, 413)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]
)
async def test_non_json_bodies_are_415(
    client: httpx.AsyncClient, auth: dict[str, str], content_type: str | None
) -> None:
    headers = dict(auth)
    if content_type:
        headers["content-type"] = content_type
    r = await client.post("/v1/queries/check", content=b'{"query": "a.b EXISTS"}', headers=headers)
    assert_problem(r, 415)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"query": "a.b EXISTS", "extra": 1}', "extra"),
        (b'{"query": 5}', None),
        (b'{"query": "a.b EXISTS"', None),
        (b"[]", None),
        (b'{"query": "\xff\xfe"}', None),
        (b"\xef\xbb\xbf{}", None),
        (b"", None),
    ],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, body: bytes, field: str | None) -> None:
    r = await client.post("/v1/queries/check", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(r, 400)
    if field:
        assert field in problem["errors"][0]["message"]


async def test_unknown_fields_are_refused_on_every_write(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for method, url, body in (
        ("POST", "/v1/accounts", {"email": "x@example.com", "password": "p" * 10, "admin": True}),
        ("POST", "/v1/api-keys", {"name": "k", "scopes": ["all"]}),
        ("POST", "/v1/destinations", {"kind": "webhook", "url": "http://127.0.0.1/x", "secret": "whsec_x"}),
        ("POST", "/v1/subscriptions", {"chain_id": CHAIN, "name": "x", "queries": ["a.b EXISTS"], "owner_id": "x"}),
        ("POST", "/v1/queries/test", {"chain_id": CHAIN, "query": "a.b EXISTS", "height": 1, "node": "x"}),
    ):
        r = await client.request(method, url, json=body, headers=auth)
        assert_problem(r, 400)


@pytest.mark.parametrize("limit", ["0", "201", "-1", "99999999999999999999", "ten", "1.5"])
async def test_bad_limits_are_400(client: httpx.AsyncClient, auth: dict[str, str], limit: str) -> None:
    assert_problem(await client.get(f"/v1/notifications?limit={limit}", headers=auth), 400)
    assert_problem(await client.get(f"/v1/dead-letters?limit={limit}", headers=auth), 400)


@pytest.mark.parametrize("since", ["yesterday", "2024-13-01T00:00:00Z", "99999-01-01"])
async def test_bad_times_are_400(client: httpx.AsyncClient, auth: dict[str, str], since: str) -> None:
    assert_problem(await client.get(f"/v1/notifications?since={since}", headers=auth), 400)


async def test_forged_cursors_are_4xx_and_never_leak(client: httpx.AsyncClient, env: Env) -> None:
    alice, h = await signup(client, "alice@example.com")
    bob, _ = await signup(client, "bob@example.com")
    seed_notifications(env.repos, bob, "sub_b", 5, start=datetime(2024, 1, 1, tzinfo=UTC))
    for cursor in ("!!!", "a" * 513, "%00", "====", "A"):
        r = await client.get("/v1/notifications", params={"cursor": cursor}, headers=h)
        assert 400 <= r.status_code < 500 and r.headers["content-type"] == PROBLEM
    for raw in (b"\xff" * 16, bob.encode() + b"\x00", b"\x00", b"\xff" * 300):
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        r = await client.get("/v1/notifications", params={"cursor": cursor}, headers=h)
        assert r.status_code == 200 and r.json()["items"] == [], (raw, r.text)
    assert alice != bob


async def test_long_path_ids_are_4xx(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    r = await client.get("/v1/subscriptions/" + "x" * 500, headers=auth)
    assert r.status_code in (400, 404) and r.headers["content-type"] == PROBLEM


async def test_compression(client: httpx.AsyncClient, auth: dict[str, str], env: Env) -> None:
    account_id = (await client.get("/v1/me", headers=auth)).json()["id"]
    seed_notifications(env.repos, account_id, "sub_1", 50, start=datetime(2024, 1, 1, tzinfo=UTC))
    plain = await client.get("/v1/notifications", headers={**auth, "accept-encoding": "identity"})
    br = await client.get("/v1/notifications", headers={**auth, "accept-encoding": "br"})
    gz = await client.get("/v1/notifications", headers={**auth, "accept-encoding": "gzip"})
    assert br.headers["content-encoding"] == "br" and gz.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert br.num_bytes_downloaded < plain.num_bytes_downloaded / 3
    assert gz.num_bytes_downloaded < plain.num_bytes_downloaded / 3
    assert br.content == gz.content == plain.content  # httpx decoded both


async def test_cors(client: httpx.AsyncClient) -> None:
    ok = await client.options(
        "/v1/me",
        headers={"origin": "https://app.example", "access-control-request-method": "GET"},
    )
    assert ok.status_code in (200, 204)
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    assert ok.headers["access-control-allow-credentials"] == "true"
    r = await client.get("/v1/chains", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


async def test_openapi_document_and_docs_ui(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/schema/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    for path in (
        "/v1/accounts",
        "/v1/sessions",
        "/v1/me",
        "/v1/api-keys",
        "/v1/api-keys/{key_id}",
        "/v1/link-codes",
        "/v1/chains",
        "/v1/destinations",
        "/v1/destinations/{destination_id}",
        "/v1/destinations/{destination_id}/test",
        "/v1/subscriptions",
        "/v1/subscriptions/{subscription_id}",
        "/v1/queries/check",
        "/v1/queries/test",
        "/v1/notifications",
        "/v1/notifications/{notification_id}",
        "/v1/notifications/{notification_id}/redeliver",
        "/v1/dead-letters",
        "/v1/gaps",
        "/health",
        "/ready",
    ):
        assert path in paths, path
    schemas = doc["components"]["schemas"]
    assert "SubscriptionCreate" in schemas
    # Request bodies refuse unknown fields, and the document says so; answers stay open.
    for body in ("AccountCreate", "LoginRequest", "DestinationCreate", "SubscriptionCreate", "SubscriptionPatch"):
        assert schemas[body]["additionalProperties"] is False, body
    assert "additionalProperties" not in schemas["SubscriptionOut"]
    assert "application/problem+json" in paths["/v1/subscriptions"]["post"]["responses"]["422"]["content"]
    ui = await client.get("/schema")
    assert ui.status_code == 200 and ui.headers["content-type"].startswith("text/html")


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert (await client.get("/ready")).json() == {"ready": True, "checks": {"store": "open"}}


async def test_body_field_named_like_a_service_is_a_400_not_a_500(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # Regression: Litestar blamed an injected dependency named "queries" for a bad body field
    # "queries" and answered 500; the dependency is now called query_tools.
    r = await client.patch("/v1/subscriptions/sub_x", json={"queries": True}, headers=auth)
    assert_problem(r, 400)


@pytest.mark.parametrize(
    "url",
    [
        "/v1/subscriptions/a%00b",
        "/v1/destinations/a%00b",
        "/v1/notifications/a%00b",
        "/v1/notifications?subscription_id=a%00b",
        "/v1/gaps?chain_id=a%00b",
    ],
)
async def test_nul_in_ids_is_never_a_500(client: httpx.AsyncClient, auth: dict[str, str], url: str) -> None:
    r = await client.get(url, headers=auth)
    assert r.status_code in (200, 404) and (r.status_code == 200 or r.headers["content-type"] == PROBLEM), r.text
    r = await client.post("/v1/notifications/a%00b/redeliver", headers=auth)
    assert_problem(r, 404)
    r = await client.post("/v1/accounts", json={"email": "a\u0000b@example.com", "password": "p" * 10})
    assert_problem(r, 422)

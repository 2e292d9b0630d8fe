"""Bad input is a 4xx problem, never a 500, and never echoed back at length: deeply nested JSON,
API key expiry times without a time zone, 100 KB query strings and queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import msgspec
import pytest

from api.json_depth import MAX_JSON_DEPTH
from api.problems import MAX_ECHO
from core.config import ApiConfig
from tests.apikit import ALICE, CHAIN, Env, api_client, assert_problem, make_config, signup


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return (await signup(client, "alice@example.com"))[1]


# -- deeply nested JSON -----------------------------------------------------------------------------
def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 3000])
async def test_deeply_nested_json_without_login_is_a_400(client: httpx.AsyncClient, depth: int) -> None:
    for body in (_nested(depth), b'{"query": ' + _nested(depth) + b"}"):
        r = await client.post("/v1/queries/check", content=body, headers={"content-type": "application/json"})
        problem = assert_problem(r, 400)
        assert problem["detail"] == f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        assert problem["type"] == "/problems/invalid-request"
    r = await client.post(
        "/v1/accounts", content=b'{"email": ' + _nested(1000) + b"}", headers={"content-type": "application/json"}
    )
    assert_problem(r, 400)


async def test_deeply_nested_json_in_every_authenticated_body_is_a_400(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    deep = _nested(1000).decode()
    for method, url, body in (
        ("POST", "/v1/subscriptions", f'{{"chain_id": "{CHAIN}", "name": "x", "params": {deep}}}'),
        ("PATCH", "/v1/subscriptions/sub_x", f'{{"queries": {deep}}}'),
        ("POST", "/v1/destinations", f'{{"kind": "webhook", "url": {deep}}}'),
        ("POST", "/v1/api-keys", f'{{"name": {deep}}}'),
        ("POST", "/v1/queries/test", f'{{"chain_id": "{CHAIN}", "query": "a.b EXISTS", "height": {deep}}}'),
    ):
        r = await client.request(method, url, content=body, headers={**auth, "content-type": "application/json"})
        assert assert_problem(r, 400)["detail"].startswith("JSON nested deeper"), (method, url)


async def test_brackets_inside_strings_and_real_nesting_still_work(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # Many brackets in a string are not nesting: the query is parsed (and refused for its syntax).
    query = "a.b = '" + "[{" * 500 + "' AND"
    r = await client.post("/v1/queries/check", json={"query": query})
    assert assert_problem(r, 422)["type"] == "/problems/query-syntax"
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=auth)
    assert r.status_code == 201, r.text
    r = await client.post(
        "/v1/subscriptions",
        json={"chain_id": CHAIN, "name": "in", "preset": "funds_received", "params": {"address": ALICE}},
        headers=auth,
    )
    assert r.status_code == 201, r.text


# -- API key expiry ---------------------------------------------------------------------------------
async def test_expires_at_without_a_time_zone_is_a_422_that_says_so(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for naive in ("2030-01-01T00:00:00", "2020-01-01T00:00:00"):
        r = await client.post("/v1/api-keys", json={"name": "k", "expires_at": naive}, headers=auth)
        problem = assert_problem(r, 422)
        assert problem["detail"] == "expires_at needs a time zone (e.g. 2027-01-01T00:00:00Z)"
    r = await client.post("/v1/api-keys", json={"name": "k", "expires_at": "2020-01-01T00:00:00Z"}, headers=auth)
    assert assert_problem(r, 422)["detail"] == "expires_at: must be in the future"
    keys = (await client.get("/v1/api-keys", headers=auth)).json()["items"]
    assert [k["name"] for k in keys] == ["tests"]  # nothing was made by the refused requests


async def test_expires_at_with_an_offset_is_kept_as_that_moment(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    moment = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    local = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    r = await client.post("/v1/api-keys", json={"name": "k", "expires_at": local.isoformat()}, headers=auth)
    assert r.status_code == 201, r.text
    assert datetime.fromisoformat(r.json()["expires_at"]) == moment
    key = r.json()["key"]
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})).status_code == 200


# -- no long echoes ---------------------------------------------------------------------------------
async def _raw_get(env: Env, path: str, query: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """One GET through the ASGI app with a query string longer than httpx will build (64 KB)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver.local")] + [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver.local", 80),
        "state": {},
    }
    messages: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        messages.append(message)

    await env.app(scope, receive, send)  # type: ignore[arg-type]
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/notifications", "since"),
        ("/v1/notifications", "limit"),
        ("/v1/notifications", "cursor"),
        ("/v1/notifications", "subscription_id"),
        ("/v1/subscriptions", "enabled"),
        ("/v1/gaps", "chain_id"),
        ("/v1/dead-letters", "limit"),
    ],
)
async def test_a_100_kb_query_string_is_not_echoed(env: Env, auth: dict[str, str], path: str, name: str) -> None:
    value = b"x" * 100_000
    status, body = await _raw_get(env, path, name.encode() + b"=" + value, auth)
    assert status == 400
    assert len(body) < 2 * MAX_ECHO + 300, len(body)
    detail = msgspec.json.decode(body)["detail"]
    assert detail.endswith(f"… ({len(path) + len(name) + 100_000 + len('Validation failed for GET ?=')} characters)")


async def test_a_100_kb_path_is_not_echoed(env: Env, auth: dict[str, str]) -> None:
    for path in ("/v1/subscriptions/" + "y" * 100_000, "/v1/nothing/" + "y" * 100_000):
        status, body = await _raw_get(env, path, b"", auth)
        assert status in (400, 404) and len(body) < 2 * MAX_ECHO + 300, (status, len(body))
        assert "characters)" in msgspec.json.decode(body)["detail"]


@pytest.fixture
def big_body_env(tmp_path: Path):
    config = make_config()
    config.api = ApiConfig(max_body_bytes=256 * 1024)
    e = Env(tmp_path, config=config)
    yield e
    e.close()


async def test_a_100_kb_query_in_a_body_is_not_echoed(big_body_env: Env) -> None:
    async with api_client(big_body_env.app) as client:
        r = await client.post("/v1/queries/check", json={"query": "a.b = '" + "x" * 100_000 + "'"})
        problem = assert_problem(r, 400)
        assert len(r.content) < 2 * MAX_ECHO + 300
        assert "xxxxxxxxxx" not in r.text and problem["errors"][0]["key"] == "query"


async def test_a_long_bad_query_is_cut_in_the_problem_but_keeps_its_caret(client: httpx.AsyncClient) -> None:
    query = "a.b = 1 AND " * 340 + "c.d =="  # ~4 KB, the longest a query may be
    r = await client.post("/v1/queries/check", json={"query": query})
    problem = assert_problem(r, 422)
    assert len(r.content) < 4 * MAX_ECHO + 300, len(r.content)
    assert problem["query"] == query[:MAX_ECHO] + f"… ({len(query)} characters)"
    assert problem["position"] > MAX_ECHO  # still the offset into the query as sent
    reason, window, caret = problem["detail"].split("\n")
    assert reason.endswith(f"at {problem['position']}") and window.startswith("...") and caret.endswith("^")

"""HEAD, OPTIONS and unsupported methods answer as HTTP says (RFC 9110): HEAD is the GET without
its body, OPTIONS lists `Allow`, a method a route lacks is a 405 problem with `Allow`."""

from __future__ import annotations

import re

import httpx

from tests.apikit import Env, signup
from tests.loopback_api import serve_api

PROBLEM = "application/problem+json"


def _get_paths(env: Env) -> list[str]:
    """Every GET route of the app, path parameters filled with an id nobody has."""
    paths = []
    for route in env.app.routes:
        if "GET" in getattr(route, "methods", ()):
            paths.append(re.sub(r"\{[^}]+\}", "dst_missing", route.path))
    return sorted(set(paths))


def _comparable(headers: httpx.Headers) -> dict[str, str]:
    """The headers but the date; a cookie by its name and attributes (a fresh random value on each
    request: the console's form cookie), and so the length of a compressed body that carries it."""
    out = {k: v for k, v in headers.items() if k != "date"}
    if "set-cookie" in out:
        out["set-cookie"] = re.sub(r"=[^;]*", "=…", out["set-cookie"], count=1)
        if "content-encoding" in out:
            out.pop("content-length", None)
    return out


async def test_every_get_route_answers_head_with_the_same_status_and_headers(env: Env) -> None:
    async with serve_api(env.app) as base, httpx.AsyncClient(base_url=base) as client:
        _, auth = await signup(client, "alice@example.com")
        dest = await client.post(
            "/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/hook"}, headers=auth
        )
        paths = [*_get_paths(env), f"/v1/destinations/{dest.json()['id']}"]
        assert len(paths) > 12
        statuses = set()
        for path in paths:
            for headers in (auth, {}, {**auth, "accept-encoding": "br"}):
                client.cookies.clear()  # a cookie one sets (the console's form cookie) must not change the other
                if path == "/v1/stream":  # never ends: its HEAD answers at once, as its GET starts
                    async with client.stream("GET", path, headers=headers) as streamed:
                        head = await client.head(path, headers=headers)
                        assert (head.status_code, head.content) == (streamed.status_code, b"")
                        framing = ("date", "transfer-encoding")  # h11 frames no body for HEAD
                        same = {k: v for k, v in streamed.headers.items() if k not in framing}
                        assert {k: v for k, v in head.headers.items() if k not in framing} == same
                    continue
                got = await client.get(path, headers=headers)
                client.cookies.clear()
                head = await client.head(path, headers=headers)
                assert head.status_code == got.status_code, path
                assert head.content == b"", path
                same = _comparable(got.headers)
                assert _comparable(head.headers) == same, path
                assert int(head.headers["content-length"]) == len(got.content) or "content-encoding" in got.headers
                statuses.add(got.status_code)
        assert {200, 401, 404} <= statuses  # lists, refused callers and missing objects alike
        # Compressed answers keep their encoding and length under HEAD.
        got = await client.get("/schema/openapi.json", headers={"accept-encoding": "br"})
        head = await client.head("/schema/openapi.json", headers={"accept-encoding": "br"})
        assert head.headers["content-encoding"] == got.headers["content-encoding"] == "br"
        assert head.headers["content-length"] == got.headers["content-length"] and head.content == b""


async def test_head_on_a_route_without_get_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    r = await client.head("/v1/queries/check")
    assert r.status_code == 405 and r.content == b""
    assert r.headers["allow"] == "POST, OPTIONS"
    assert r.headers["content-type"] == PROBLEM


async def test_options_answers_204_with_allow_on_every_route(client: httpx.AsyncClient, env: Env) -> None:
    for route in env.app.routes:
        methods = set(getattr(route, "methods", ()))
        if not methods:
            continue
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        r = await client.options(path)
        assert r.status_code == 204, path
        allowed = {m.strip() for m in r.headers["allow"].split(",")}
        expected = methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
        assert allowed == expected, (path, allowed)


async def test_unsupported_method_is_a_405_problem_with_allow(client: httpx.AsyncClient) -> None:
    for method, path, allow in (
        ("PUT", "/v1/chains", "GET, HEAD, OPTIONS"),
        ("DELETE", "/v1/queries/check", "POST, OPTIONS"),
        ("POST", "/v1/me", "GET, HEAD, OPTIONS"),
    ):
        r = await client.request(method, path)
        assert r.status_code == 405 and r.headers["content-type"] == PROBLEM, (method, path)
        assert r.json()["status"] == 405 and r.json()["title"] == "Method Not Allowed"
        assert r.headers["allow"] == allow, (method, path)


async def test_cors_preflight_still_works_for_configured_origins(client: httpx.AsyncClient) -> None:
    r = await client.options(
        "/v1/subscriptions",
        headers={
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-credentials"] == "true"

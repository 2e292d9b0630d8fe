"""Login and sign-up throttles of a real `mempools serve`, over real HTTP on loopback, real argon2 cost.

What is checked is what a client sees: 401 or 429 (a problem with Retry-After), and whose address
counts: the peer's, or the `X-Forwarded-For` client only when the peer is a trusted proxy.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.processes import MempoolsProcess

PASSWORD = "correct horse battery"


def _serve(tmp_path: Path, api_extra: str = "") -> MempoolsProcess:
    path = tmp_path / "config.toml"
    path.write_text(f'chains = []\n[api]\nport = 0\n{api_extra}[store]\npath = "{tmp_path / "data"}"\n')
    return MempoolsProcess("serve", "--config", str(path))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    proc = _serve(tmp_path)
    try:
        yield proc.api_url()
    finally:
        proc.kill()


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[str]:
    proc = _serve(tmp_path, 'trusted_proxies = ["127.0.0.1/32"]\n')
    try:
        yield proc.api_url()
    finally:
        proc.kill()


async def _logins(url: str, bodies_and_headers: list[tuple[dict[str, str], dict[str, str]]]) -> list[httpx.Response]:
    """All at once, each on its own connection."""
    limits = httpx.Limits(max_connections=len(bodies_and_headers))
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return list(
            await asyncio.gather(*(client.post("/v1/sessions", json=b, headers=h) for b, h in bodies_and_headers))
        )


def _assert_throttled(r: httpx.Response) -> None:
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "/problems/throttled" and body["status"] == 429
    assert int(r.headers["retry-after"]) > 0 and body["retry_after"] == int(r.headers["retry-after"])


async def test_concurrent_wrong_logins_for_one_email_are_counted_before_the_hash(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        r = await client.post("/v1/accounts", json={"email": "alice@example.com", "password": PASSWORD})
        assert r.status_code == 201, r.text
    wrong = ({"email": "alice@example.com", "password": "not the password"}, {})
    answers = await _logins(server, [wrong] * 40)
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= statuses[401] <= 5, statuses  # per_email = 5: the rest never reach the hash
    for r in answers:
        if r.status_code == 429:
            _assert_throttled(r)


async def test_signups_are_throttled_per_client_address(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        for i in range(10):
            r = await client.post("/v1/accounts", json={"email": f"user{i}@example.com", "password": PASSWORD})
            assert r.status_code == 201, r.text
        r = await client.post("/v1/accounts", json={"email": "one-more@example.com", "password": PASSWORD})
        assert r.status_code == 429
        _assert_throttled(r)
        assert "sign-ups" in r.json()["detail"]


def _forwarded(n: int, address: str | None = None) -> list[tuple[dict[str, str], dict[str, str]]]:
    """`n` wrong logins for `n` different emails, each claiming `address` or a different client."""
    return [
        (
            {"email": f"guess{i}@example.com", "password": "not the password"},
            {"X-Forwarded-For": address or f"203.0.113.{i + 1}"},
        )
        for i in range(n)
    ]


async def test_forwarded_for_from_an_untrusted_peer_does_not_change_the_address(server: str) -> None:
    answers = await _logins(server, _forwarded(25))
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {401: 20, 429: 5}, statuses  # per_address = 20, all counted against 127.0.0.1
    for r in answers:
        if r.status_code == 429:
            _assert_throttled(r)


async def test_forwarded_for_from_a_trusted_proxy_is_the_client_address(behind_proxy: str) -> None:
    spread = Counter(r.status_code for r in await _logins(behind_proxy, _forwarded(25)))
    assert spread == {401: 25}, spread  # 25 clients behind the proxy, one failure each
    one = Counter(r.status_code for r in await _logins(behind_proxy, _forwarded(25, "198.51.100.9")))
    assert one == {401: 20, 429: 5}, one  # one client behind the proxy: its own per-address limit

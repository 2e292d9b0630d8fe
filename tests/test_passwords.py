"""Password hashing runs on its own bounded pool: a sign-up burst neither delays DNS nor piles up.

Real argon2id at the production cost (64 MiB, t=3), the real store and services, the real app.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from api.throttle import SignupThrottle
from core.services.errors import OverloadedError
from core.services.passwords import Passwords
from tests.apikit import PASSWORD, Env, api_client


@pytest.fixture
def passwords() -> Passwords:
    return Passwords()  # the production cost: 2 workers, 32 waiting


async def test_sign_up_burst_does_not_delay_dns_resolution(tmp_path: Path, passwords: Passwords) -> None:
    env = Env(tmp_path, passwords=passwords)
    others = {t for t in threading.enumerate() if t.name.startswith("argon2")}  # earlier tests' pools
    try:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        burst = [
            asyncio.create_task(env.services.accounts.register(f"user{i}@example.com", PASSWORD)) for i in range(60)
        ]
        await asyncio.sleep(0)  # let every sign-up reach its hash
        await loop.getaddrinfo("localhost", 80)  # what a webhook to a host name does first
        resolved_after = time.monotonic() - started
        results = await asyncio.gather(*burst, return_exceptions=True)
        burst_took = time.monotonic() - started
        hashing_threads = sum(t.name.startswith("argon2") and t not in others for t in threading.enumerate())
    finally:
        env.close()
    # Hashing kept to its own two threads: the resolver's thread was free at once.
    assert resolved_after < min(1.0, burst_took / 4), (resolved_after, burst_took)
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, OverloadedError)]
    # 2 hashing + 32 waiting; the rest refused at once (a few more may fit if hashes finish meanwhile).
    assert len(created) + len(refused) == 60 and len(created) >= 34 and len(refused) >= 20, results
    assert hashing_threads <= 2  # so at most 2 x 64 MiB of argon2 memory at a time
    assert all(r.retry_after == 1 for r in refused)


async def test_a_full_hashing_queue_is_a_503_problem_not_a_pile_up(tmp_path: Path) -> None:
    env = Env(
        tmp_path,
        passwords=Passwords(workers=1, queue=1),
        signup_throttle=SignupThrottle(per_address=100),
    )
    try:
        async with api_client(env.app) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/v1/accounts", json={"email": f"u{i}@example.com", "password": PASSWORD})
                    for i in range(8)
                )
            )
    finally:
        env.close()
    created = [r for r in answers if r.status_code == 201]
    busy = [r for r in answers if r.status_code == 503]
    assert len(created) + len(busy) == 8 and len(created) >= 2 and busy, [r.status_code for r in answers]
    for r in busy:
        assert r.headers["content-type"] == "application/problem+json" and r.headers["retry-after"] == "1"
        body = r.json()
        assert body["type"] == "/problems/overloaded" and body["status"] == 503 and body["retry_after"] == 1


async def test_a_caller_that_gives_up_does_not_leak_a_slot() -> None:
    passwords = Passwords(workers=1, queue=1)
    first = asyncio.create_task(passwords.hash(PASSWORD))
    second = asyncio.create_task(passwords.hash(PASSWORD))  # waits behind the first
    await asyncio.sleep(0)
    second.cancel()
    assert (await first).startswith("$argon2id$")
    # Both slots are free again: two more hashes are accepted.
    assert all(
        h.startswith("$argon2id$") for h in await asyncio.gather(passwords.hash("a" * 8), passwords.hash("b" * 8))
    )

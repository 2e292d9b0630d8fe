"""`POST /v1/destinations/{id}/recover`: a destination's dead letters since a time go back to the
outbox, each once, in bounded calls; another account's destination is a 404 like an unknown one,
and a missing, unreadable or future `since` a 422 naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

import core.services.deliveries as deliveries
from core.models import DeadLetter, Notification, OutboxEntry
from core.store.base import WriteBatch
from tests.apikit import Env, seed_notifications, signup

T0 = datetime(2024, 5, 1, tzinfo=UTC)


async def _webhook(client: httpx.AsyncClient, h: dict[str, str], name: str) -> str:
    r = await client.post(
        "/v1/destinations", json={"kind": "webhook", "url": f"http://127.0.0.1:9/{name}", "name": name}, headers=h
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _bury(env: Env, owner_id: str, made: list[Notification], destination_id: str) -> None:
    """Each notification dead for `destination_id`, dead at its block time."""
    batch = WriteBatch()
    for n in made:
        env.repos.dead_letters.put(
            DeadLetter(
                notification_id=n.id,
                destination_id=destination_id,
                owner_id=owner_id,
                attempts=8,
                last_error="HTTP 502",
                dead_at=n.time,
            ),
            batch,
        )
    env.store.write(batch)


async def _dead_ids(client: httpx.AsyncClient, h: dict[str, str]) -> set[tuple[str, str]]:
    r = await client.get("/v1/dead-letters?limit=200", headers=h)
    assert r.status_code == 200, r.text
    return {(d["notification_id"], d["destination_id"]) for d in r.json()["items"]}


def _queued(env: Env) -> set[tuple[str, str]]:
    return {(e.notification_id, e.destination_id) for e in env.outbox.entries.scan()}


async def test_recover_queues_the_destinations_dead_letters_since_a_time_once(
    client: httpx.AsyncClient, env: Env
) -> None:
    owner, h = await signup(client, "alice@example.com")
    hook, other = await _webhook(client, h, "hook"), await _webhook(client, h, "other")
    made = seed_notifications(env.repos, owner, "sub_x", 10, start=T0, destination_ids=(hook, other))
    _bury(env, owner, made, hook)
    _bury(env, owner, made, other)
    since = made[4].time  # inclusive: made[4:] died at or after it

    r = await client.post(f"/v1/destinations/{hook}/recover", json={"since": since.isoformat()}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"queued": 6, "more": False, "next_cursor": None}
    assert _queued(env) == {(n.id, hook) for n in made[4:]}
    assert await _dead_ids(client, h) == {(n.id, hook) for n in made[:4]} | {(n.id, other) for n in made}
    detail = (await client.get(f"/v1/notifications/{made[4].id}", headers=h)).json()
    assert [p["destination_id"] for p in detail["pending"]] == [hook]

    # Again: the recovered ones are no longer dead letters, so nothing is queued twice.
    r = await client.post(f"/v1/destinations/{hook}/recover", json={"since": since.isoformat()}, headers=h)
    assert r.json() == {"queued": 0, "more": False, "next_cursor": None}
    assert env.outbox.depth() == 6


async def test_a_dead_letter_already_queued_again_is_not_queued_twice(client: httpx.AsyncClient, env: Env) -> None:
    owner, h = await signup(client, "alice@example.com")
    hook = await _webhook(client, h, "hook")
    made = seed_notifications(env.repos, owner, "sub_x", 3, start=T0, destination_ids=(hook,))
    _bury(env, owner, made, hook)
    batch = WriteBatch()  # made[0] was queued again since (a redelivery that is waiting for a retry)
    waiting = OutboxEntry(notification_id=made[0].id, destination_id=hook, owner_id=owner, due_at=T0, attempts=2)
    env.outbox.enqueue([waiting], batch)
    env.store.write(batch)
    r = await client.post(f"/v1/destinations/{hook}/recover", json={"since": T0.isoformat()}, headers=h)
    assert r.json()["queued"] == 2
    assert env.outbox.get(made[0].id, hook) == waiting  # left as it was
    assert await _dead_ids(client, h) == set()


async def test_recover_works_through_a_large_backlog_in_bounded_calls(
    client: httpx.AsyncClient, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliveries, "RECOVER_MAX_QUEUED", 4)
    monkeypatch.setattr(deliveries, "RECOVER_MAX_SCANNED", 6)
    owner, h = await signup(client, "alice@example.com")
    hook, other = await _webhook(client, h, "hook"), await _webhook(client, h, "other")
    made = seed_notifications(env.repos, owner, "sub_x", 15, start=T0, destination_ids=(hook, other))
    _bury(env, owner, made, hook)
    _bury(env, owner, made[:9], other)  # walked past, never queued
    answers = []
    cursor = None
    for _ in range(20):
        body = {"since": T0.isoformat()} | ({"cursor": cursor} if cursor else {})
        r = await client.post(f"/v1/destinations/{hook}/recover", json=body, headers=h)
        assert r.status_code == 200, r.text
        answers.append(r.json()["queued"])
        assert r.json()["more"] is (r.json()["next_cursor"] is not None)
        cursor = r.json()["next_cursor"]
        if not r.json()["more"]:
            break
    assert max(answers) <= 4 and sum(answers) == 15 and len(answers) > 3
    assert _queued(env) == {(n.id, hook) for n in made}
    # Calling again without the cursor finds nothing left either.
    r = await client.post(f"/v1/destinations/{hook}/recover", json={"since": T0.isoformat()}, headers=h)
    assert r.json()["queued"] == 0


async def test_recover_refuses_other_accounts_and_bad_times(client: httpx.AsyncClient, env: Env) -> None:
    alice, ha = await signup(client, "alice@example.com")
    _, hb = await signup(client, "bob@example.com")
    hook = await _webhook(client, ha, "hook")
    made = seed_notifications(env.repos, alice, "sub_x", 3, start=T0, destination_ids=(hook,))
    _bury(env, alice, made, hook)
    since = {"since": T0.isoformat()}

    theirs = await client.post(f"/v1/destinations/{hook}/recover", json=since, headers=hb)
    unknown = await client.post("/v1/destinations/dst_nope/recover", json=since, headers=hb)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["detail"].replace(hook, "X") == unknown.json()["detail"].replace("dst_nope", "X")
    assert env.outbox.depth() == 0 and len(await _dead_ids(client, ha)) == 3
    assert (await client.post(f"/v1/destinations/{hook}/recover", json=since)).status_code == 401

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for body in ({"since": future}, {"since": "yesterday"}, {"since": "<script>alert(1)</script>"}, {}):
        r = await client.post(f"/v1/destinations/{hook}/recover", json=body, headers=ha)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"].startswith("since:") and "<script>" not in r.text
    r = await client.post(
        f"/v1/destinations/{hook}/recover", json={"since": T0.isoformat(), "cursor": "%%%"}, headers=ha
    )
    assert r.status_code == 422 and "cursor" in r.json()["detail"]
    assert env.outbox.depth() == 0

    # No offset reads as UTC; a disabled destination says to enable it first.
    r = await client.patch(f"/v1/destinations/{hook}", json={"enabled": False}, headers=ha)
    r = await client.post(f"/v1/destinations/{hook}/recover", json={"since": "2024-05-01T00:00:00"}, headers=ha)
    assert r.status_code == 422 and "enable it" in r.json()["detail"]
    await client.patch(f"/v1/destinations/{hook}", json={"enabled": True}, headers=ha)
    r = await client.post(f"/v1/destinations/{hook}/recover", json={"since": "2024-05-01T00:00:00"}, headers=ha)
    assert r.json()["queued"] == 3

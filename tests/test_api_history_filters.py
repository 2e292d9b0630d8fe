"""History filters over HTTP (outcome, tx_hash, height range, a deleted subscription's id), a
pending delivery's `next_attempt_at`, and redelivery making a waiting retry due now: hostile
input answers a 422 naming the parameter, never another account's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

import core.services.history as history
from core.models import DeadLetter, DeliveryAttempt, Notification, OutboxEntry
from core.store.base import WriteBatch
from core.support.timeutil import utcnow
from tests.apikit import OTHER_CHAIN, Env, seed_notifications, signup

T0 = datetime(2024, 5, 1, tzinfo=UTC)


async def _pages(client: httpx.AsyncClient, h: dict[str, str], query: str, limit: int = 7) -> list[str]:
    """Every id a filtered listing gives, page by page (asserting each page is well-formed)."""
    ids: list[str] = []
    cursor = None
    while True:
        url = f"/v1/notifications?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        r = await client.get(url, headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        ids += [n["id"] for n in body["items"]]
        if body["next_cursor"] is None:
            return ids
        cursor = body["next_cursor"]


def _newest_first(notifications: list[Notification]) -> list[str]:
    return [n.id for n in sorted(notifications, key=lambda n: n.time, reverse=True)]


def _problem(r: httpx.Response, parameter: str) -> None:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert parameter in r.text


def _attempt(n: Notification, destination_id: str, attempt: int, outcome: str) -> DeliveryAttempt:
    return DeliveryAttempt(
        notification_id=n.id,
        destination_id=destination_id,
        attempt=attempt,
        at=n.time,
        outcome=outcome,  # type: ignore[arg-type]
    )


def _seed_outcomes(env: Env, owner_id: str, made: list[Notification], dest: str) -> dict[str, list[Notification]]:
    """Every third delivered, every third waiting for a retry, every third dead."""
    delivered, retrying, dead = made[0::3], made[1::3], made[2::3]
    batch = WriteBatch()
    for n in delivered:
        env.repos.attempts.put(_attempt(n, dest, 1, "delivered"), batch)
    for n in retrying:
        env.repos.attempts.put(_attempt(n, dest, 1, "failed"), batch)
        entry = OutboxEntry(
            notification_id=n.id,
            destination_id=dest,
            owner_id=owner_id,
            due_at=n.time + timedelta(days=3650),
            attempts=1,
            last_error="HTTP 502",
        )
        env.outbox.enqueue([entry], batch)
    for n in dead:
        env.repos.attempts.put(_attempt(n, dest, 1, "dead_letter"), batch)
        env.repos.dead_letters.put(
            DeadLetter(
                notification_id=n.id, destination_id=dest, owner_id=owner_id, attempts=8, last_error="x", dead_at=n.time
            ),
            batch,
        )
    env.store.write(batch)
    return {"delivered": delivered, "retrying": retrying, "dead": dead}


async def test_outcome_filter_pages_across_pages_and_combines(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    made = seed_notifications(env.repos, account_id, "sub_a", 60, start=T0, destination_ids=("dst_a",))
    by_outcome = _seed_outcomes(env, account_id, made, "dst_a")
    for outcome, expected in by_outcome.items():
        assert await _pages(client, h, f"&outcome={outcome}") == _newest_first(expected), outcome
    # outcome + height range + time window together
    since = made[10].time.isoformat().replace("+00:00", "Z")
    got = await _pages(client, h, f"&outcome=dead&height_from=5&height_to=40&since={since}", limit=2)
    assert got == _newest_first([n for n in by_outcome["dead"] if 5 <= n.height <= 40 and n.time >= made[10].time])
    _problem(await client.get("/v1/notifications?outcome=failed", headers=h), "outcome")


async def test_tx_hash_filter_is_exact_and_case_blind(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    other_id, _ = await signup(client, "bob@example.com")
    made = seed_notifications(env.repos, account_id, "sub_a", 30, start=T0)
    theirs = seed_notifications(env.repos, other_id, "sub_b", 30, start=T0)  # the same tx hashes
    target = made[17]
    assert target.tx_hash == theirs[17].tx_hash
    assert await _pages(client, h, f"&tx_hash={target.tx_hash}") == [target.id]
    assert await _pages(client, h, f"&tx_hash={target.tx_hash.lower()}") == [target.id]
    assert await _pages(client, h, f"&tx_hash={'0' * 64}") == []
    assert await _pages(client, h, f"&tx_hash={target.tx_hash}&height_from=19") == []
    for bad in ["xyz", "0" * 63, "0" * 65, "G" * 64, "%27%20OR%201%3D1", "0" * 5000]:
        _problem(await client.get(f"/v1/notifications?tx_hash={bad}", headers=h), "tx_hash")


async def test_height_range(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    made = seed_notifications(env.repos, account_id, "sub_a", 50, start=T0)
    older = seed_notifications(env.repos, account_id, "sub_a", 5, start=T0 - timedelta(days=1), chain_id=OTHER_CHAIN)
    assert await _pages(client, h, "&height_from=10&height_to=20") == _newest_first(
        [n for n in made + older if 10 <= n.height <= 20]
    )
    assert await _pages(client, h, "&height_from=48") == _newest_first(made[47:])
    assert await _pages(client, h, f"&height_to=3&chain_id={OTHER_CHAIN}") == _newest_first(older[:3])
    assert await _pages(client, h, "&height_from=7&height_to=7", limit=1) == _newest_first(
        [n for n in made + older if n.height == 7]
    )
    assert await _pages(client, h, f"&height_from={2**63 - 1}") == []
    _problem(await client.get("/v1/notifications?height_from=20&height_to=10", headers=h), "height_from")
    for name in ("height_from", "height_to"):
        for bad in ("-1", "0", str(2**63), "9" * 400, "1.5", "ten"):
            _problem(await client.get(f"/v1/notifications?{name}={bad}", headers=h), name)


async def test_subscription_filter_finds_a_deleted_one_and_never_another_accounts(
    client: httpx.AsyncClient, env: Env
) -> None:
    account_id, h = await signup(client, "alice@example.com")
    other_id, h_other = await signup(client, "bob@example.com")
    await env.services.destinations.ensure_telegram_chat(account_id, 42)
    await env.services.destinations.ensure_telegram_chat(other_id, 43)
    sub = await env.services.subscriptions.create(
        account_id, chain_id="testchain-1", name="x", queries=["tm.event = 'Tx'"]
    )
    theirs = await env.services.subscriptions.create(
        other_id, chain_id="testchain-1", name="y", queries=["tm.event = 'Tx'"]
    )
    mine = seed_notifications(env.repos, account_id, sub.id, 12, start=T0)
    their_made = seed_notifications(env.repos, other_id, theirs.id, 12, start=T0)
    assert (await client.delete(f"/v1/subscriptions/{sub.id}", headers=h)).status_code == 204
    assert await _pages(client, h, f"&subscription_id={sub.id}", limit=5) == _newest_first(mine)
    assert await _pages(client, h, f"&subscription_id={sub.id}&height_from=3&height_to=4") == _newest_first(mine[2:4])
    # another account's live subscription: a 404, nothing of theirs
    r = await client.get(f"/v1/notifications?subscription_id={theirs.id}", headers=h)
    assert r.status_code == 404 and their_made[0].id not in r.text
    # another account's deleted subscription: an empty history, nothing of theirs
    assert (await client.delete(f"/v1/subscriptions/{theirs.id}", headers=h_other)).status_code == 204
    assert await _pages(client, h, f"&subscription_id={theirs.id}") == []
    assert await _pages(client, h, f"&subscription_id={theirs.id}&outcome=delivered") == []
    # and the owner of a deleted subscription still sees its notifications
    assert await _pages(client, h_other, f"&subscription_id={theirs.id}") == _newest_first(their_made)


async def test_filters_bound_the_scan_and_keep_paging(client: httpx.AsyncClient, env: Env) -> None:
    """A rare match behind many non-matching records: pages may be short, the cursor walks on."""
    account_id, h = await signup(client, "alice@example.com")
    made = seed_notifications(env.repos, account_id, "sub_a", 2_500, start=T0)
    history_max = history.FILTER_MAX_SCANNED
    history.FILTER_MAX_SCANNED = 1_000
    try:
        r = await client.get("/v1/notifications?height_to=2", headers=h)
        body = r.json()
        assert body["items"] == [] and body["next_cursor"] is not None  # stopped after 1,000 entries
        assert await _pages(client, h, "&height_to=2", limit=50) == _newest_first(made[:2])
    finally:
        history.FILTER_MAX_SCANNED = history_max


async def test_pending_delivery_shows_next_attempt_and_redeliver_makes_it_due_now(
    client: httpx.AsyncClient, env: Env
) -> None:
    account_id, h = await signup(client, "alice@example.com")
    other_id, h_other = await signup(client, "bob@example.com")
    dest = (
        await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/h"}, headers=h)
    ).json()
    (n,) = seed_notifications(env.repos, account_id, "sub_1", 1, start=T0, destination_ids=(dest["id"],))
    later = utcnow() + timedelta(hours=2)
    batch = WriteBatch()
    env.repos.attempts.put(_attempt(n, dest["id"], 1, "failed"), batch)
    env.outbox.enqueue(
        [
            OutboxEntry(
                notification_id=n.id,
                destination_id=dest["id"],
                owner_id=account_id,
                due_at=later,
                attempts=1,
                last_error="HTTP 502",
            )
        ],
        batch,
    )
    await env.store.commit(batch)

    detail = (await client.get(f"/v1/notifications/{n.id}", headers=h)).json()
    (pending,) = detail["pending"]
    assert pending["destination_id"] == dest["id"] and pending["attempts"] == 1
    shown = datetime.fromisoformat(pending["next_attempt_at"].replace("Z", "+00:00"))
    assert abs(shown - later) < timedelta(milliseconds=1)  # the entry's due time
    assert pending["last_error"] == "HTTP 502"
    assert (await client.get(f"/v1/notifications/{n.id}", headers=h_other)).status_code == 404
    assert env.outbox.due(utcnow(), 10) == []  # waiting for its retry

    r = await client.post(f"/v1/notifications/{n.id}/redeliver", headers=h)
    assert r.status_code == 202 and r.json()["queued_destination_ids"] == [dest["id"]]
    entry = env.outbox.get(n.id, dest["id"])
    assert entry is not None and entry.due_at <= utcnow() and entry.attempts == 1  # schedule kept, due now
    (claimed,) = env.outbox.due(utcnow(), 10)
    assert claimed.entry.notification_id == n.id
    env.outbox.release([claimed])
    detail = (await client.get(f"/v1/notifications/{n.id}", headers=h)).json()
    assert datetime.fromisoformat(detail["pending"][0]["next_attempt_at"].replace("Z", "+00:00")) <= utcnow()
    # another account cannot hasten it
    assert (await client.post(f"/v1/notifications/{n.id}/redeliver", headers=h_other)).status_code == 404
    assert other_id != account_id


@pytest.mark.parametrize("query", ["outcome=", "tx_hash=", "height_from=", "height_to="])
async def test_empty_values_are_problems(client: httpx.AsyncClient, env: Env, query: str) -> None:
    _, h = await signup(client, "alice@example.com")
    _problem(await client.get(f"/v1/notifications?{query}", headers=h), query.rstrip("="))

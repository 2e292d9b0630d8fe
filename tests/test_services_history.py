"""HistoryService: newest-first pages, time windows, filters, ownership, redelivery, gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import NotFoundError, ValidationError
from core.models import DeadLetter, DeliveryAttempt, Gap
from tests.apikit import CHAIN, OTHER_CHAIN, Env, seed_notifications
from tests.seeding import put_now

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def _all_pages(env: Env, owner: str, **filters: object) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = env.services.history.notifications(owner, limit=7, cursor=cursor, **filters)  # type: ignore[arg-type]
        ids += [n.id for n in page.items]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def test_pages_are_newest_first_and_complete(env: Env) -> None:
    made = seed_notifications(env.repos, "acc_a", "sub_1", 30, start=T0)
    seed_notifications(env.repos, "acc_b", "sub_2", 5, start=T0)
    assert _all_pages(env, "acc_a") == [n.id for n in reversed(made)]


async def test_since_until_chain_and_subscription_filters(env: Env) -> None:
    await env.services.destinations.ensure_telegram_chat("acc_a", 42)
    sub = await env.services.subscriptions.create("acc_a", chain_id=CHAIN, name="x", queries=["tm.event = 'Tx'"])
    made = seed_notifications(env.repos, "acc_a", sub.id, 20, start=T0)
    other = seed_notifications(env.repos, "acc_a", "sub_gone", 4, start=T0, chain_id=OTHER_CHAIN)
    window = _all_pages(env, "acc_a", since=made[5].time, until=made[10].time)
    assert window == [n.id for n in reversed(made[5:10])]
    assert _all_pages(env, "acc_a", chain_id=OTHER_CHAIN) == [n.id for n in reversed(other)]
    assert _all_pages(env, "acc_a", subscription_id=sub.id) == [n.id for n in reversed(made)]
    assert _all_pages(env, "acc_a", since=T0 + timedelta(days=1)) == []
    with pytest.raises(NotFoundError):
        env.services.history.notifications("acc_b", limit=5, subscription_id=sub.id)
    with pytest.raises(ValidationError):
        env.services.history.notifications("acc_a", limit=201)
    with pytest.raises(ValidationError):
        env.services.history.notifications("acc_a", limit=5, cursor="***")


def test_a_forged_cursor_stays_within_the_owners_records(env: Env) -> None:
    seed_notifications(env.repos, "acc_a", "sub_1", 3, start=T0)
    seed_notifications(env.repos, "acc_b", "sub_2", 3, start=T0)
    import base64

    for raw in (b"\xff" * 20, b"", b"acc_b\x00", b"\x00" * 9):
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=") or "AA"
        page = env.services.history.notifications("acc_a", limit=10, cursor=cursor)
        assert all(n.owner_id == "acc_a" for n in page.items)


def test_detail_with_attempts_and_ownership(env: Env) -> None:
    (n,) = seed_notifications(env.repos, "acc_a", "sub_1", 1, start=T0, destination_ids=("dst_x",))
    put_now(
        env.repos.attempts,
        DeliveryAttempt(
            notification_id=n.id, destination_id="dst_x", attempt=1, at=T0, outcome="failed", http_status=500
        ),
    )
    detail = env.services.history.notification("acc_a", n.id)
    assert detail.notification.id == n.id and [a.http_status for a in detail.attempts] == [500]
    with pytest.raises(NotFoundError):
        env.services.history.notification("acc_b", n.id)


async def test_redeliver_requeues_and_lifts_the_dead_letter(env: Env) -> None:
    hook = await env.services.destinations.create_webhook("acc_a", "http://127.0.0.1:9/h")
    (n,) = seed_notifications(env.repos, "acc_a", "sub_1", 1, start=T0, destination_ids=(hook.id,))
    put_now(
        env.repos.dead_letters,
        DeadLetter(
            notification_id=n.id, destination_id=hook.id, owner_id="acc_a", attempts=8, last_error="x", dead_at=T0
        ),
    )
    assert len(env.services.history.dead_letters("acc_a").items) == 1
    with pytest.raises(NotFoundError):
        await env.services.history.redeliver("acc_b", n.id)
    assert await env.services.history.redeliver("acc_a", n.id) == [hook.id]
    assert env.outbox.get(n.id, hook.id) is not None
    assert env.services.history.dead_letters("acc_a").items == []
    with pytest.raises(ValidationError):
        await env.services.history.redeliver("acc_a", n.id, "dst_other")


def test_gaps_are_listed_per_chain_newest_first(env: Env) -> None:
    for h in (10, 11, 12):
        put_now(env.repos.gaps, Gap(chain_id=CHAIN, height=h, reason="pruned", recorded_at=T0 + timedelta(seconds=h)))
    put_now(env.repos.gaps, Gap(chain_id=OTHER_CHAIN, height=5, reason="pruned", recorded_at=T0))
    assert [g.height for g in env.services.history.gaps(chain_id=CHAIN).items] == [12, 11, 10]
    assert [g.height for g in env.services.history.gaps().items] == [12, 11, 10, 5]


async def test_activity_is_the_last_fired_time_and_a_capped_count(env: Env) -> None:
    dest = await env.services.destinations.ensure_telegram_chat("acc_a", 42)
    sub = await env.services.subscriptions.create(
        "acc_a", chain_id=CHAIN, name="s", queries=["tm.event = 'Tx'"], destination_ids=[dest.id]
    )
    quiet = env.services.history.activity("acc_a", sub.id)
    assert (quiet.last_fired, quiet.count, quiet.capped) == (None, 0, False)
    made = seed_notifications(env.repos, "acc_a", sub.id, 5, start=T0)
    seed_notifications(env.repos, "acc_a", "sub_other", 3, start=T0 + timedelta(days=1))  # not counted
    busy = env.services.history.activity("acc_a", sub.id)
    assert (busy.last_fired, busy.count, busy.capped) == (made[-1].time, 5, False)
    assert env.services.history.activity("acc_a", sub.id, cap=3).capped
    with pytest.raises(NotFoundError):
        env.services.history.activity("acc_b", sub.id)  # another owner's: not found

"""Repositories: secondary indexes stay consistent through inserts, updates and deletes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.chain.blocks import Attribute, Event
from core.errors import ConflictError, ValidationError
from core.ids import new_id, notification_id
from core.models import Account, Notification, Subscription, TelegramDestination, WebhookDestination
from core.store import WriteBatch, open_store
from core.store.collection import UniqueConflictError, encode_cursor
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from tests.seeding import delete_now, put_now

OWNERS = ["acc_a", "acc_b", "acc_c"]
CHAINS = ["cosmoshub-4", "osmosis-1"]
DESTS = ["dst_1", "dst_2", "dst_3"]


@pytest.fixture
def repos(tmp_path: Path):
    store = open_store(tmp_path / "db")
    yield Repositories(store)
    store.close()


def _sub(sub_id: str, owner: str, chain: str, dests: list[str]) -> Subscription:
    now = utcnow()
    return Subscription(
        id=sub_id,
        owner_id=owner,
        chain_id=chain,
        name=f"watch {sub_id}",
        queries=["tm.event = 'Tx'"],
        destination_ids=dests,
        created_at=now,
        updated_at=now,
    )


op = st.tuples(
    st.sampled_from(["put", "delete"]),
    st.integers(min_value=0, max_value=7),
    st.sampled_from(OWNERS),
    st.sampled_from(CHAINS),
    st.lists(st.sampled_from(DESTS), unique=True, max_size=3),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, max_size=40))
def test_subscription_indexes_follow_updates_and_deletes(tmp_path_factory, ops) -> None:
    store = open_store(tmp_path_factory.mktemp("db"))
    try:
        repo = Repositories(store).subscriptions
        model: dict[str, Subscription] = {}
        for action, n, owner, chain, dests in ops:
            sub_id = f"sub_{n}"
            if action == "put":
                sub = _sub(sub_id, owner, chain, dests)
                put_now(repo, sub)
                model[sub_id] = sub
            else:
                removed = delete_now(repo, sub_id)
                assert (removed is not None) == (sub_id in model)
                model.pop(sub_id, None)
        for owner in OWNERS:
            assert [s.id for s in repo.of_owner(owner)] == sorted(i for i, s in model.items() if s.owner_id == owner)
        for chain in CHAINS:
            assert [s.id for s in repo.of_chain(chain)] == sorted(i for i, s in model.items() if s.chain_id == chain)
        for dest in DESTS:
            expected = sorted(i for i, s in model.items() if dest in s.destination_ids)
            assert [s.id for s in repo.using_destination(dest)] == expected
        # No stale entries: exactly one entry per (index, value) the model holds.
        entries = sum(1 for _ in store.scan(b"ix.sub."))
        assert entries == sum(2 + len(s.destination_ids) for s in model.values())
    finally:
        store.close()


async def test_unique_email_index(repos: Repositories) -> None:
    now = utcnow()
    await repos.accounts.save(Account(id="acc_1", created_at=now, email="Ann@Example.com"))
    assert repos.accounts.by_email("ann@example.com").id == "acc_1"
    with pytest.raises(UniqueConflictError):
        await repos.accounts.save(Account(id="acc_2", created_at=now, email="ann@example.com"))
    await repos.accounts.save(Account(id="acc_1", created_at=now, email="new@example.com"))
    assert repos.accounts.by_email("ann@example.com") is None
    await repos.accounts.save(Account(id="acc_2", created_at=now, email="ann@example.com"))
    assert repos.accounts.by_email("ann@example.com").id == "acc_2"
    removed = await repos.accounts.remove("acc_2")
    assert removed is not None and removed.id == "acc_2"
    assert repos.accounts.by_email("ann@example.com") is None
    assert await repos.accounts.remove("acc_2") is None


async def test_put_and_delete_with_a_batch_only_build_it(repos: Repositories) -> None:
    """Nothing is written until the caller commits: the batch is the caller's, whole or not at all."""
    now = utcnow()
    await repos.accounts.save(Account(id="acc_1", created_at=now, email="ann@example.com"))
    batch = WriteBatch()
    repos.accounts.put(Account(id="acc_2", created_at=now, email="bob@example.com"), batch)
    assert repos.accounts.delete("acc_1", batch=batch) is not None
    assert repos.accounts.get("acc_2") is None and repos.accounts.get("acc_1") is not None
    assert repos.accounts.by_email("bob@example.com") is None
    await repos.store.commit(batch)
    assert repos.accounts.get("acc_1") is None and repos.accounts.by_email("bob@example.com").id == "acc_2"


async def test_a_unique_value_taken_between_put_and_commit_refuses_the_whole_batch(repos: Repositories) -> None:
    """The Absent precondition `put` adds keeps a unique email single even when the batch is
    committed after another write took it (what another node's commit would be)."""
    now = utcnow()
    batch = WriteBatch()
    repos.accounts.put(Account(id="acc_1", created_at=now, email="ann@example.com"), batch)
    await repos.accounts.save(Account(id="acc_2", created_at=now, email="ann@example.com"))
    with pytest.raises(ConflictError):
        await repos.store.commit(batch)
    assert repos.accounts.get("acc_1") is None and repos.accounts.by_email("ann@example.com").id == "acc_2"


def test_destinations_round_trip_as_a_tagged_union(repos: Repositories) -> None:
    now = utcnow()
    put_now(
        repos.destinations,
        WebhookDestination(
            id="dst_w", owner_id="acc_1", name="hook", url="https://x", secret="whsec_a", created_at=now
        ),
    )
    put_now(
        repos.destinations, TelegramDestination(id="dst_t", owner_id="acc_1", name="chat", chat_id=-100, created_at=now)
    )
    kinds = {d.id: type(d).__name__ for d in repos.destinations.of_owner("acc_1")}
    assert kinds == {"dst_w": "WebhookDestination", "dst_t": "TelegramDestination"}
    assert [d.id for d in repos.destinations.for_target("telegram", "-100")] == ["dst_t"]
    assert repos.destinations.of_owner("acc_2") == []


def _notification(owner: str, n: int, sub: str = "sub_1") -> Notification:
    time = utcnow().replace(microsecond=0) + timedelta(seconds=n)
    return Notification(
        id=notification_id("c", n, "block", sub),
        owner_id=owner,
        subscription_id=sub,
        subscription_name="s",
        chain_id="c",
        height=n,
        time=time,
        tx_hash=None,
        tx_index=None,
        tx_code=None,
        events=(Event(type="transfer", attributes=(Attribute(key="amount", value="1uatom"),)),),
        destination_ids=("dst_1",),
        created_at=utcnow(),
    )


def test_notification_history_pages_newest_first(repos: Repositories) -> None:
    batch = WriteBatch()
    for n in range(25):
        assert repos.notifications.add(_notification("acc_a", n), batch)
        repos.notifications.add(_notification("acc_b", n, sub="sub_2"), batch)
    repos.store.write(batch)
    # Adding an existing id again writes nothing: re-processing a block is idempotent.
    again = WriteBatch()
    assert not repos.notifications.add(_notification("acc_a", 3), again)
    assert len(again) == 0

    heights, cursor = [], None
    while True:
        page = repos.notifications.page_of_owner("acc_a", limit=10, cursor=cursor)
        heights += [n.height for n in page.items]
        assert all(n.owner_id == "acc_a" for n in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert heights == list(range(24, -1, -1))


def test_forged_cursors_stay_inside_the_owner(repos: Repositories) -> None:
    batch = WriteBatch()
    for n in range(5):
        repos.notifications.add(_notification("acc_a", n), batch)
        repos.notifications.add(_notification("acc_b", n, sub="sub_2"), batch)
    repos.store.write(batch)
    for forged in [encode_cursor(b"\xff" * 40), encode_cursor(b""), encode_cursor(b"acc_b\x00")]:
        page = repos.notifications.page_of_owner("acc_a", limit=50, cursor=forged)
        assert all(n.owner_id == "acc_a" for n in page.items)
    with pytest.raises(ValidationError):
        repos.notifications.page_of_owner("acc_a", limit=5, cursor="***")


def test_new_ids_sort_by_creation() -> None:
    ids = [new_id("sub") for _ in range(50)]
    assert all(i.startswith("sub_") and len(i) == 30 for i in ids)
    assert len(set(ids)) == 50

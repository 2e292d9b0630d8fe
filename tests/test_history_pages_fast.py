"""History pages read fast (#17): one batched read per page, and records kept decoded between
pages until a write touches them (in cluster mode too: a change the replica applies counts).

The stores are real (RocksDB in tmp dirs); `CountingStore` only counts the reads that reach them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar.serialization import encode_json

from api.pagination import NotificationPage
from core.cluster.store import ClusterStore
from core.models import Notification
from core.store import WriteBatch, open_store
from core.store.base import KVStore
from core.store.collection import Collection
from core.store.repositories import NotificationRepository
from core.store.rocks import RocksStore
from tests.apikit import OTHER_CHAIN, Env, seed_notifications, signup

T0 = datetime(2024, 5, 1, tzinfo=UTC)


class CountingStore:
    """A real store, with the record reads that reach it counted."""

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self.reads = 0  # records read, one way or the other
        self.calls = 0  # calls that read records
        self.scans = 0  # range scans begun (an index walk)

    def get(self, key: bytes) -> bytes | None:
        self.reads += 1
        self.calls += 1
        return self._store.get(key)

    def get_many(self, keys: Sequence[bytes]) -> list[bytes | None]:
        self.reads += len(keys)
        self.calls += 1
        return self._store.get_many(keys)

    def scan(self, prefix: bytes = b"", **kwargs: Any) -> Iterator[tuple[bytes, bytes]]:
        self.scans += 1
        return self._store.scan(prefix, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture(params=["rocksdb", "cluster-replica"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[KVStore, RocksStore]]:
    """(the store pages read, the RocksDB that writes land in: the replica in cluster mode)."""
    rocks = open_store(tmp_path / "db")
    try:
        yield (rocks, rocks) if request.param == "rocksdb" else (ClusterStore(None, rocks), rocks)
    finally:
        rocks.close()


def test_get_many_answers_in_the_order_asked_with_none_where_absent(store: tuple[KVStore, RocksStore]) -> None:
    kv, rocks = store
    batch = WriteBatch()
    batch.put(b"k/1", b"one")
    batch.put(b"k/3", b"three")
    rocks.write(batch)
    assert kv.get_many([b"k/3", b"k/2", b"k/1", b"k/3"]) == [b"three", None, b"one", b"three"]
    assert kv.get_many([]) == []


def test_a_page_reads_its_records_once_in_one_batch_and_again_only_what_changed(
    store: tuple[KVStore, RocksStore],
) -> None:
    kv, rocks = store
    counting = CountingStore(kv)
    notifications = NotificationRepository(counting)
    made = seed_notifications(NotificationsOnly(notifications, rocks), "acc_1", "sub_1", 120, start=T0)
    newest = list(reversed(made))
    counting.calls = counting.reads = 0  # writing read the old records

    first = notifications.page("owner", "acc_1", limit=50)
    assert [n.id for n in first.items] == [n.id for n in newest[:50]]
    assert (counting.calls, counting.reads) == (1, 50)  # one multi-get, not 50 point reads

    assert notifications.page("owner", "acc_1", limit=50) == first
    assert counting.reads == 50  # unchanged records: not read again

    changed = msgspec.structs.replace(newest[3], summary="<b>changed</b> after it was listed")
    batch = WriteBatch()
    notifications.put(changed, batch)
    notifications.delete(newest[7].id, batch=batch)
    reads = counting.reads
    rocks.write(batch)  # as the cluster's change applier writes into the replica

    again = notifications.page("owner", "acc_1", limit=50)
    assert again.items[3].summary == "<b>changed</b> after it was listed"
    assert newest[7].id not in [n.id for n in again.items]
    assert [n.id for n in again.items] == [n.id for n in newest[:7] + newest[8:51]]
    assert counting.reads == reads + 2  # the changed one and the one that moved into the page

    second = notifications.page("owner", "acc_1", limit=50, cursor=again.next_cursor)
    assert [n.id for n in second.items] == [n.id for n in newest[51:101]]


async def test_the_first_page_over_http_shows_a_changed_notification_at_once(
    client: httpx.AsyncClient, env: Env
) -> None:
    account_id, h = await signup(client, "alice@example.com")
    other_id, other_h = await signup(client, "mallory@example.com")
    made = seed_notifications(env.repos, account_id, "sub_a", 60, start=T0)
    seed_notifications(env.repos, other_id, "sub_m", 5, start=T0, first_height=1000)
    first = (await client.get("/v1/notifications", headers=h)).json()
    assert first["items"][0]["summary"] == made[-1].summary

    batch = WriteBatch()
    env.repos.notifications.put(msgspec.structs.replace(made[-1], summary="<script>alert(1)</script>"), batch)
    env.repos.store.write(batch)
    r = await client.get("/v1/notifications", headers=h)
    assert r.status_code == 200
    assert r.json()["items"][0]["summary"] == "<script>alert(1)</script>"  # JSON: the text as it is, not run
    assert r.json()["items"][1:] == first["items"][1:]

    theirs = (await client.get("/v1/notifications", headers=other_h)).json()["items"]
    assert len(theirs) == 5 and {n["owner_id"] for n in theirs} == {other_id}  # the cache is no shortcut
    forged = await client.get(f"/v1/notifications?cursor={first['next_cursor']}", headers=other_h)
    assert forged.status_code == 200  # a cursor only moves within one's own entries
    assert {n["owner_id"] for n in forged.json()["items"]} == {other_id}


class NotificationsOnly:
    """What `seed_notifications` needs of Repositories: the notifications, and where writes land."""

    def __init__(self, notifications: NotificationRepository, store: RocksStore) -> None:
        self.notifications = notifications
        self.store = store


def test_a_cache_smaller_than_a_page_starts_over_and_pages_stay_right(tmp_path: Path) -> None:
    rocks = open_store(tmp_path / "db")
    try:
        full = NotificationRepository(rocks)
        made = seed_notifications(NotificationsOnly(full, rocks), "acc_1", "sub_1", 30, start=T0)
        tiny = Collection(rocks, "ntf", Notification, lambda n: (n.id,), full.indexes.values(), page_cache_bytes=2000)
        for _ in range(3):
            page = tiny.page("owner", "acc_1", limit=20)
            assert [n.id for n in page.items] == [n.id for n in reversed(made[10:])]
            rest = tiny.page("owner", "acc_1", limit=20, cursor=page.next_cursor)
            assert [n.id for n in rest.items] == [n.id for n in reversed(made[:10])] and rest.next_cursor is None
    finally:
        rocks.close()


def test_an_unchanged_first_page_walks_no_index_and_a_write_under_it_shows_at_once(
    store: tuple[KVStore, RocksStore],
) -> None:
    kv, rocks = store
    counting = CountingStore(kv)
    notifications = NotificationRepository(counting)
    mine = list(reversed(seed_notifications(NotificationsOnly(notifications, rocks), "acc_1", "sub_1", 60, start=T0)))
    theirs = seed_notifications(
        NotificationsOnly(notifications, rocks), "acc_2", "sub_2", 5, start=T0, first_height=500
    )
    counting.scans = 0

    first = notifications.page("owner", "acc_1", limit=50)
    assert [n.id for n in first.items] == [n.id for n in mine[:50]]
    assert notifications.page("owner", "acc_1", limit=50) == first
    assert notifications.page("owner", "acc_2", limit=50).items == list(reversed(theirs))
    assert notifications.page("owner", "acc_2", limit=50).items == list(reversed(theirs))
    assert counting.scans == 2  # one walk per history, not per request

    # A new notification of acc_1 and the removal of one, as the replica applies them in a cluster.
    newer = seed_notifications(
        NotificationsOnly(notifications, rocks), "acc_1", "sub_1", 1, start=T0.replace(year=2025), first_height=1000
    )
    batch = WriteBatch()
    notifications.delete(mine[5].id, batch=batch)
    rocks.write(batch)
    again = notifications.page("owner", "acc_1", limit=50)
    assert [n.id for n in again.items] == [newer[0].id] + [n.id for n in mine[:5] + mine[6:50]]
    assert notifications.page("owner", "acc_2", limit=50).items == list(reversed(theirs))  # no one else's
    by_sub = notifications.page("subscription", "sub_1", limit=3)
    assert [n.id for n in by_sub.items] == [newer[0].id, mine[0].id, mine[1].id]
    rest = notifications.page("owner", "acc_1", limit=50, cursor=again.next_cursor)
    assert [n.id for n in rest.items] == [n.id for n in mine[50:]] and rest.next_cursor is None


def test_a_filtered_first_page_beyond_the_cached_head_is_what_an_uncached_one_is(tmp_path: Path) -> None:
    rocks = open_store(tmp_path / "db")
    try:
        cached = NotificationRepository(rocks)
        for i in range(40):  # one in four on the other chain: a page of 10 of them reads past its head
            chain = OTHER_CHAIN if i % 4 == 0 else "testchain-1"
            seed_notifications(NotificationsOnly(cached, rocks), "acc_1", "sub_1", 1, chain_id=chain, start=T0,
                               first_height=i + 1)  # fmt: skip
        bare = Collection(rocks, "ntf", Notification, lambda n: (n.id,), cached.indexes.values())

        def on_other(n: Notification) -> bool:
            return n.chain_id == OTHER_CHAIN

        for _ in range(2):  # filling the caches, then from them
            page = cached.page("owner", "acc_1", limit=10, keep=on_other)
            assert page == bare.page("owner", "acc_1", limit=10, keep=on_other)
            assert len(page.items) == 10 and {n.chain_id for n in page.items} == {OTHER_CHAIN}
            assert cached.page("owner", "acc_1", limit=10, reverse=False) == bare.page(
                "owner", "acc_1", limit=10, reverse=False
            )
    finally:
        rocks.close()


async def test_the_page_body_is_what_litestar_makes_of_the_typed_page(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    made = seed_notifications(env.repos, account_id, "sub_a", 7, start=T0)
    batch = WriteBatch()
    env.repos.notifications.put(msgspec.structs.replace(made[-1], summary='<script>"é" & \u2028</script>'), batch)
    env.repos.store.write(batch)
    for query in ("?limit=3", "?limit=3", "?limit=50"):  # encoded, then from the cache; a last page
        r = await client.get(f"/v1/notifications{query}", headers=h)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        items = [env.repos.notifications.get(item["id"]) for item in r.json()["items"]]
        assert r.content == encode_json(NotificationPage(items=items, next_cursor=r.json()["next_cursor"]))  # type: ignore[arg-type]
    assert r.json()["items"][0]["summary"] == '<script>"é" & \u2028</script>' and r.json()["next_cursor"] is None


async def test_a_new_notification_is_on_the_next_first_page_and_only_its_owners(
    client: httpx.AsyncClient, env: Env
) -> None:
    alice_id, alice = await signup(client, "alice@example.com")
    mallory_id, mallory = await signup(client, "mallory@example.com")
    seed_notifications(env.repos, alice_id, "sub_a", 60, start=T0)
    seed_notifications(env.repos, mallory_id, "sub_m", 3, start=T0, first_height=1000)
    before = (await client.get("/v1/notifications", headers=alice)).json()
    theirs = (await client.get("/v1/notifications", headers=mallory)).json()

    new = seed_notifications(env.repos, alice_id, "sub_a", 1, start=T0.replace(year=2025), first_height=2000)
    after = (await client.get("/v1/notifications", headers=alice)).json()
    assert after["items"][0]["id"] == new[0].id and after["items"][1:] == before["items"][:49]
    assert (await client.get("/v1/notifications", headers=mallory)).json() == theirs
    assert {n["owner_id"] for n in theirs["items"]} == {mallory_id}

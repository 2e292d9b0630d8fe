"""The outbox's delivery partitions over a real RocksDB store: only owned entries are handed out,
adopt/drop follow the leases, and entries written through another Outbox (another node's watcher)
reach the owner through `store.observe`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.dispatch.outbox import Outbox
from core.dispatch.partition import PARTITIONS, partition_of
from core.ids import new_id
from core.store import WriteBatch, open_store
from core.store.base import KVStore
from core.store.repositories import Repositories
from tests.fakes.records import T0, entry_for, make_notification


def destination_in(partition: int, skip: int = 0) -> str:
    """A destination id that hashes into `partition` (the `skip`-th such id)."""
    found = (f"dst_{i}" for i in range(100_000) if partition_of(f"dst_{i}") == partition)
    for _ in range(skip):
        next(found)
    return next(found)


P, Q = 3, 17
IN_P, IN_Q = destination_in(P), destination_in(Q)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KVStore]:
    opened = open_store(tmp_path / "db")
    yield opened
    opened.close()


async def seed(store: KVStore, outbox: Outbox, *destination_ids: str, height: int = 1) -> None:
    """Store a notification and its entries through `outbox` (the watcher's path, handing it over)."""
    notification = make_notification("acc_a", destination_ids, height=height)
    batch = WriteBatch()
    Repositories(store).notifications.add(notification, batch)
    outbox.enqueue([entry_for(notification, d, T0) for d in destination_ids], batch, notification=notification)
    await store.commit(batch)


def claimed(outbox: Outbox) -> set[str]:
    return {item.entry.destination_id for item in outbox.due(T0, 100)}


def test_partition_of_is_stable_and_in_range() -> None:
    assert partition_of("dst_01JABCDEF") == partition_of("dst_01JABCDEF")
    assert {partition_of(f"dst_{i}") for i in range(2000)} == set(range(PARTITIONS))
    assert partition_of("dst_0") == int.from_bytes(__import__("hashlib").sha256(b"dst_0").digest()[:4], "big") % 32


async def test_due_hands_out_only_owned_entries_and_adopt_drop_follow_the_partitions(store: KVStore) -> None:
    outbox = Outbox(store, clock=lambda: T0, partitions={P})
    await seed(store, outbox, IN_P, IN_Q)
    assert outbox.size() == 1 and outbox.depth() == 2  # both stored, only P's mirrored
    assert claimed(outbox) == {IN_P}
    assert outbox.adopt(Q) == 1
    assert claimed(outbox) == {IN_Q}
    outbox.drop(P)
    outbox.drop(Q)
    await seed(store, outbox, IN_P, IN_Q, height=2)
    assert claimed(outbox) == set() and outbox.size() == 0 and outbox.depth() == 4
    assert outbox.adopt(P) == 2  # both of P's entries (one claimed before the drop: unsettled)
    assert claimed(outbox) == {IN_P}


async def test_a_claimed_entry_of_a_dropped_partition_is_settled_but_not_taken_back(store: KVStore) -> None:
    """The dispatcher finishes what it had in flight when the partition moved: its result is
    committed (the new holder follows the records), and nothing of it returns to this mirror."""
    outbox = Outbox(store, clock=lambda: T0, partitions={P})
    await seed(store, outbox, IN_P, destination_in(P, 1))
    first, second = outbox.due(T0, 100)
    outbox.drop(P)
    batch = WriteBatch()
    outbox.reschedule(first, first.entry, batch)  # a failed attempt, due again
    outbox.complete(second, batch)  # delivered
    await store.commit(batch)
    outbox.release([first])
    assert outbox.size() == 0 and claimed(outbox) == set()
    assert outbox.depth() == 1  # the retry is in the store, for the new holder
    assert outbox.adopt(P) == 1


async def test_entries_written_by_another_outbox_reach_the_owner_through_observe(store: KVStore) -> None:
    """Another node's watcher writes entries for a partition this node holds: the follower adds
    them as they are applied (no reload by time), ignores other partitions, and forgets an
    entry deleted elsewhere (its partition moved and the other node delivered it)."""
    owner = Outbox(store, clock=lambda: T0, partitions={P}, follow=True)
    elsewhere = Outbox(store, clock=lambda: T0, partitions={Q}, follow=True)
    await seed(store, elsewhere, IN_P, IN_Q)
    assert owner.size() == 1 and elsewhere.size() == 1
    [item] = owner.due(T0, 100)
    assert item.entry.destination_id == IN_P
    assert item.notification is None  # read from the record: the notification was handed to the writer
    [theirs] = elsewhere.due(T0, 100)
    assert theirs.notification is not None  # the writer keeps its fast path
    # The owner's own writes keep it too, with following on.
    await seed(store, owner, destination_in(P, 1), height=2)
    [mine] = owner.due(T0, 100)
    assert mine.notification is not None and owner.size() == 2
    # An entry of P deleted on the other node leaves the owner's mirror.
    batch = WriteBatch()
    batch.delete(owner.entries.record_key(mine.entry.notification_id, mine.entry.destination_id))
    await store.commit(batch)
    assert owner.size() == 1


async def test_a_single_node_outbox_owns_everything(store: KVStore) -> None:
    outbox = Outbox(store, clock=lambda: T0)
    await seed(store, outbox, IN_P, IN_Q)
    assert claimed(outbox) == {IN_P, IN_Q}
    assert outbox.adopt(P) == 0 and outbox.drop(P) == 0 and outbox.size() == 2


@pytest.mark.parametrize(
    "first_node",
    [set(range(0, PARTITIONS, 2)), set(range(PARTITIONS // 2))],
    ids=["even-odd", "halves"],
)
def test_two_nodes_holding_16_partitions_each_get_within_15_percent_of_half_the_deliveries(
    first_node: set[int],
) -> None:
    """1,000 real destination ids (random, as the service makes them), 10 deliveries each: the
    node holding 16 of the 32 partitions makes within 15% of 5,000 of the 10,000 deliveries."""
    destinations = [new_id("dst") for _ in range(1000)]
    mine = sum(10 for d in destinations if partition_of(d) in first_node)
    assert abs(mine - 5000) <= 0.15 * 5000, mine

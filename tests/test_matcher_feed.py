"""The live matcher follows the store's committed writes, not the service that wrote.

In cluster mode a subscription created on another node reaches this node only as a batch its
change applier writes into the local replica (`KVStore.write`, no service involved). These
tests make exactly that write and expect the matcher to have followed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from core.models import Subscription
from core.store.base import WriteBatch
from core.support.timeutil import utcnow
from tests.apikit import CHAIN, Env, make_config
from tests.seeding import delete_now, put_now

BOB = "cosmos1bob"
TO_BOB = {"transfer.recipient": [BOB]}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path, config=make_config())
    yield e
    e.close()


def _sub(sub_id: str, *, chain_id: str = CHAIN, enabled: bool = True) -> Subscription:
    now = utcnow()
    return Subscription(
        id=sub_id,
        owner_id="acc_other_node",
        chain_id=chain_id,
        name="made elsewhere",
        queries=[f"transfer.recipient = '{BOB}'"],
        destination_ids=["dst_1"],
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )


def test_a_subscription_applied_into_the_store_reaches_the_matcher(env: Env) -> None:
    put_now(env.repos.subscriptions, _sub("sub_1"))
    assert [s.id for s in env.matcher.match(CHAIN, TO_BOB)] == ["sub_1"]


def test_an_applied_pause_and_delete_take_it_out(env: Env) -> None:
    put_now(env.repos.subscriptions, _sub("sub_1"), _sub("sub_2"))
    put_now(env.repos.subscriptions, _sub("sub_1", enabled=False))
    assert [s.id for s in env.matcher.match(CHAIN, TO_BOB)] == ["sub_2"]
    delete_now(env.repos.subscriptions, "sub_2")
    assert env.matcher.match(CHAIN, TO_BOB) == []
    assert env.matcher.count() == 0


def test_an_applied_chain_change_moves_it(env: Env) -> None:
    put_now(env.repos.subscriptions, _sub("sub_1"))
    put_now(env.repos.subscriptions, _sub("sub_1", chain_id="osmosis-1"))
    assert env.matcher.match(CHAIN, TO_BOB) == []
    assert [s.id for s in env.matcher.match("osmosis-1", TO_BOB)] == ["sub_1"]


def test_the_matcher_holds_the_stored_version_of_a_batch_with_several_writes_of_it(env: Env) -> None:
    """A batch may put one subscription twice (a merge, then a rename): the last op is the record."""
    batch = WriteBatch()
    first = _sub("sub_1")
    env.repos.subscriptions.put(first, batch)
    batch.put(
        env.repos.subscriptions.record_key("sub_1"),
        env.repos.subscriptions.encode(msgspec.structs.replace(first, name="renamed")),
    )
    env.store.write(batch)
    [matched] = env.matcher.match(CHAIN, TO_BOB)
    assert matched.name == "renamed" == env.repos.subscriptions.get("sub_1").name  # type: ignore[union-attr]


def test_other_tables_and_index_entries_are_ignored(env: Env) -> None:
    put_now(env.repos.subscriptions, _sub("sub_1"))
    batch = WriteBatch()
    batch.delete(b"ix.sub.owner\x00acc_other_node\x00sub_1")  # an index entry, not the record
    batch.delete(b"subx\x00sub_1")  # a table whose name starts like "sub"
    env.store.write(batch)
    assert [s.id for s in env.matcher.match(CHAIN, TO_BOB)] == ["sub_1"]


async def test_a_destination_deleted_elsewhere_updates_the_subscriptions_in_the_matcher(env: Env) -> None:
    """DestinationService.delete commits the subscriptions' new destination lists in its batch;
    the matcher learns them from that write (it used to be told by the service)."""
    dest = await env.services.destinations.ensure_telegram_chat("acc_a", 42)
    other = await env.services.destinations.ensure_telegram_chat("acc_a", 43)
    sub = await env.services.subscriptions.create(
        "acc_a", chain_id=CHAIN, name="s", queries=[f"transfer.recipient='{BOB}'"], destination_ids=[dest.id, other.id]
    )
    await env.services.destinations.delete("acc_a", dest.id)
    [matched] = env.matcher.match(CHAIN, TO_BOB)
    assert matched.id == sub.id and matched.destination_ids == [other.id]

"""The services on two cluster nodes: one system, whichever node a person reaches.

Two "nodes" in one process: each its own RocksDB replica, `ClusterStore`, matcher and services,
on a real 3-node NATS cluster. What one node's services write, the other's read within the apply
lag, its matcher included; what two nodes race to create is created once.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from core.dispatch.outbox import Outbox
from core.errors import ConflictError, NotFoundError
from core.services import Services
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from tests.apikit import CHAIN, fast_passwords, make_config
from tests.polling import until
from tests.replica_node import ReplicaNode

BOB = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"
TO_BOB = {"transfer.recipient": [BOB]}


class Node:
    def __init__(self, replica: ReplicaNode) -> None:
        self.replica = replica
        self.matcher = SubscriptionMatcher()
        self.services = Services.build(
            make_config(),
            Repositories(replica.store),
            self.matcher,
            Outbox(replica.store, partitions=set(), follow=True),
            passwords=fast_passwords(),
        )


@pytest.fixture
def nodes(replicas: list[ReplicaNode]) -> list[Node]:
    return [Node(r) for r in replicas]


def _visible(node: Node, account_id: str, destination_id: str) -> bool:
    try:
        node.services.destinations.get(account_id, destination_id)
    except NotFoundError:
        return False
    return True


async def test_what_one_node_writes_the_other_reads_within_a_second_and_its_matcher_follows(nodes: list[Node]) -> None:
    a, b = nodes
    account = await a.services.accounts.register("ada@example.org", "correct horse battery")
    dest = await a.services.destinations.ensure_telegram_chat(account.id, 42)
    assert _visible(a, account.id, dest.id)  # the writer reads its write at once
    started = time.monotonic()
    await until(lambda: _visible(b, account.id, dest.id), timeout=1)
    sub = await b.services.subscriptions.create(
        account.id, chain_id=CHAIN, name="Bob", queries=[f"transfer.recipient = '{BOB}'"], destination_ids=[dest.id]
    )
    assert [s.id for s in b.matcher.match(CHAIN, TO_BOB)] == [sub.id]  # its own write: at once
    await until(lambda: [s.id for s in a.matcher.match(CHAIN, TO_BOB)] == [sub.id], timeout=1)
    assert time.monotonic() - started < 1.0
    assert [s.id for s in a.services.subscriptions.list(account.id)] == [sub.id]
    await a.services.subscriptions.pause(account.id, sub.id)  # changed on A, the matcher of B follows
    await until(lambda: b.matcher.match(CHAIN, TO_BOB) == [], timeout=1)


async def test_two_nodes_racing_for_one_email_or_one_new_chat_user_create_one(nodes: list[Node]) -> None:
    a, b = nodes
    results = await asyncio.gather(
        a.services.accounts.register("race@example.org", "correct horse battery"),
        b.services.accounts.register("race@example.org", "correct horse battery"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Account", "ConflictError"]
    assert [str(r) for r in results if isinstance(r, ConflictError)] == ["an account with this email already exists"]
    first, second = await asyncio.gather(
        a.services.accounts.get_or_create_for_identity("telegram", "777", "ada"),
        b.services.accounts.get_or_create_for_identity("telegram", "777", "ada"),
    )
    assert first.id == second.id  # the loser of the race answers with the winner's account
    assert sum(1 for _ in a.replica.replica.scan(b"idn")) == sum(1 for _ in b.replica.replica.scan(b"idn"))

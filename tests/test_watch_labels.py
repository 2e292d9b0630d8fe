"""The processor snapshots each owner's address-book labels into its notifications (#15.8).

A real block (CometBFT-shaped JSON, decoded) through the real processor into a real RocksDB,
with the real address book: each notification carries its OWN owner's labels, and its summary
names the address by label; a rename afterwards leaves what was stored as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.chain.decoder import BlockDecoder
from core.config import ChainConfig
from core.dispatch.outbox import Outbox
from core.ids import notification_id
from core.models import Subscription
from core.services.address_book import AddressBookService
from core.services.chains import ChainService
from core.store import RocksStore, open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from tests.apikit import BOB
from tests.fakes.records import ALICE, COSMOS
from tests.seeding import put_now
from tests.test_watch_failed_tx import failed_send_block

T = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RocksStore]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()


async def test_each_notification_carries_its_owners_labels(store: RocksStore) -> None:
    repos = Repositories(store)
    chains = ChainService(
        [ChainConfig(id=COSMOS.id, name=COSMOS.name, rpc=["http://127.0.0.1:9"], bech32_prefix="cosmos")]
    )
    book = AddressBookService(repos, chains, clock=lambda: T)
    for owner in ("acc_1", "acc_2"):
        put_now(repos.subscriptions,
            Subscription(
                id=f"sub_{owner}", owner_id=owner, chain_id=COSMOS.id, name="Alice's wallet",
                queries=[f"transfer.sender = '{ALICE}'"], destination_ids=[], params={"address": ALICE},
                created_at=T, updated_at=T,
            )
        )  # fmt: skip
    await book.set("acc_1", BOB, "Exchange")
    await book.set("acc_1", ALICE, "Me")
    matcher = SubscriptionMatcher()
    matcher.load(repos.subscriptions.of_chain(COSMOS.id))
    processor = BlockProcessor(COSMOS, matcher, repos, Outbox(store), clock=lambda: T, labels=book.labels_for)

    assert (await processor.process(BlockDecoder().decode(*failed_send_block(BOB)))).notifications == 2

    mine = repos.notifications.get(notification_id(COSMOS.id, 100, "tx:0", "sub_acc_1"))
    theirs = repos.notifications.get(notification_id(COSMOS.id, 100, "tx:0", "sub_acc_2"))
    assert mine is not None and theirs is not None
    assert mine.labels == {BOB: "Exchange", ALICE: "Me"}
    assert (
        mine.summary
        == "❌ Send of 9,000 ATOM to Exchange (cosmos1xv9t…xxe5) failed: insufficient funds (fee 0.0019 ATOM paid)"
    )
    assert theirs.labels == {}
    assert theirs.summary.startswith(f"❌ Send of 9,000 ATOM to {BOB[:11]}…{BOB[-4:]} failed")

    await book.set("acc_1", BOB, "Old exchange")
    stored = repos.notifications.get(mine.id)
    assert stored is not None and stored.labels[BOB] == "Exchange"
    assert "to Exchange (cosmos1xv9t…xxe5) failed" in stored.summary

"""A failed tx through the watcher's processor into the store: what the history and every channel show.

The block is decoded from CometBFT 0.38-shaped JSON (the failed tx keeps only its fee payment) and
a /block holding the tx body; the notification is committed to a real RocksDB and read back, so
the new fields (`tx_log`, `tx_codespace`, `tx_messages`) are checked to survive storage.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.chain.decoder import BlockDecoder
from core.dispatch.outbox import Outbox
from core.dispatch.render import render
from core.ids import notification_id
from core.models import Subscription, WebhookDestination
from core.query.addresses import module_address
from core.store import RocksStore, open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from tests.fakes.cosmos_tx import msg_send, tx_b64
from tests.fakes.records import ALICE, COSMOS
from tests.seeding import put_now

T = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
WLFZ = "cosmos1wlfzcw5j8unqy0x0ra5y7zps7rwrwkqcsmd4cx"
LOG = "spendable balance 12uatom is smaller than 9000000000uatom: insufficient funds"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RocksStore]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()


def failed_send_block(recipient: str = WLFZ) -> tuple[dict[str, object], dict[str, object]]:
    fee_collector = module_address("fee_collector", "cosmos")
    events = [
        {"type": t, "attributes": [{"key": k, "value": v} for k, v in a.items()]}
        for t, a in (
            ("transfer", {"recipient": fee_collector, "sender": ALICE, "amount": "1900uatom"}),
            ("message", {"sender": ALICE}),
            ("tx", {"fee": "1900uatom", "fee_payer": ALICE}),
        )
    ]
    results = {"height": "100", "txs_results": [{"code": 5, "codespace": "sdk", "log": LOG, "events": events}]}
    tx = tx_b64(msg_send(ALICE, recipient, ("9000000000", "uatom")))
    block = {
        "block": {
            "header": {"height": "100", "chain_id": COSMOS.id, "time": "2024-05-01T12:00:00Z"},
            "data": {"txs": [tx]},
        }
    }
    return results, block


async def test_a_failed_send_is_stored_and_told_as_a_failed_send(store: RocksStore) -> None:
    repos = Repositories(store)
    hook = WebhookDestination(
        id="dst_1", owner_id="acc_1", name="h", url="http://127.0.0.1:9/", secret="whsec_x", created_at=T
    )
    put_now(repos.destinations, hook)
    sub = Subscription(
        id="sub_alice", owner_id="acc_1", chain_id=COSMOS.id, name="Alice's wallet",
        queries=[f"transfer.sender = '{ALICE}'"], destination_ids=["dst_1"], params={"address": ALICE},
        created_at=T, updated_at=T,
    )  # fmt: skip
    put_now(repos.subscriptions, sub)
    matcher = SubscriptionMatcher()
    matcher.load(repos.subscriptions.of_chain(COSMOS.id))
    processor = BlockProcessor(COSMOS, matcher, repos, Outbox(store), clock=lambda: T)

    outcome = await processor.process(BlockDecoder().decode(*failed_send_block()))

    assert outcome.notifications == 1
    stored = repos.notifications.get(notification_id(COSMOS.id, 100, "tx:0", "sub_alice"))
    assert stored is not None
    expected = f"❌ Send of 9,000 ATOM to {WLFZ[:11]}…{WLFZ[-4:]} failed: insufficient funds (fee 0.0019 ATOM paid)"
    assert stored.summary == expected
    assert (stored.tx_code, stored.tx_codespace, stored.tx_log) == (5, "sdk", LOG)
    assert [(m.recipient, m.amount) for m in stored.tx_messages] == [(WLFZ, "9000000000uatom")]
    rendered = render(stored, COSMOS)
    assert rendered.failed and rendered.headline == "❌ Send of 9,000 ATOM failed: insufficient funds"
    assert rendered.summary == expected
    # The fee as a fee, never as a transfer (the old wording: "0.0019 ATOM sent by ... to <fee collector>").
    assert [f.value for f in rendered.fields if f.name == "Fee"] == ["0.0019 ATOM (paid)"]
    assert "fee collector" not in rendered.summary

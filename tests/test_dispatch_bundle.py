"""One message per chat (#15.2): a block's matches to one chat arrive as ONE message.

Real parts throughout: the block processor over a real RocksDB, the dispatcher, python-telegram-bot
against the local Bot API fake, discord.py against the local Discord REST fake, the webhook
channel against a loopback receiver. History and delivery records stay per notification;
webhooks keep one POST per notification.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import pytest
import telegram
from discord.http import HTTPClient

from bot.callbacks import CallbackSigner
from core.chain.blocks import Attribute, Event
from core.chain.decoder import BlockDecoder
from core.dispatch.bundle import render_bundle
from core.dispatch.channel import Channel
from core.dispatch.discord import DiscordChannel
from core.dispatch.dispatcher import Dispatcher
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.render import render
from core.dispatch.telegram import TelegramChannel
from core.dispatch.webhook import WebhookChannel
from core.models import Subscription
from core.query.addresses import module_address
from core.store import RocksStore, open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from tests.fakes.cosmos_tx import msg_send, tx_b64
from tests.fakes.discord_api import FakeDiscordApi
from tests.fakes.records import (
    ALICE,
    BOB,
    COSMOS,
    T0,
    FakeClock,
    discord_destination,
    make_notification,
    telegram_destination,
    transfer_events,
    webhook_destination,
)
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.webhook_receiver import Reply, WebhookReceiver
from tests.seeding import put_now

CHAT = 42


def transfer_block(count: int, height: int = 100) -> tuple[dict[str, object], dict[str, object]]:
    """`count` txs, each Alice sending 1.5 ATOM to Bob (and paying a fee), as /block_results and /block."""
    fee_collector = module_address("fee_collector", "cosmos")
    events = [
        {"type": t, "attributes": [{"key": k, "value": v} for k, v in a.items()]}
        for t, a in (
            ("transfer", {"recipient": fee_collector, "sender": ALICE, "amount": "1900uatom"}),
            ("tx", {"fee": "1900uatom", "fee_payer": ALICE}),
            ("message", {"action": "/cosmos.bank.v1beta1.MsgSend", "sender": ALICE}),
            ("transfer", {"recipient": BOB, "sender": ALICE, "amount": "1500000uatom"}),
        )
    ]
    results: dict[str, object] = {
        "height": str(height),
        "txs_results": [{"code": 0, "events": events} for _ in range(count)],
    }
    txs = [tx_b64(msg_send(ALICE, BOB, ("1500000", "uatom")), memo=f"payment {i}") for i in range(count)]
    header = {"height": str(height), "chain_id": COSMOS.id, "time": "2024-05-01T12:00:00Z"}
    return results, {"block": {"header": header, "data": {"txs": txs}}}


def subscription(sub_id: str, name: str, query: str, address: str, destinations: list[str]) -> Subscription:
    return Subscription(
        id=sub_id, owner_id="acc_a", chain_id=COSMOS.id, name=name, queries=[query],
        destination_ids=destinations, params={"address": address}, created_at=T0, updated_at=T0,
    )  # fmt: skip


ALICES = ("sub_alice", "Alice's wallet", f"transfer.sender = '{ALICE}'", ALICE)
TREASURY = ("sub_treasury", "Treasury", f"transfer.recipient = '{BOB}'", BOB)


class Rig:
    """The watcher's block processor and the dispatcher over one real store."""

    def __init__(self, store: RocksStore, channels: Mapping[str, Channel], clock: FakeClock) -> None:
        self.repos = Repositories(store)
        self.outbox = Outbox(store, clock=clock)
        self.matcher = SubscriptionMatcher()
        self.processor = BlockProcessor(COSMOS, self.matcher, self.repos, self.outbox, clock=clock)
        self.dispatcher = Dispatcher(self.outbox, self.repos, channels, {COSMOS.id: COSMOS}.get, clock=clock)

    def subscribe(self, *subs: Subscription) -> None:
        for sub in subs:
            put_now(self.repos.subscriptions, sub)
        self.matcher.load(self.repos.subscriptions.of_chain(COSMOS.id))

    def outcomes(self, notification_id: str, destination_id: str) -> list[str]:
        attempts = self.repos.attempts.of_notification(notification_id)
        return [a.outcome for a in attempts if a.destination_id == destination_id]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RocksStore]:
    s = open_store(tmp_path / "db")
    yield s
    s.close()


@pytest.fixture
async def bot(api: FakeTelegramApi) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(token=api.token, base_url=api.base_url) as b:
        yield b


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver(default=Reply(status=200)) as r:
        yield r


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient(allow_private_networks=True)
    yield client
    await client.close()


@pytest.fixture
def rig(store: RocksStore, bot: telegram.Bot, http: HttpClient, receiver: WebhookReceiver) -> Rig:
    clock = FakeClock()
    telegram_channel = TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0))
    rig = Rig(store, {"telegram": telegram_channel, "webhook": WebhookChannel(http, clock=clock)}, clock)
    put_now(rig.repos.destinations, telegram_destination("dst_tg", "acc_a", CHAT))
    put_now(rig.repos.destinations, webhook_destination("dst_hook", "acc_a", receiver.url("/hook")))
    return rig


async def test_one_tx_matching_two_subscriptions_is_one_message_naming_both(
    rig: Rig, api: FakeTelegramApi, receiver: WebhookReceiver
) -> None:
    rig.subscribe(*(subscription(*s, ["dst_tg", "dst_hook"]) for s in (ALICES, TREASURY)))

    outcome = await rig.processor.process(BlockDecoder().decode(*transfer_block(1)))
    await rig.dispatcher.pump()

    assert outcome.notifications == 2
    [sent] = api.sent  # one chat message, not two
    assert sent.chat_id == CHAT
    headline, names, other_side, *rest = sent.text.split("\n")
    # the tx's story once, told from each subscription's side (their watched addresses differ),
    # under both subscriptions' names
    assert headline == "<b>📤 \u22121.5 ATOM to cosmos1xv9t…xxe5</b>"
    assert names == "<i>Alice&#x27;s wallet · Treasury</i>"
    assert other_side == "📥 +1.5 ATOM from cosmos1qypq…v7xu"
    assert sent.text.count("<a href=") == 1 and rest[-1].startswith("Cosmos Hub · height 100 · ")
    [[tx_button, *_]] = sent.params["reply_markup"]["inline_keyboard"]
    assert tx_button["text"] == "🔎 Tx"  # one tx: its [Tx] button
    assert len(receiver.received) == 2  # the webhook: one POST per notification, as before
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 2
    for sub_id, _, _, _ in (ALICES, TREASURY):  # history and delivery records stay per subscription
        [stored] = rig.repos.notifications.page_of_subscription(sub_id, limit=10).items
        assert rig.outcomes(stored.id, "dst_tg") == ["delivered"]
        assert rig.outcomes(stored.id, "dst_hook") == ["delivered"]
    assert rig.outbox.depth() == 0


async def test_five_transfers_in_a_block_are_one_coalesced_message(
    rig: Rig, api: FakeTelegramApi, receiver: WebhookReceiver
) -> None:
    rig.subscribe(subscription(*ALICES, ["dst_tg", "dst_hook"]))

    await rig.processor.process(BlockDecoder().decode(*transfer_block(5)))
    await rig.dispatcher.pump()

    [sent] = api.sent
    lines = sent.text.split("\n")
    assert lines[0] == "<b>5 transfers, 7.5 ATOM in all</b>"  # the fees (to the fee collector) are not counted
    assert lines[1] == "<i>Alice&#x27;s wallet</i>"
    tx_lines = [line for line in lines if 'href="https://explorer.example/cosmos/tx/' in line]
    assert len(tx_lines) == 5 and all(line.endswith(">📤 \u22121.5 ATOM to cosmos1xv9t…xxe5</a>") for line in tx_lines)
    assert "reply_markup" not in sent.params  # several txs: no [Tx] (and no signer: no [Pause])
    assert len(receiver.received) == 5
    stored = rig.repos.notifications.page_of_subscription("sub_alice", limit=10).items
    assert len(stored) == 5
    assert all(rig.outcomes(n.id, "dst_tg") == ["delivered"] for n in stored)


async def test_a_bundle_is_bounded_and_says_how_many_more(rig: Rig, api: FakeTelegramApi) -> None:
    rig.subscribe(subscription(*ALICES, ["dst_tg"]))

    await rig.processor.process(BlockDecoder().decode(*transfer_block(25)))
    await rig.dispatcher.pump()

    first, second = api.sent  # 20 notifications at most in one message
    assert first.text.split("\n")[0] == "<b>20 transfers, 30 ATOM in all</b>"
    assert "… and 10 more" in first.text
    assert second.text.split("\n")[0] == "<b>5 transfers, 7.5 ATOM in all</b>"


async def test_processing_a_block_again_yields_the_same_outbox_entries(tmp_path: Path) -> None:
    """Grouping is derived from the block alone: a re-run after a crash writes the same entries."""
    entries = []
    for run in range(2):
        store = open_store(tmp_path / f"db{run}")
        try:
            clock = FakeClock()
            rig = Rig(store, {}, clock)
            put_now(rig.repos.destinations, telegram_destination("dst_tg", "acc_a", CHAT))
            rig.subscribe(*(subscription(*s, ["dst_tg"]) for s in (ALICES, TREASURY)))
            await rig.processor.process(BlockDecoder().decode(*transfer_block(3)))
            entries.append(sorted(rig.outbox.entries.scan(), key=lambda e: e.notification_id))
        finally:
            store.close()
    assert entries[0] == entries[1]
    [entry] = entries[0]  # 3 txs x 2 subscriptions, one chat: one entry carrying the other five
    assert len(entry.bundle) == 5


async def test_a_rate_limited_bundle_is_deferred_as_a_whole(
    store: RocksStore, api: FakeTelegramApi, bot: telegram.Bot
) -> None:
    clock = FakeClock()
    now = [0.0]
    limiter = RateLimiter(per_key_interval=0.0, clock=lambda: now[0])
    rig = Rig(store, {"telegram": TelegramChannel(bot, limiter=limiter)}, clock)
    put_now(rig.repos.destinations, telegram_destination("dst_tg", "acc_a", CHAT))
    rig.subscribe(subscription(*ALICES, ["dst_tg"]))
    await rig.processor.process(BlockDecoder().decode(*transfer_block(3)))
    limiter.penalize(CHAT, 600)  # the chat is under a 10 min flood wait

    await rig.dispatcher.pump()

    assert api.sent == []
    [entry] = list(rig.outbox.entries.scan())
    assert len(entry.bundle) == 2 and entry.attempts == 0  # still the whole bundle, no attempt used
    assert (entry.due_at - clock()).total_seconds() == pytest.approx(600)
    ids = (entry.notification_id, *entry.bundle)
    assert all(rig.outcomes(i, "dst_tg") == [] for i in ids)

    now[0] += 600
    clock.advance(600)
    await rig.dispatcher.pump()

    [sent] = api.sent
    assert sent.text.split("\n")[0] == "<b>3 transfers, 4.5 ATOM in all</b>"
    assert all(rig.outcomes(i, "dst_tg") == ["delivered"] for i in ids)


async def test_discord_gets_one_embed_naming_both_subscriptions(
    store: RocksStore, discord_api: FakeDiscordApi, discord_rest: HTTPClient, http: HttpClient
) -> None:
    rig = Rig(store, {"discord": DiscordChannel(discord_rest, http)}, FakeClock())
    put_now(rig.repos.destinations, discord_destination("dst_dc", "acc_a", channel_id=555))
    rig.subscribe(*(subscription(*s, ["dst_dc"]) for s in (ALICES, TREASURY)))
    await rig.processor.process(BlockDecoder().decode(*transfer_block(1)))
    await rig.dispatcher.pump()

    [posted] = discord_api.messages
    [embed] = posted.payload["embeds"]
    assert embed["author"]["name"] == "Alice's wallet · Treasury"
    # each side's headline once, the story (the address to copy) once
    assert embed["title"] == "📤 \u22121.5 ATOM to cosmos1xv9t…xxe5"
    assert embed["description"] == "📥 +1.5 ATOM from cosmos1qypq…v7xu"
    assert [f["name"] for f in embed["fields"]] == ["To"]


def test_txs_that_are_not_all_transfers_are_counted_as_matches() -> None:
    contract = (
        Event(type="wasm", attributes=(Attribute("_contract_address", "cosmos1c"), Attribute("action", "swap"))),
    )
    bundle = [
        make_notification("acc_a", ("dst_tg",), index=0),
        make_notification("acc_a", ("dst_tg",), index=1, events=contract),
        make_notification("acc_a", ("dst_tg",), index=2, events=transfer_events("5uosmo")),
    ]
    rendered = render_bundle(bundle, COSMOS)
    assert rendered.headline == "3 matches"
    assert rendered.url is None  # several txs: no single link
    assert [f.value for f in rendered.fields[:3]] == [render(n, COSMOS).headline for n in bundle]
    bundle[1] = make_notification("acc_a", ("dst_tg",), index=1)
    assert render_bundle(bundle, COSMOS).headline == "3 transfers, 3 ATOM + 5 uosmo in all"


async def test_a_refused_bundle_leaves_a_dead_letter_for_each_notification(rig: Rig, api: FakeTelegramApi) -> None:
    rig.subscribe(subscription(*ALICES, ["dst_tg"]))
    await rig.processor.process(BlockDecoder().decode(*transfer_block(3)))
    [entry] = list(rig.outbox.entries.scan())
    api.fail_next("sendMessage", status=400, description="Bad Request: can't parse entities")

    await rig.dispatcher.pump()

    assert api.sent == []
    for notification_id in (entry.notification_id, *entry.bundle):  # each can be listed and redelivered
        assert rig.outcomes(notification_id, "dst_tg") == ["dead_letter"]
        [dead] = rig.outbox.dead_letters.scan(notification_id)
        assert dead.last_error == "Telegram refused: Can't parse entities"


async def test_pause_and_mute_appear_only_when_the_bundle_is_one_subscriptions(
    store: RocksStore, bot: telegram.Bot, api: FakeTelegramApi
) -> None:
    """A press must say which subscription it pauses: five transfers of one subscription carry its
    [Pause] [Mute 1 h] (and no [Tx]: there are five); a message naming two has [Tx] alone."""
    signer = CallbackSigner(api.token)
    channel = TelegramChannel(bot, limiter=RateLimiter(per_key_interval=0.0), signer=signer)
    rig = Rig(store, {"telegram": channel}, FakeClock())
    put_now(rig.repos.destinations, telegram_destination("dst_tg", "acc_a", CHAT))
    rig.subscribe(subscription(*ALICES, ["dst_tg"]))
    await rig.processor.process(BlockDecoder().decode(*transfer_block(5)))
    await rig.dispatcher.pump()
    [five] = api.sent
    [row] = five.params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for b in row] == ["⏸ Pause", "🔕 Mute 1 h"]
    decoded = signer.decode(CHAT, row[0]["callback_data"])
    assert decoded is not None and decoded.args == ("sub_alice",)

    rig.subscribe(subscription(*TREASURY, ["dst_tg"]))
    await rig.processor.process(BlockDecoder().decode(*transfer_block(1, height=101)))
    await rig.dispatcher.pump()
    [_, both] = api.sent
    assert [[b["text"] for b in row] for row in both.params["reply_markup"]["inline_keyboard"]] == [["🔎 Tx"]]

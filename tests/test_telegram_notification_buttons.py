"""The buttons under a delivered notification ([Tx], [Pause] then [Resume]) through the real
PTB bot and the dispatcher, against the local fake Bot API and a devnet chain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from core.chain.pool import EndpointPool
from core.dispatch.dispatcher import Dispatcher
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
from core.services.clock import utcnow
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import MovableClock
from tests.fakes.telegram_api import FakeTelegramApi, SentMessage
from tests.polling import until
from tests.telegram_kit import BotRig, button
from tests.test_telegram_delivery import DEVNET, devnet_config

GROUP, ADMIN, MEMBER = -1001, 7, 8


@dataclass
class Stack:
    rig: BotRig
    devnet: DevnetServer
    watcher: ChainWatcher
    clock: MovableClock

    async def transfer(self, amount: int) -> None:
        book = self.devnet.chain.book
        self.devnet.chain.schedule_transfer(book.accounts[0], book.accounts[3], amount, "uatom")
        self.devnet.advance()

    async def settled(self) -> None:
        """Every block seen and every delivery settled: any message it caused has been sent."""
        await until(lambda: self.watcher.stats.cursor == self.devnet.chain.tip, timeout=15)
        await until(lambda: self.rig.env.outbox.depth() == 0, timeout=15)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    chain = DevnetChain(DevnetConfig(chain_id=DEVNET, block_time=0, history=5, txs_per_block=2, seed=11))
    async with FakeTelegramApi() as api, DevnetServer(chain, run_clock=False) as devnet:
        api.set_member(chat_id=GROUP, user_id=ADMIN, status="administrator")
        # Two hours behind: moved past a mute, the clock still gives due times the dispatcher's
        # real clock has reached.
        clock = MovableClock(utcnow() - timedelta(hours=2))
        rig = BotRig(tmp_path, api, config=devnet_config(devnet.url), clock=clock, admin_ttl=0.0)
        env = rig.env
        model = env.config.chains[0].to_chain()
        pool = EndpointPool(DEVNET, [devnet.url], timeout=2)
        watcher = ChainWatcher(
            DEVNET, pool, BlockProcessor(model, env.matcher, env.repos, env.outbox, clock=clock), env.repos,
            start_height=devnet.chain.tip + 1, window=4, poll_interval=0.05,
        )  # fmt: skip
        channel = TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0), signer=rig.door.signer)
        dispatcher = Dispatcher(env.outbox, env.repos, {"telegram": channel}, {DEVNET: model}.get)
        stop = asyncio.Event()
        await rig.door.start()
        tasks = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(dispatcher.run(stop))]
        try:
            yield Stack(rig, devnet, watcher, clock)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
            await rig.door.stop()
            await pool.aclose()
            rig.close()


def keyboard(message: SentMessage) -> list[list[tuple[str, str]]]:
    """Rows of (label, url or "callback") of a message's inline keyboard."""
    markup = message.params.get("reply_markup") or {}
    return [[(b["text"], b.get("url") or "callback") for b in row] for row in markup.get("inline_keyboard", [])]


async def notified(stack: Stack, amount: int, chat_id: int) -> SentMessage:
    api = stack.rig.api
    before = len(api.sent)
    await stack.transfer(amount)
    [note] = (await api.wait_sent(before + 1, timeout=15))[before:]
    assert note.chat_id == chat_id
    return note


async def test_a_notification_has_tx_and_pause_and_pause_stops_the_subscription(stack: Stack) -> None:
    rig, api = stack.rig, stack.rig.api
    [reply] = await rig.say(f"/watch {stack.devnet.chain.book.accounts[3]}")
    assert "✅ Subscribed" in reply.text
    [sub] = rig.env.repos.subscriptions.scan()

    note = await notified(stack, 1_500_000, 42)
    [row] = keyboard(note)
    assert row[0][0] == "🔎 Tx" and row[0][1].startswith("https://explorer.example/tx/")
    assert row[0][1].removeprefix("https://explorer.example/tx/") in {
        n.tx_hash for n in rig.env.repos.notifications.scan()
    }
    assert row[1:] == [("⏸ Pause", "callback"), ("🔕 Mute 1 h", "callback")]

    answer = await rig.press(button(note, "Pause"), message=note)
    assert answer["text"] == f"Paused {sub.name}" and not answer.get("show_alert")
    assert not rig.env.repos.subscriptions.get(sub.id).enabled
    # The same message now offers [Resume], its [Tx] link kept; its text is untouched.
    [edit] = [e for e in api.edits if e.params.get("message_id") == note.params["message_id"]]
    assert keyboard(edit) == [[row[0], ("▶️ Resume", "callback")]]
    assert "text" not in edit.params

    # Paused: the next matching transfer is not sent.
    sent = len(api.sent)
    await stack.transfer(2_000_000)
    await stack.settled()
    assert len(api.sent) == sent

    # [Resume] under the same message starts it again; the next transfer arrives.
    answer = await rig.press(button(edit, "Resume"), message=note)
    assert answer["text"] == f"Resumed {sub.name}"
    assert rig.env.repos.subscriptions.get(sub.id).enabled
    await notified(stack, 3_000_000, 42)


async def test_forged_or_other_chat_pause_is_refused_and_changes_nothing(stack: Stack) -> None:
    rig = stack.rig
    await rig.say(f"/watch {stack.devnet.chain.book.accounts[3]}")
    [sub] = rig.env.repos.subscriptions.scan()
    note = await notified(stack, 1_500_000, 42)
    data = button(note, "Pause")
    forged = data[:-1] + ("A" if data[-1] != "A" else "B")
    for bad in (forged, f"P|{sub.id}|AAAAAAAA", rig.door.signer.encode(43, "P", sub.id)):
        answer = await rig.press(bad, message=note)
        assert answer == {**answer, "text": "This button is not valid here.", "show_alert": True}
    assert rig.env.repos.subscriptions.get(sub.id).enabled
    assert not rig.api.edits


async def test_in_a_group_only_an_admin_may_pause_from_a_notification(stack: Stack) -> None:
    rig = stack.rig
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    await rig.say(f"/watch {stack.devnet.chain.book.accounts[3]}", user_id=ADMIN, **group)
    [sub] = rig.env.repos.subscriptions.scan()
    note = await notified(stack, 1_500_000, GROUP)

    answer = await rig.press(button(note, "Pause"), message=note, user_id=MEMBER, chat_type="supergroup")
    assert answer["show_alert"] and "administrators" in answer["text"]
    assert rig.env.repos.subscriptions.get(sub.id).enabled and not rig.api.edits

    answer = await rig.press(button(note, "Pause"), message=note, user_id=ADMIN, chat_type="supergroup")
    assert answer["text"] == f"Paused {sub.name}"
    assert not rig.env.repos.subscriptions.get(sub.id).enabled


async def test_mute_silences_the_subscription_for_an_hour(stack: Stack) -> None:
    rig, api = stack.rig, stack.rig.api
    await rig.say(f"/watch {stack.devnet.chain.book.accounts[3]}")
    [sub] = rig.env.repos.subscriptions.scan()
    note = await notified(stack, 1_500_000, 42)

    answer = await rig.press(button(note, "Mute 1 h"), message=note)
    assert answer["text"] == f"Muted {sub.name} for 1 h" and not answer.get("show_alert")
    muted = rig.env.repos.subscriptions.get(sub.id)
    assert muted.enabled and muted.muted_until == stack.clock() + timedelta(hours=1)
    assert not api.edits  # the buttons stay as they were

    # 59 minutes on, still muted: the transfer makes no notification and no message.
    stack.clock.advance(timedelta(minutes=59))
    sent, stored = len(api.sent), len(list(rig.env.repos.notifications.scan()))
    await stack.transfer(2_000_000)
    await stack.settled()
    assert len(api.sent) == sent and len(list(rig.env.repos.notifications.scan())) == stored

    # The hour is over: the next transfer arrives, with no one having to resume it.
    stack.clock.advance(timedelta(minutes=1))
    await notified(stack, 3_000_000, 42)


async def test_buttons_of_a_deleted_subscription_say_so_and_leave_the_tx_link(stack: Stack) -> None:
    rig, api = stack.rig, stack.rig.api
    await rig.say(f"/watch {stack.devnet.chain.book.accounts[3]}")
    [sub] = rig.env.repos.subscriptions.scan()
    note = await notified(stack, 1_500_000, 42)
    [[tx, *_]] = keyboard(note)
    await rig.say(f"/unsubscribe {sub.id}")
    for label in ("Mute 1 h", "Pause"):  # an old message's buttons, pressed after the deletion
        answer = await rig.press(button(note, label), message=note)
        assert answer["show_alert"] and answer["text"] == "That subscription no longer exists."
        [edit] = [e for e in api.edits if e.params.get("message_id") == note.params["message_id"]][-1:]
        assert keyboard(edit) == [[tx]] and "text" not in edit.params
    assert list(rig.env.repos.subscriptions.scan()) == []

"""/settings quiet hours and /silent through the real Telegram front door against the local Bot
API, and a notification's sound end to end (devnet -> watcher -> dispatcher -> sendMessage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import pytest

from core.chain.pool import EndpointPool
from core.dispatch.dispatcher import Dispatcher
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
from core.models import QuietHours, TelegramDestination
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import BOB
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import BotRig, button
from tests.test_telegram_delivery import DEVNET, devnet_config

GROUP, ADMIN, MEMBER = -100123, 7, 8
BERLIN_NIGHT = QuietHours(start="23:00", end="07:00", timezone="Europe/Berlin")


def chat_destination(rig: BotRig, chat_id: int = 42) -> TelegramDestination:
    [dest] = [
        d for d in rig.env.repos.destinations.scan() if isinstance(d, TelegramDestination) and d.chat_id == chat_id
    ]
    return dest


async def test_quiet_hours_are_set_shown_and_turned_off_by_button(rig: BotRig, api: FakeTelegramApi) -> None:
    [reply] = await rig.say("/settings quiet 23:00-7:00 europe/berlin")
    assert reply.text.startswith("🌙 Quiet hours here: 23:00-07:00 (Europe/Berlin).")
    assert chat_destination(rig).quiet_hours == BERLIN_NIGHT
    [shown] = await rig.say("/settings")
    assert "🌙 Quiet hours: 23:00-07:00 (Europe/Berlin): messages arrive then, without a sound." in shown.text
    answer = await rig.press(button(shown, "Quiet hours off"), message=shown)
    assert answer["text"] == "Quiet hours off"
    assert chat_destination(rig).quiet_hours is None
    assert "Quiet hours: off." in api.edits[-1].text
    await rig.say("/settings quiet 23:00-07:00 UTC")
    [off] = await rig.say("/settings quiet off")
    assert off.text.startswith("🔔 Quiet hours are off") and chat_destination(rig).quiet_hours is None
    [same] = await rig.say("/settings quiet 07:00-07:00 UTC")  # start == end: no window
    assert same.text.startswith("🔔 Quiet hours are off")


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("/settings quiet 25:00-07:00 Europe/Berlin", "'25:00' is not a time of day: use HH:MM, from 00:00 to 23:59"),
        ("/settings quiet 7-8", "give quiet hours as HH:MM-HH:MM and a timezone, e.g. 23:00-07:00 Europe/Berlin"),
        ("/settings quiet 23:00-07:00 Europe/Berln",
         "I don't know the timezone 'Europe/Berln'. Did you mean Europe/Berlin?"),
        ("/settings quiet 23:00-07:00 " + "E" * 10_000, "timezone: at most 64 characters, e.g. Europe/Berlin"),
        ("/settings loud", "Usage: /settings quiet 23:00-07:00 Europe/Berlin"),
    ],
)  # fmt: skip
async def test_bad_quiet_hours_get_plain_words_and_change_nothing(rig: BotRig, typed: str, said: str) -> None:
    await rig.say("/start")
    [reply] = await rig.say(typed)
    assert said.lower() in unescape(reply.text).lower()  # the bot starts its sentences with a capital
    assert len(reply.text) < 300
    assert chat_destination(rig).quiet_hours is None


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as fake:
        fake.set_member(chat_id=GROUP, user_id=ADMIN, status="administrator")
        fake.set_member(chat_id=GROUP, user_id=MEMBER, status="member")
        yield fake


async def test_in_a_group_only_admins_set_quiet_hours_or_silence(rig: BotRig, api: FakeTelegramApi) -> None:
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    await rig.say(f"/watch {BOB}", user_id=ADMIN, **group)
    [sub] = rig.env.repos.subscriptions.scan()
    [refused] = await rig.say("/settings quiet 23:00-07:00 Europe/Berlin", user_id=MEMBER, **group)
    assert unescape(refused.text) == "🔒 Only the group's administrators can change this chat's quiet hours."
    [refused] = await rig.say(f"/silent {sub.id}", user_id=MEMBER, **group)
    assert "Only the group's administrators" in unescape(refused.text)
    assert chat_destination(rig, GROUP).quiet_hours is None and not rig.env.repos.subscriptions.get(sub.id).silent
    [shown] = await rig.say("/settings", user_id=MEMBER, **group)  # anyone may look
    answer = await rig.press(button(shown, "Silence"), message=shown, user_id=MEMBER, chat_type="supergroup")
    assert answer["show_alert"] and "administrators" in answer["text"]
    assert not rig.env.repos.subscriptions.get(sub.id).silent
    [done] = await rig.say("/settings quiet 23:00-07:00 Europe/Berlin", user_id=ADMIN, **group)
    assert done.text.startswith("🌙 Quiet hours here") and chat_destination(rig, GROUP).quiet_hours == BERLIN_NIGHT


async def test_silent_command_and_buttons_toggle_a_subscriptions_sound(rig: BotRig, api: FakeTelegramApi) -> None:
    await rig.say(f"/watch {BOB}")
    [sub] = rig.env.repos.subscriptions.scan()
    [reply] = await rig.say(f"/silent {sub.id}")
    assert reply.text.startswith("🔕 <b>Funds of cosmos1xv9t…xxe5</b> now arrives without a sound.")
    assert rig.env.repos.subscriptions.get(sub.id).silent
    [shown] = await rig.say("/settings")
    assert "• Funds of cosmos1xv9t…xxe5 on Test chain 🔕 silent" in shown.text
    answer = await rig.press(button(shown, "Sound"), message=shown)
    assert answer["text"] == "With sound: Funds of cosmos1xv9t…xxe5"
    assert not rig.env.repos.subscriptions.get(sub.id).silent and "🔕" not in api.edits[-1].text.split("\n")[3]
    await rig.press(button(api.edits[-1], "Silence"), message=shown)
    assert rig.env.repos.subscriptions.get(sub.id).silent
    [loud] = await rig.say(f"/silent {sub.id} off")
    assert loud.text.startswith("🔔") and not rig.env.repos.subscriptions.get(sub.id).silent
    [usage] = await rig.say(f"/silent {sub.id} maybe")
    assert usage.text.startswith("Usage: /silent")
    [missing] = await rig.say("/silent sub_nope")
    assert "not found" in missing.text


@pytest.fixture
async def devnet() -> AsyncIterator[DevnetServer]:
    chain = DevnetChain(DevnetConfig(chain_id=DEVNET, block_time=0, history=5, txs_per_block=0, seed=11))  # ours only
    async with DevnetServer(chain, run_clock=False) as server:
        yield server


class WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_devnet_transfer_arrives_silently_when_silenced_or_in_quiet_hours(
    tmp_path: Path, api: FakeTelegramApi, devnet: DevnetServer
) -> None:
    rig = BotRig(tmp_path / "bot", api, config=devnet_config(devnet.url))
    env = rig.env
    chain = env.config.chains[0].to_chain()
    pool = EndpointPool(DEVNET, [devnet.url], timeout=2)
    watcher = ChainWatcher(
        DEVNET, pool, BlockProcessor(chain, env.matcher, env.repos, env.outbox), env.repos,
        start_height=devnet.chain.tip + 1, window=4, poll_interval=0.05,
    )  # fmt: skip
    wall = WallClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))  # 13:00 in Berlin
    channel = TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0), clock=wall)
    dispatcher = Dispatcher(env.outbox, env.repos, {"telegram": channel}, {DEVNET: chain}.get)
    stop = asyncio.Event()
    await rig.door.start()
    tasks = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(dispatcher.run(stop))]
    sender, watched = devnet.chain.book.accounts[0], devnet.chain.book.accounts[3]

    async def transfer(amount: int) -> bool:
        """A transfer to the watched address; whether its notification was sent without a sound."""
        before = len(api.sent)
        devnet.chain.schedule_transfer(sender, watched, amount, "uatom")
        devnet.advance()
        [note] = (await api.wait_sent(before + 1, timeout=15))[before:]
        assert "\n<i>Funds of cosmos1" in note.text and f"{amount / 1e6:g} ATOM" in note.text
        return note.disable_notification

    try:
        await rig.say(f"/watch {watched}")
        [sub] = env.repos.subscriptions.scan()
        assert await transfer(1_000_000) is False
        await rig.say(f"/silent {sub.id} on")
        assert await transfer(2_000_000) is True  # the subscription's `silent`, copied onto the notification
        await rig.say(f"/silent {sub.id} off")
        await rig.say("/settings quiet 23:00-07:00 Europe/Berlin")
        assert await transfer(3_000_000) is False  # 13:00 in Berlin
        wall.now = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # 00:30 in Berlin
        assert await transfer(4_000_000) is True
        [history] = await rig.say("/history 10")
        assert "4 ATOM" in history.text  # delivered and recorded, not held back
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await rig.door.stop()
        await pool.aclose()
        rig.close()

"""The bot's replies and the dispatcher's deliveries share one rate limiter per bot.

Telegram counts every message of a bot against the same limits (about one per second in a chat,
30 per second overall), whichever part of Mempools sent it. Real python-telegram-bot against the
local fake Bot API, which records when each message arrived.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel, telegram_limiter
from tests.fakes.records import COSMOS, make_notification, telegram_destination
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import running_rig

CHAT = 42
INTERVAL = 0.5  # per chat; Telegram's is 1 s, shortened so the test takes about 2 s
SLACK = 0.05  # a request may reach the fake a little later than its slot, the next one on time


async def test_a_burst_of_replies_and_deliveries_to_one_chat_stays_within_the_limit(tmp_path: Path) -> None:
    limiter = RateLimiter(per_key_interval=INTERVAL, global_rate=30.0)
    async with FakeTelegramApi() as api, running_rig(tmp_path, api, limiter=limiter) as rig:
        assert rig.door.limiter is limiter
        channel = TelegramChannel(rig.door.bot, limiter=rig.door.limiter)  # as the runtime wires it
        destination = telegram_destination("dst_tg", "acc_a", CHAT)
        for _ in range(2):
            api.push_update(api.message_update(chat_id=CHAT, user_id=CHAT, text="/help"))
        deliveries = [channel.deliver(make_notification("acc_a", ("dst_tg",)), destination, COSMOS) for _ in range(2)]
        results = await asyncio.gather(*deliveries)
        await api.wait_sent(4, timeout=10)
        assert all(r.ok for r in results)
        sent = sorted(api.sent, key=lambda m: m.at)
        assert [m.chat_id for m in sent] == [CHAT] * 4
        assert sum("<b>Commands</b>" in m.text for m in sent) == 2  # the two replies, among the deliveries
        gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
        assert all(gap >= INTERVAL - SLACK for gap in gaps), gaps


GROUP = -100123  # Telegram: negative ids are groups, supergroups and channels


class SteppingClock:
    """A monotonic clock the limiter's sleeps advance: a minute of Telegram limits in no time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def test_a_group_gets_20_messages_in_any_minute_a_private_chat_one_a_second() -> None:
    clock = SteppingClock()
    limiter = telegram_limiter(clock=clock, sleep=clock.sleep)
    group = [limiter.reserve(GROUP) for _ in range(21)]
    private = [limiter.reserve(CHAT) for _ in range(21)]
    assert group[:20] == pytest.approx([float(i) for i in range(20)])  # 1 s apart: the per-chat limit
    assert group[20] == pytest.approx(60.0)  # the 21st: a minute after the first
    # No minute budget for a person, and the group's far 21st slot does not hold it up: only the
    # 30/s global spacing from the group's slots (booked 1 s apart at the same times) shifts it.
    assert private[20] == pytest.approx(20.0 + 1 / 30)
    clock.now = 61.0
    assert limiter.delay(GROUP) == pytest.approx(0.0)  # the second message (t=1) left the window: one free slot
    limiter.reserve(GROUP)
    assert limiter.delay(GROUP) == pytest.approx(1.0)  # sliding: the next frees up as the t=2 send leaves


async def test_a_group_over_its_minute_budget_is_deferred_and_its_replies_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """20 deliveries reach the group; the 21st is deferred (retry_after: when the oldest leaves
    the minute) instead of holding a worker, and a reply in that group counts against the same
    budget, so it is dropped and logged. A private chat is not limited per minute."""
    clock = SteppingClock()
    limiter = telegram_limiter(clock=clock, sleep=clock.sleep)
    async with FakeTelegramApi() as api, running_rig(tmp_path, api, limiter=limiter) as rig:
        channel = TelegramChannel(rig.door.bot, limiter=rig.door.limiter)
        group = telegram_destination("dst_group", "acc_a", GROUP)
        person = telegram_destination("dst_person", "acc_a", CHAT)
        results = [await channel.deliver(make_notification("acc_a", ("dst_group",)), group, COSMOS) for _ in range(21)]
        assert [r.ok for r in results] == [True] * 20 + [False]
        assert results[20].deferred and results[20].retry_after == pytest.approx(60.0 - 19.0)
        assert sum(m.chat_id == GROUP for m in api.sent) == 20
        assert (await channel.deliver(make_notification("acc_a", ("dst_person",)), person, COSMOS)).ok

        await rig.say("/help", chat_id=GROUP, user_id=7, expect=0)
        assert sum(m.chat_id == GROUP for m in api.sent) == 20
        assert f"reply to chat {GROUP} dropped: flood control asks for 41 s" in caplog.text
        [answer] = await rig.say("/help", chat_id=CHAT, user_id=CHAT)
        assert "<b>Commands</b>" in answer.text


def test_a_node_uses_its_share_of_the_bot_budget_and_per_chat_limits_stay_whole() -> None:
    """Cluster mode: a node holding 8 of 32 delivery partitions sends at 30 * 8/32 = 7.5/s in
    all; the share is read at each booking (partitions move), and one chat's 1/s is unchanged."""
    clock = SteppingClock()
    share = [8 / 32]
    limiter = telegram_limiter(clock=clock, sleep=clock.sleep, share=lambda: share[0])
    slots = [limiter.reserve(chat) for chat in range(1, 9)]
    assert slots == pytest.approx([i / 7.5 for i in range(8)])
    # Chat 1 again: no earlier than its own 1 s, then the share's spacing after chat 8's slot.
    assert limiter.reserve(1) == pytest.approx(8 / 7.5)
    share[0] = 1.0
    clock.now = 10.0
    assert [limiter.reserve(chat) for chat in range(11, 14)] == pytest.approx([0.0, 1 / 30, 2 / 30])

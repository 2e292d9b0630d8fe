"""The bot's replies and the dispatcher's deliveries share one rate limiter per bot.

Telegram counts every message of a bot against the same limits (about one per second in a chat,
30 per second overall), whichever part of Mempools sent it. Real python-telegram-bot against the
local fake Bot API, which records when each message arrived.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
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

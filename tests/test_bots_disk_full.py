"""Both chat bots while the store refuses writes (a full disk): a polite "try again in a minute", then it works.

Real python-telegram-bot and discord.py against the local fakes, over a store on a real small
tmpfs (see tests/tmpfs.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.apikit import BOB
from tests.fakes.discord_bot import DiscordBotWorld
from tests.fakes.telegram_api import FakeTelegramApi
from tests.telegram_kit import running_rig
from tests.test_discord_commands import ALICE, IN_DM
from tests.tmpfs import fill_until_refused, small_tmpfs

TRY_AGAIN = "⏳ Mempools cannot save anything right now, so nothing was changed. Please try again in a minute."


async def test_telegram_asks_to_try_again_in_a_minute_while_the_disk_is_full(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", 16) as disk:
        async with FakeTelegramApi() as api, running_rig(disk, api) as rig:
            await rig.say("/start")
            ballast = fill_until_refused(disk, rig.env.store)
            for _ in range(2):
                [reply] = await rig.say(f"/watch {BOB}")
                assert reply.text == TRY_AGAIN
            assert list(rig.env.repos.subscriptions.scan()) == []
            ballast.unlink()
            deadline = time.monotonic() + 10  # the store reopens itself at most once a second
            while (reply := (await rig.say(f"/watch {BOB}"))[0]).text == TRY_AGAIN:
                assert time.monotonic() < deadline
            assert reply.text.startswith("✅ Subscribed")
            assert len(list(rig.env.repos.subscriptions.scan())) == 1


async def test_discord_asks_to_try_again_in_a_minute_while_the_disk_is_full(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", 16) as disk:
        async with DiscordBotWorld(disk) as world:
            assert world.store is not None
            ballast = fill_until_refused(disk, world.store)
            reply = await world.discord.slash("watch", {"address": ALICE}, **IN_DM)
            assert reply.content == TRY_AGAIN and reply.ephemeral
            assert world.subscriptions_of("703") == []
            ballast.unlink()
            deadline = time.monotonic() + 10
            while (reply := await world.discord.slash("watch", {"address": ALICE}, **IN_DM)).content == TRY_AGAIN:
                assert time.monotonic() < deadline
            assert ALICE in reply.content
            assert len(world.subscriptions_of("703")) == 1

"""Front doors that must be single, on two real `mempools serve` nodes (issue #16, point 4).

One Telegram bot and one Discord bot shared by the cluster: only the holder of the `telegram`
lease polls `getUpdates` (the fake Bot API answers 409 to a second poller, as Telegram does, and
records it), only the holder of `discord` holds a gateway connection; kill -9 of a holder and the
other node takes over within 15 s and answers. Both nodes run the same config.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.cluster_rig import ClusterRig, ServeNode, cluster_rig
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.telegram_api import FakeTelegramApi
from tests.polling import until

TAKEOVER_S = 15.0
DM = {"channel_id": 900, "user_id": 703}


def _bots(tmp_path: Path, telegram: FakeTelegramApi, discord_: FakeDiscord) -> str:
    telegram_token = tmp_path / "telegram.token"
    telegram_token.write_text(telegram.token)
    discord_token = tmp_path / "discord.token"
    discord_token.write_text("cluster-discord-token")
    return (
        f'[telegram]\napi_url = "{telegram.base_url.removesuffix("/bot")}"\ntoken_file = "{telegram_token}"\n'
        f'[discord]\napi_url = "{discord_.api_base}"\ngateway_url = "{discord_.gateway_url}"\n'
        f'token_file = "{discord_token}"\n'
    )


async def _answers_help(telegram: FakeTelegramApi, chat_id: int, timeout: float) -> None:
    before = len(telegram.sent)
    telegram.push_update(telegram.message_update(chat_id=chat_id, user_id=chat_id, text="/help"))
    await telegram.wait_sent(before + 1, timeout=timeout)
    assert telegram.sent[-1].chat_id == chat_id


async def _survivor_takes(rig: ClusterRig, lease: str, dead: ServeNode, alive: ServeNode) -> float:
    started = time.monotonic()
    assert await rig.holder(lease, timeout=TAKEOVER_S, among=[alive]) is alive
    return time.monotonic() - started


async def test_one_poller_one_gateway_and_each_moves_within_15_s_of_a_kill_9(tmp_path: Path) -> None:
    async with FakeTelegramApi() as telegram, FakeDiscord() as discord_:
        rigged = cluster_rig(tmp_path / "rig", extra=_bots(tmp_path, telegram, discord_))
        async with rigged as rig:
            a, b = await rig.add_nodes(2)
            poller = await rig.holder("telegram")
            gateway = await rig.holder("discord")
            await asyncio.wait_for(discord_.ready.wait(), 30)
            await _answers_help(telegram, 501, timeout=15)
            reply = await discord_.slash("chains", {}, **DM)
            assert reply.content or reply.embeds
            assert telegram.conflicts == [] and discord_.most_connected == 1

            other = b if poller is a else a
            poller.kill()
            took = await _survivor_takes(rig, "telegram", poller, other)
            await _answers_help(telegram, 502, timeout=TAKEOVER_S)  # the new poller answers
            if gateway is poller:  # the same node held both: the gateway moved too
                await _survivor_takes(rig, "discord", gateway, other)
                await until(lambda: discord_.connected == 1, timeout=TAKEOVER_S)
            reply = await discord_.slash("chains", {}, **DM)  # answered through the surviving gateway
            assert reply.content or reply.embeds
            assert telegram.conflicts == [], "two nodes polled getUpdates at once"
            assert discord_.connected == 1
            print(f"telegram poller moved {took:.1f} s after kill -9 (lease_ttl {rig.lease_ttl} s)")

"""`mempools serve` with a Discord token: the notifications its dispatcher sends carry the
[Pause] [Mute 1 h] that its bot answers (the runtime hands the bot's signer to the channel).

A real `mempools serve` process against the local Discord and a devnet chain served by this test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.fakes.discord_gateway import FakeDiscord
from tests.polling import until
from tests.processes import MempoolsProcess, write_devnet_config


async def test_a_served_notification_has_buttons_its_bot_answers(tmp_path: Path) -> None:
    chain = DevnetChain(DevnetConfig(chain_id="devnet-1", block_time=0, history=2, txs_per_block=0, seed=11))
    async with DevnetServer(chain, run_clock=False) as devnet, FakeDiscord() as discord_:
        extra = f'[discord]\napi_url = "{discord_.api_base}"\ngateway_url = "{discord_.gateway_url}"\n'
        config = write_devnet_config(tmp_path / "config.toml", tmp_path / "data", devnet.url, "devnet-1", extra=extra)
        server = MempoolsProcess("serve", "--config", str(config), env={"MEMPOOLS_DISCORD_TOKEN": "serve-token"})
        try:
            await asyncio.to_thread(server.api_url)
            await asyncio.wait_for(discord_.ready.wait(), 30)
            alice, bob = chain.book.accounts[0], chain.book.accounts[1]
            dm = {"channel_id": 900, "user_id": 703}
            watched = await discord_.slash("watch", {"address": alice}, **dm)
            assert watched.content.startswith("👀"), watched.content
            chain.schedule_transfer(bob, alice, 1_000_000, "uatom")
            chain.advance()
            await until(lambda: discord_.messages, timeout=30)
            [message] = discord_.messages
            assert list(message.custom_ids()) == ["⏸ Pause", "🔕 Mute 1 h"], server.output
            in_dm = {"channel_id": discord_.dm_channels[703], "user_id": 703}  # where the bot posted it
            muted = await discord_.press(message.as_message(), message.custom_ids()["🔕 Mute 1 h"], **in_dm)
            assert muted.ephemeral and muted.content.startswith("🔕 Muted"), muted.content
        finally:
            rc = await asyncio.to_thread(server.stop)
        assert rc == 0, server.output
        assert "serve-token" not in server.output

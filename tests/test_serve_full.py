"""`mempools serve` as one process with everything: bots on, readiness following the chain, /metrics."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx

from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.telegram_api import FakeTelegramApi
from tests.processes import MempoolsProcess, write_devnet_config

CHAIN_ID = "devnet-1"


async def _ready(url: str, want: int, chain_check: str = "", timeout: float = 30) -> dict:
    """Poll /ready until it answers `want` with the chain's check starting with `chain_check`.

    Waiting on the status alone is not enough: a watcher can be unready for more than one
    reason, and the first 503 after the node fails may be the lag (the websocket still announces
    new heights that cannot be fetched) before the stall is seen `stall_seconds` later."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            r = await http.get(f"{url}/ready")
            check = r.json()["checks"].get(f"chain:{CHAIN_ID}", "")
            if (r.status_code == want and check.startswith(chain_check)) or time.monotonic() > deadline:
                assert r.status_code == want and check.startswith(chain_check), r.text
                return r.json()
            await asyncio.sleep(0.2)


async def test_serve_with_both_bots_starts_them_and_stops_cleanly(tmp_path: Path) -> None:
    async with FakeTelegramApi() as telegram, FakeDiscord() as discord_:
        telegram_root = telegram.base_url.removesuffix("/bot")
        config = tmp_path / "config.toml"
        config.write_text(
            f'chains = []\n[api]\nport = 0\n[store]\npath = "{tmp_path / "data"}"\n'
            f'[telegram]\napi_url = "{telegram_root}"\n'
            f'[discord]\napi_url = "{discord_.api_base}"\ngateway_url = "{discord_.gateway_url}"\n'
        )
        server = MempoolsProcess(
            "serve", "--config", str(config),
            env={"MEMPOOLS_TELEGRAM_TOKEN": telegram.token, "MEMPOOLS_DISCORD_TOKEN": "discord-test-token"},
        )  # fmt: skip
        try:
            url = await asyncio.to_thread(server.api_url)
            await asyncio.wait_for(discord_.ready.wait(), 20)
            deadline = time.monotonic() + 20
            while not ({"setMyCommands", "getUpdates"} <= {m for m, _ in telegram.calls} and discord_.synced):
                assert time.monotonic() < deadline, (telegram.calls, discord_.synced)
                await asyncio.sleep(0.1)
            assert {c["command"] for c in telegram.commands} >= {"start", "watch", "subscribe", "list", "help"}
            assert [c["name"] for c in discord_.synced["global"]] == ["mempools", "alias"]
            async with httpx.AsyncClient(timeout=5) as http:
                assert (await http.get(f"{url}/health")).status_code == 200
            started = time.monotonic()
            rc = await asyncio.to_thread(server.stop, signal.SIGTERM)
            assert rc == 0, server.output
            assert time.monotonic() - started < 5
            assert telegram.token not in server.output and "discord-test-token" not in server.output
            assert "Traceback" not in server.output
        finally:
            await asyncio.to_thread(server.kill)


async def test_readiness_reflects_a_stalled_watcher_and_metrics_show_the_chain(tmp_path: Path) -> None:
    chain = DevnetChain(DevnetConfig(chain_id=CHAIN_ID, block_time=0.2, history=5, txs_per_block=2))
    async with DevnetServer(chain) as devnet:
        config = write_devnet_config(
            tmp_path / "config.toml", tmp_path / "data", devnet.url, CHAIN_ID, chain_extra="stall_seconds = 1.5\n"
        )
        server = MempoolsProcess("serve", "--config", str(config))
        try:
            url = await asyncio.to_thread(server.api_url)
            await _ready(url, 200, "at ")
            devnet.set_faults(error_rate=1.0)  # the node answers nothing but 503s from now on
            await _ready(url, 503, "stalled: no answer from its endpoints")
            devnet.set_faults(error_rate=0.0)
            await _ready(url, 200, "at ")
            async with httpx.AsyncClient(timeout=5) as http:
                metrics = (await http.get(f"{url}/metrics")).text
            assert f'mempools_chain_height{{chain="{CHAIN_ID}"}}' in metrics
            assert "mempools_outbox_depth" in metrics and "mempools_rpc_errors_total" in metrics
            assert await asyncio.to_thread(server.stop) == 0
        finally:
            await asyncio.to_thread(server.kill)

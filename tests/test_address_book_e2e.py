"""Address-book labels reach the messages (#15.8), end to end with real parts only.

A label set over REST (the real app), a transfer in a devnet block (real CometBFT RPC on
loopback), the real watcher and processor, the real dispatcher: the signed webhook's `summary`
and `labels`, and the Telegram message the bot sends to the linked chat, name the address by its
label; a notification made before the label keeps the words it was sent with.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from core.chain.pool import EndpointPool
from core.config import ChainConfig, Config, Denom, WebhooksConfig
from core.dispatch.dispatcher import Dispatcher
from core.dispatch.http import HttpClient
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import TelegramChannel
from core.dispatch.webhook import WebhookChannel
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import api_client, signup
from tests.fakes.telegram_api import FakeTelegramApi
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.polling import until
from tests.telegram_kit import BotRig

DEVNET = "devnet-1"


@pytest.fixture
async def devnet() -> AsyncIterator[DevnetServer]:
    chain = DevnetChain(DevnetConfig(chain_id=DEVNET, block_time=0, history=5, txs_per_block=0, seed=5))
    async with DevnetServer(chain, run_clock=False) as server:
        yield server


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


def _config(rpc: str) -> Config:
    return Config(
        chains=[
            ChainConfig(
                id=DEVNET, name="Devnet", rpc=[rpc], bech32_prefix="cosmos",
                denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
            )
        ],
        webhooks=WebhooksConfig(allow_private_networks=True),
    )  # fmt: skip


async def test_a_label_set_by_rest_names_the_address_in_the_webhook_and_the_telegram_message(
    tmp_path: Path, api: FakeTelegramApi, devnet: DevnetServer, receiver: WebhookReceiver
) -> None:
    rig = BotRig(tmp_path, api, config=_config(devnet.url))
    env = rig.env
    chain = env.config.chains[0].to_chain()
    pool = EndpointPool(DEVNET, [devnet.url], timeout=2)
    processor = BlockProcessor(chain, env.matcher, env.repos, env.outbox, labels=env.services.address_book.labels_for)
    watcher = ChainWatcher(
        DEVNET, pool, processor, env.repos, start_height=devnet.chain.tip + 1, window=4, poll_interval=0.05
    )
    http = HttpClient(allow_private_networks=True, total_timeout=5)
    channels = {
        "telegram": TelegramChannel(rig.door.bot, limiter=RateLimiter(per_key_interval=0.0)),
        "webhook": WebhookChannel(http),
    }
    dispatcher = Dispatcher(env.outbox, env.repos, channels, {DEVNET: chain}.get)
    stop = asyncio.Event()
    await rig.door.start()
    tasks = [asyncio.create_task(watcher.run(stop)), asyncio.create_task(dispatcher.run(stop))]
    treasury, sender = devnet.chain.book.accounts[3], devnet.chain.book.accounts[0]
    try:
        async with api_client(env.app) as client:
            _, h = await signup(client, "alice@example.com")
            code = (await client.post("/v1/link-codes", headers=h)).json()["code"]
            [linked] = await rig.say(f"/link {code}")
            [watching] = await rig.say(f"/watch {treasury}")
            assert "✅ Subscribed" in watching.text
            r = await client.post("/v1/destinations", json={"kind": "webhook", "url": receiver.url("/h")}, headers=h)
            secret, hook_id = r.json()["secret"], r.json()["id"]
            r = await client.post(
                "/v1/subscriptions",
                json={
                    "chain_id": DEVNET, "name": "Treasury hook", "preset": "funds_either",
                    "params": {"address": treasury}, "destination_ids": [hook_id],
                },
                headers=h,
            )  # fmt: skip
            assert r.status_code == 201, r.text

            # Before the label: the address as usual.
            devnet.chain.schedule_transfer(sender, treasury, 1_000_000, "uatom")
            devnet.advance()
            await until(lambda: len(receiver.received) == 1 and len(api.sent) == 3, timeout=15)
            first = json.loads(receiver.received[0].body)["data"]
            assert "Treasury" not in first["summary"] and first["labels"] == {}

            r = await client.put(f"/v1/address-book/{treasury}", json={"label": "Treasury"}, headers=h)
            assert r.status_code == 201, r.text
            devnet.chain.schedule_transfer(sender, treasury, 1_500_000, "uatom")
            devnet.advance()
            await until(lambda: len(receiver.received) == 2 and len(api.sent) == 4, timeout=15)

            got = receiver.received[1]
            data = Webhook(secret).verify(got.body, got.headers)["data"]
            assert data["summary"].startswith("📥 +1.5 ATOM to Treasury from cosmos1"), data["summary"]
            assert data["labels"] == {treasury: "Treasury"}
            note = api.sent[3]
            assert note.chat_id == 42 and "<b>📥 +1.5 ATOM to Treasury from cosmos1" in note.text, note.text

            # The history keeps what each notification said when it was made.
            items = (await client.get("/v1/notifications?limit=10", headers=h)).json()["items"]
            summaries = sorted(n["summary"] for n in items)
            assert sum("Treasury" in s for s in summaries) == 2 and len(summaries) == 4, summaries
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        await rig.door.stop()
        await pool.aclose()
        await http.close()
        rig.close()
    assert "Linked" in linked.text or "linked" in linked.text

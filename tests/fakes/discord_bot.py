"""The real Discord front door, on a real store and the real services, against `FakeDiscord`.

async with DiscordBotWorld(tmp_path) as world:
    reply = await world.discord.slash("watch", {"address": ...}, guild_id=1, permissions=MANAGER)
    world.services.subscriptions.list(world.account_of("guild:1"))
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord

from bot.discord import DiscordFrontDoor
from core.config import ChainConfig, Config, Denom, DiscordConfig, Secret
from core.dispatch.outbox import Outbox
from core.monitor.facts import ChainQueries
from core.services import Services
from core.services.deliveries import DeliveryService
from core.store import RocksStore, open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from tests.fakes.discord_gateway import FakeDiscord

TOKEN = "bot-token-never-logged"
MANAGER = discord.Permissions(manage_guild=True, send_messages=True)
MEMBER = discord.Permissions(send_messages=True, read_messages=True)

DEVNET = ChainConfig(
    id="devnet-1",
    name="Devnet",
    rpc=["http://127.0.0.1:9"],
    bech32_prefix="cosmos",
    explorer_tx_url="https://explorer.example/devnet/tx/{hash}",
    denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
)
OSMO = ChainConfig(
    id="osmo-test",
    name="Osmo Test",
    rpc=["http://127.0.0.1:9"],
    bech32_prefix="osmo",
    denoms=[Denom(base="uosmo", display="OSMO", exponent=6)],
)


class DiscordBotWorld:
    """A store, the services, the front door running as a task, and the fake Discord it talks to."""

    def __init__(
        self,
        path: Path,
        *,
        chains: list[ChainConfig] | None = None,
        guild_id: int | None = None,
        token: str | None = TOKEN,
        rpc: str | None = None,
        chain_queries: Callable[[str], ChainQueries | None] | None = None,
    ) -> None:
        self.path = path
        self._chain_queries = chain_queries
        chain_configs = [c for c in (chains or [DEVNET, OSMO])]
        if rpc is not None:
            chain_configs = [ChainConfig(**{**_fields(c), "rpc": [rpc]}) for c in chain_configs]
        self.discord = FakeDiscord()
        self._guild_id = guild_id
        self._token = token
        self._chain_configs = chain_configs
        self.store: RocksStore | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DiscordBotWorld:
        await self.discord.start()
        self.config = Config(
            chains=self._chain_configs,
            discord=DiscordConfig(
                api_url=self.discord.api_base,
                gateway_url=self.discord.gateway_url,
                guild_id=self._guild_id,
                token=Secret(self._token) if self._token is not None else None,
            ),
        )
        self.store = open_store(self.path / "db")
        self.repos = Repositories(self.store)
        self.matcher = SubscriptionMatcher()
        self.outbox = Outbox(self.store)
        self.services = Services.build(
            self.config, self.repos, self.matcher, self.outbox, chain_queries=self._chain_queries
        )
        self.front_door = DiscordFrontDoor(
            self.config.discord,
            self.services,
            send_sample=DeliveryService(self.repos, self.outbox).send_sample,
            guild_ready_timeout=0.05,
        )
        if self._token is not None:
            await self.start()
        return self

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.front_door.run(self._stop))
        ready = asyncio.create_task(self.front_door.wait_until_ready())
        await asyncio.wait({ready, self._task}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if self._task.done():
            ready.cancel()
            self._task.result()
        assert ready.done(), "the bot did not become ready"

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 10)
            self._task = None

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.stop()
        finally:
            await self.discord.stop()
            if self.store is not None:
                self.store.close()

    def account_of(self, external_id: str) -> str | None:
        """The account id behind a Discord identity (`<user id>` or `guild:<id>`), if it exists."""
        identity = self.repos.identities.find("discord", external_id)
        return identity.account_id if identity is not None else None

    def subscriptions_of(self, external_id: str) -> list[Any]:
        account = self.account_of(external_id)
        return self.services.subscriptions.list(account) if account is not None else []


def _fields(chain: ChainConfig) -> dict[str, Any]:
    return {f: getattr(chain, f) for f in chain.__struct_fields__}

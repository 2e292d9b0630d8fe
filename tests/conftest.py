"""Fixtures shared by the service, API, Telegram and Discord tests (modules override them when they need more)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from discord.http import HTTPClient

from tests.apikit import Env, api_client
from tests.browser import browser, console, visit  # noqa: F401  (the real-browser fixtures, tests/browser.py)
from tests.consolekit import ConsoleUser, console_signup
from tests.fakes.discord_api import FakeDiscordApi
from tests.fakes.telegram_api import FakeTelegramApi
from tests.nats_cluster import NatsCluster, nats_cluster
from tests.replica_node import ReplicaNode
from tests.telegram_kit import BotRig, running_rig


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """Services and the API app over a real RocksDB store in a temp dir."""
    e = Env(tmp_path)
    yield e
    e.close()


async def _console_user(env: Env, email: str) -> AsyncIterator[ConsoleUser]:
    async with api_client(env.app) as c:
        yield await console_signup(c, email)


@pytest.fixture
async def alice(env: Env) -> AsyncIterator[ConsoleUser]:
    """An account signed up in the console of `env`'s app (tests/consolekit.py)."""
    async for user in _console_user(env, "alice@example.com"):
        yield user


@pytest.fixture
async def bob(env: Env) -> AsyncIterator[ConsoleUser]:
    """A second console account (another tenant)."""
    async for user in _console_user(env, "bob@example.com"):
        yield user


@pytest.fixture
async def mallory(env: Env) -> AsyncIterator[ConsoleUser]:
    """A console account that tries to reach the others' data."""
    async for user in _console_user(env, "mallory@example.com"):
        yield user


@pytest.fixture
async def client(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to `env`'s app."""
    async with api_client(env.app) as c:
        yield c


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    """The local Telegram Bot API (tests/fakes/telegram_api.py)."""
    async with FakeTelegramApi() as fake:
        yield fake


@pytest.fixture
async def rig(tmp_path: Path, api: FakeTelegramApi) -> AsyncIterator[BotRig]:
    """The real Telegram front door, started against `api`."""
    async with running_rig(tmp_path, api) as r:
        yield r


@pytest.fixture
async def discord_api() -> AsyncIterator[FakeDiscordApi]:
    """The local Discord REST API (tests/fakes/discord_api.py), with discord.py routed to it."""
    async with FakeDiscordApi() as fake:
        with fake.patched_route_base():
            yield fake


@pytest.fixture
async def discord_rest(discord_api: FakeDiscordApi) -> AsyncIterator[HTTPClient]:
    """discord.py's own REST client, logged in to `discord_api` (what a DiscordChannel sends with)."""
    http = HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=30)
    await http.static_login("bot-token")
    yield http
    await http.close()


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    """Three real nats-server processes as one JetStream cluster on loopback (tests/nats_cluster.py)."""
    async with nats_cluster(tmp_path / "nats") as c:
        yield c


@pytest.fixture
async def one_nats(tmp_path: Path) -> AsyncIterator[NatsCluster]:
    """One real nats-server with JetStream: enough for leases (created with replicas = 1)."""
    async with nats_cluster(tmp_path / "nats", size=1) as c:
        yield c


@pytest.fixture
async def replicas(cluster: NatsCluster, tmp_path: Path) -> AsyncIterator[list[ReplicaNode]]:
    """Two cluster nodes' stores on `cluster`: each a RocksDB replica, its ClusterStore and applier."""
    started = [await ReplicaNode.start(cluster, tmp_path / f"replica-{i}", f"node-{i}") for i in range(2)]
    yield started
    for node in started:
        await node.close()

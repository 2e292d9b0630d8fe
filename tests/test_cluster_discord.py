"""Two nodes, one Discord bot: only the holder of the `discord` lease holds the gateway connection
(and answers interactions), the other sends channel messages and DMs over REST alone, and the
gateway moves when its holder dies.

Real discord.py against the fake Discord (REST + gateway), real leases on a real 1-node NATS server,
a RocksDB store per node.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from bot.discord import DiscordFrontDoor
from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET_NEEDS, lease_bucket
from core.config import ClusterConfig, Config, DiscordConfig, Secret
from core.dispatch.discord import DiscordChannel
from core.dispatch.outbox import Outbox
from core.services import Services
from core.store import open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from tests.contender import Contender
from tests.fakes.discord_bot import DEVNET, MANAGER, TOKEN
from tests.fakes.discord_gateway import FakeDiscord
from tests.fakes.records import COSMOS, discord_destination, make_notification
from tests.nats_cluster import NatsCluster
from tests.polling import until

TTL = 2
IN_SERVER = {"guild_id": 4242, "channel_id": 600, "user_id": 701, "permissions": MANAGER}


class Node(Contender):
    """One "mempools node": its NATS connection, store, services, front door, runner on `discord`."""

    def __init__(self, name: str, path: Path, fake: FakeDiscord, connection: ClusterConnection) -> None:
        self.name = name
        config = Config(
            chains=[DEVNET],
            discord=DiscordConfig(api_url=fake.api_base, gateway_url=fake.gateway_url, token=Secret(TOKEN)),
        )
        path.mkdir(parents=True)
        self.store = open_store(path / "db")
        repos = Repositories(self.store)
        services = Services.build(config, repos, SubscriptionMatcher(), Outbox(self.store))
        self.door = DiscordFrontDoor(config.discord, services, guild_ready_timeout=0.05)
        self.channel = DiscordChannel(self.door.client)  # what this node's dispatcher sends with
        super().__init__(connection, "discord", name, self.door.connect, ttl=TTL, stop_deadline=2.0)

    def contend(self) -> None:
        self.start()

    async def close(self) -> None:
        await super().close()
        await self.door.close()
        self.store.close()


@contextlib.asynccontextmanager
async def two_nodes(tmp_path: Path, one_nats: NatsCluster) -> AsyncIterator[tuple[FakeDiscord, list[Node]]]:
    fake = FakeDiscord()
    await fake.start()
    nodes: list[Node] = []
    try:
        for name in ("a", "b"):
            conn = await ClusterConnection.open(ClusterConfig(nats=one_nats.urls, node=name, replicas=1))
            await conn.ensure_kv(lease_bucket(1), LEASE_BUCKET_NEEDS)
            nodes.append(Node(name, tmp_path / name, fake, conn))
        for node in nodes:
            await node.door.open()  # every node logs in over REST
        yield fake, nodes
    finally:
        for node in reversed(nodes):  # discord.py's URLs are process-wide: put back in reverse
            await node.close()
        await fake.stop()


def connected(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n.door.connected]


def syncs(fake: FakeDiscord) -> int:
    return sum(1 for method, path in fake.requests if method == "PUT" and path.endswith("/commands"))


async def test_one_gateway_connection_and_rest_sends_from_the_other_node(tmp_path: Path, one_nats: NatsCluster) -> None:
    async with two_nodes(tmp_path, one_nats) as (fake, nodes):
        assert fake.connections == 0  # logging in opens no gateway connection
        for node in nodes:
            node.contend()
        await until(lambda: len(connected(nodes)) == 1, timeout=10)
        [holder] = connected(nodes)
        [other] = [n for n in nodes if n is not holder]
        reply = await fake.slash("chains", {}, **IN_SERVER)
        assert "Devnet" in reply.embeds[0]["description"]

        # The node without the gateway sends: a channel message, and a DM (opened over REST).
        notification = make_notification("acc_a", ("dst_dc",))
        to_channel = discord_destination("dst_dc", "acc_a", channel_id=777)
        assert (await other.channel.deliver(notification, to_channel, COSMOS)).ok
        to_user = discord_destination("dst_dm", "acc_a", user_id=9001)
        assert (await other.channel.deliver(notification, to_user, COSMOS)).ok
        assert (await holder.channel.deliver(notification, to_channel, COSMOS)).ok
        assert len(fake.messages) == 3

        await holder.crash()
        died = time.monotonic()
        await until(lambda: other.door.connected, timeout=15)
        takeover = time.monotonic() - died
        print(f"discord gateway taken over {takeover:.1f} s after its holder died (TTL {TTL} s)")
        assert takeover < 15
        reply = await fake.slash("chains", {}, **IN_SERVER)  # answered by the new holder
        assert "Devnet" in reply.embeds[0]["description"]
        assert fake.most_connected == 1, "two nodes held the gateway at once"


async def test_the_gateway_moves_back_without_syncing_the_commands_again(tmp_path: Path, one_nats: NatsCluster) -> None:
    async with two_nodes(tmp_path, one_nats) as (fake, nodes):
        a, b = nodes
        a.contend()
        await until(lambda: a.door.connected, timeout=10)
        b.contend()
        await a.step_down()  # the lease goes to b; a keeps sending over REST
        await until(lambda: b.door.connected, timeout=10)
        assert not a.door.connected and a.door.is_open
        notification = make_notification("acc_a", ("dst_dc",))
        assert (await a.channel.deliver(notification, discord_destination("dst_dc", "acc_a", channel_id=5), COSMOS)).ok

        a.contend()
        await b.step_down()
        await until(lambda: a.door.connected, timeout=10)
        reply = await fake.slash("chains", {}, **IN_SERVER)
        assert "Devnet" in reply.embeds[0]["description"]
        assert syncs(fake) == 2  # a's first connect and b's; a's second did not sync again
        assert fake.most_connected == 1

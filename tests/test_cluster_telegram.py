"""Two nodes, one Telegram bot: only the holder of the `telegram` lease polls getUpdates, the other
takes over when the holder dies, and both send at any time.

Real python-telegram-bot against the fake Bot API (which answers 409 to a second open getUpdates
and records it, as Telegram does), real leases on a real 1-node NATS server, a RocksDB store per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET_NEEDS, lease_bucket
from core.config import ClusterConfig
from tests.contender import Contender
from tests.fakes.telegram_api import FakeTelegramApi
from tests.nats_cluster import NatsCluster
from tests.polling import until
from tests.telegram_kit import BotRig

TTL = 2  # seconds: a dead holder's lease is free again within TTL + 1 s


class Node(Contender):
    """One "mempools node": its own NATS connection, store, front door and runner on `telegram`."""

    def __init__(self, name: str, path: Path, api: FakeTelegramApi, connection: ClusterConnection) -> None:
        self.name = name
        self.rig = BotRig(path, api)
        self.door = self.rig.door
        super().__init__(connection, "telegram", name, self.door.poll, ttl=TTL, stop_deadline=1.0)

    async def open(self) -> None:
        await self.door.open()  # every node: sendMessage works from here on
        self.start()

    async def close(self) -> None:
        await super().close()
        await self.door.close()
        self.rig.close()


@contextlib.asynccontextmanager
async def two_nodes(tmp_path: Path, api: FakeTelegramApi, one_nats: NatsCluster) -> AsyncIterator[list[Node]]:
    nodes: list[Node] = []
    try:
        for name in ("a", "b"):
            conn = await ClusterConnection.open(ClusterConfig(nats=one_nats.urls, node=name, replicas=1))
            await conn.ensure_kv(lease_bucket(1), LEASE_BUCKET_NEEDS)
            nodes.append(Node(name, tmp_path / name, api, conn))
        for node in nodes:
            await node.open()
        yield nodes
    finally:
        for node in nodes:
            await node.close()


def polling(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n.door.polling]


async def test_one_poller_and_a_takeover_within_15_s_when_it_dies(
    tmp_path: Path, api: FakeTelegramApi, one_nats: NatsCluster
) -> None:
    async with two_nodes(tmp_path, api, one_nats) as nodes:
        await until(lambda: len(polling(nodes)) == 1, timeout=10)
        [holder] = polling(nodes)
        [other] = [n for n in nodes if n is not holder]
        [reply] = await holder.rig.say("/help")
        assert "/watch" in reply.text
        for node in nodes:  # both send, whoever polls
            await node.door.bot.send_message(chat_id=42, text=f"notification from {node.name}")
        assert {m.text for m in api.sent[-2:]} == {"notification from a", "notification from b"}

        await holder.crash()
        died = time.monotonic()
        await until(lambda: other.door.polling, timeout=15)
        takeover = time.monotonic() - died
        assert takeover < 15, takeover
        print(f"telegram poller took over {takeover:.1f} s after the holder died (TTL {TTL} s)")

        [reply] = await other.rig.say("/help")  # answered by the new poller
        assert "/watch" in reply.text
        await other.door.bot.send_message(chat_id=42, text="still sending")
        assert api.sent[-1].text == "still sending"
        assert api.conflicts == [], "two nodes polled getUpdates at once"
        assert api.pollers <= 1


async def test_a_holder_that_stops_polling_keeps_sending_and_loses_no_update(
    tmp_path: Path, api: FakeTelegramApi, one_nats: NatsCluster
) -> None:
    async with two_nodes(tmp_path, api, one_nats) as nodes:
        await until(lambda: len(polling(nodes)) == 1, timeout=10)
        [holder] = polling(nodes)
        [other] = [n for n in nodes if n is not holder]
        api.hold_sends = asyncio.Event()  # the holder's reply hangs: the update is in hand
        api.push_update(api.message_update(chat_id=42, user_id=42, text="/help"))
        await until(lambda: any(m == "sendMessage" for m, _ in api.calls), timeout=10)

        holder.stop.set()  # it gives the lease up; its handler is cut off after stop_deadline
        assert holder.task is not None
        await asyncio.wait_for(holder.task, 10)
        assert not holder.door.polling and holder.door.is_open
        api.hold_sends.set()
        api.hold_sends = None

        # Not confirmed by the holder, so Telegram gives the update to the next poller.
        await until(lambda: other.door.polling, timeout=15)
        await until(lambda: sum("/watch" in m.text for m in api.sent) >= 2, timeout=10)
        await holder.door.bot.send_message(chat_id=42, text="after the move")  # the Application stayed open
        assert api.sent[-1].text == "after the move"
        assert api.conflicts == []


async def test_without_the_lease_two_pollers_conflict(tmp_path: Path, api: FakeTelegramApi) -> None:
    """What the lease prevents, and what the fake's `conflicts` would show if it did not."""
    rigs = [BotRig(tmp_path / name, api) for name in ("a", "b")]
    try:
        for rig in rigs:
            await rig.door.start()
        await until(lambda: api.conflicts, timeout=10)
    finally:
        for rig in rigs:
            await rig.door.stop()
            rig.close()

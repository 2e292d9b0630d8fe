"""The composition root: builds every part from the config and runs them on one event loop.

This is the only module that knows all of core, api and bot; each of those gets what it needs
through its constructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import time
from collections.abc import Generator
from typing import Any

import uvicorn

from api.app import create_app
from api.readiness import Readiness
from bot.discord import DiscordFrontDoor
from bot.telegram import TelegramFrontDoor
from core.chain.blocks import DecodedBlock
from core.chain.pool import EndpointPool
from core.config import Config
from core.dispatch.channel import Channel
from core.dispatch.discord import DiscordChannel
from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.telegram import TelegramChannel
from core.dispatch.webhook import WebhookChannel
from core.errors import InternalError
from core.models import Chain
from core.services import Services
from core.store import RocksStore, open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.control import ControlError, ControlServer, socket_path
from mempools.http_server import uvicorn_config
from mempools.maintenance import Maintenance, build_scheduler
from mempools.metrics import Metrics
from mempools.progress import CatchUpProgress
from mempools.supervisor import Supervisor

log = logging.getLogger("mempools")

SHUTDOWN_DEADLINE = 4.0  # seconds for intake (API, watchers, bots) to stop
DRAIN_DEADLINE = 5.0  # seconds in-flight deliveries get to finish at SIGTERM


class PortInUseError(InternalError):
    """The API's address cannot be bound."""


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortInUseError(f"api: cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Runtime:
    """Every long-running part of one mempools process."""

    def __init__(self, config: Config, store: RocksStore, *, progress: CatchUpProgress | None = None) -> None:
        self.config = config
        self.store = store
        self.repos = Repositories(store)
        self.outbox = Outbox(store)
        self.chains: dict[str, Chain] = {c.id: c.to_chain() for c in config.chains}
        self.matcher = SubscriptionMatcher()
        for chain_id in self.chains:
            self.matcher.load(self.repos.subscriptions.of_chain(chain_id))
        # The subscription index is large and long-lived: keep the collector from re-walking it
        # (a full collection over 100k subscriptions costs ~170 ms; docs/PERFORMANCE.md).
        gc.freeze()
        self.progress = progress or CatchUpProgress()
        self.pools: dict[str, EndpointPool] = {}
        self.watchers: dict[str, ChainWatcher] = {}  # filled below, once the services exist

        self.metrics = Metrics(
            watchers=lambda: {chain_id: w.stats for chain_id, w in self.watchers.items()},
            outbox_depth=self.outbox.size,
        )

        # Delivery: one HTTP client for webhooks and Discord webhook URLs, a channel per kind.
        self.http = HttpClient(
            connect_timeout=config.webhooks.connect_timeout,
            total_timeout=config.webhooks.total_timeout,
            allow_private_networks=config.webhooks.allow_private_networks,
        )
        webhooks = WebhookChannel(self.http)
        self.services = Services.build(
            config,
            self.repos,
            self.matcher,
            self.outbox,
            stats=lambda chain_id: self.watchers[chain_id].stats if chain_id in self.watchers else None,
            fetch_block=self.fetch_block,
            tester=webhooks.send_test_event,
        )
        for chain_config in config.chains:
            chain = self.chains[chain_config.id]
            pool = EndpointPool(chain.id, chain_config.rpc)
            self.pools[chain.id] = pool
            processor = BlockProcessor(
                chain, self.matcher, self.repos, self.outbox, labels=self.services.address_book.labels_for
            )
            self.watchers[chain.id] = ChainWatcher(
                chain.id,
                pool,
                processor,
                self.repos,
                start_height=chain_config.start_height,
                on_progress=self.progress.update,
            )
        self.telegram = TelegramFrontDoor.from_config(config.telegram, self.services)
        self.discord = DiscordFrontDoor(config.discord, self.services)
        channels: dict[str, Channel] = {
            "webhook": webhooks,
            "discord": DiscordChannel(
                self.discord.client if self.discord.enabled else None,
                webhook_http=self.http,
                signer=self.discord.signer,
            ),
        }
        if self.telegram is not None:
            channels["telegram"] = TelegramChannel(
                self.telegram.bot, limiter=self.telegram.limiter, signer=self.telegram.signer
            )
        self.dispatcher = Dispatcher(
            self.outbox,
            self.repos,
            channels,
            self.chains.get,
            limits=DispatchLimits.from_config(config.dispatch),
            on_attempt=self.metrics.delivery,
        )
        self.maintenance = Maintenance(
            self.repos, config.history, probes={chain_id: pool.refresh for chain_id, pool in self.pools.items()}
        )
        self.supervisor = Supervisor()
        self.delivery = Supervisor()  # its own: the dispatcher stops after intake, to drain
        self.api_port: int | None = None  # known once `run` has bound the socket
        self.listening = asyncio.Event()  # set once `run` has bound it (a failed bind raises instead)
        self.control = ControlServer(socket_path(config.store.path), {"backup": self._backup})
        self.api = create_app(
            readiness=self.readiness, services=self.services, api_config=config.api, metrics=self.metrics.render
        )

    async def fetch_block(self, chain_id: str, height: int) -> DecodedBlock:
        """One block of a configured chain, through its endpoint pool (the query tester uses it)."""
        return await self.pools[chain_id].fetch_height(height)

    @classmethod
    def open(cls, config: Config) -> Runtime:
        return cls(config, open_store(config.store.path, sync=config.store.sync_writes))

    async def _backup(self, request: dict[str, Any]) -> dict[str, Any]:
        """Checkpoint the live store (hard links + a memtable flush: off the loop, it may take a while)."""
        path = str(request.get("path") or "")
        if not path.startswith("/"):
            raise ControlError("backup needs an absolute target path")
        await asyncio.to_thread(self.store.checkpoint, path)
        log.info("backup written to %s", path)
        return {"path": path}

    def readiness(self) -> Readiness:
        # The store says whether it takes writes: a full disk makes the process unready (nothing
        # new is recorded) until it recovers by itself; see core/store/rocks.py.
        checks = {"store": self.store.health.describe()}
        ready = not self.store.health.refusing
        now = time.monotonic()
        for chain_config in self.config.chains:
            stats = self.watchers[chain_config.id].stats
            silent = now - stats.last_contact_monotonic
            if stats.tip == 0:
                checks[f"chain:{chain_config.id}"] = "no endpoint answered yet"
                ready = False
            elif silent > chain_config.stall_seconds:
                checks[f"chain:{chain_config.id}"] = f"stalled: no answer from its endpoints for {silent:.0f} s"
                ready = False
            elif stats.lag > chain_config.lag_budget_blocks:
                checks[f"chain:{chain_config.id}"] = (
                    f"{stats.lag} blocks behind (budget {chain_config.lag_budget_blocks})"
                )
                ready = False
            else:
                checks[f"chain:{chain_config.id}"] = f"at {stats.cursor}, {stats.lag} behind"
        for part in (*self.supervisor.parts.values(), *self.delivery.parts.values()):
            if part.status == "restarting":  # reported, but only the watchers decide readiness
                checks[part.name] = f"restarting after {part.restarts} failures (last: {part.last_error})"
        return Readiness(ready=ready, checks=checks)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down in order and close the store.

        Order on the way down: stop intake (API, watchers, bots), let in-flight deliveries finish
        up to the deadline, then close clients and the store (every write is a committed batch,
        so nothing needs flushing beyond RocksDB's own close).
        """
        sock = bind_socket(self.config.api.host, self.config.api.port)
        server = _EmbeddedUvicorn(uvicorn_config(self.api, self.config.api))
        host, port = sock.getsockname()[:2]
        self.api_port = port
        self.listening.set()
        api_task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
        await self.control.start()
        log.info("mempools serving the API on http://%s:%s", host, port)
        intake = asyncio.Event()  # set first at shutdown: watchers and bots stop taking new work
        for chain_id, watcher in self.watchers.items():
            self.supervisor.start(f"watcher:{chain_id}", watcher.run, intake)
        if self.telegram is not None:
            self.supervisor.start("telegram", self.telegram.run, intake)
        if self.discord.enabled:
            self.supervisor.start("discord", self.discord.run, intake)
        self.delivery.start("dispatcher", self._dispatch, stop)
        scheduler = build_scheduler(self.maintenance, extra={"sweep_sessions": (self._sweep_sessions, 3600.0)})
        scheduler.start()
        try:
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({api_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        finally:
            intake.set()
            server.should_exit = True
            scheduler.shutdown(wait=False)
            await self.supervisor.wait(timeout=SHUTDOWN_DEADLINE)
            stop.set()
            await self.delivery.wait(timeout=DRAIN_DEADLINE + 1)
            await self.control.stop()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(api_task, timeout=SHUTDOWN_DEADLINE)
            await asyncio.gather(
                self.http.close(), *(pool.aclose() for pool in self.pools.values()), return_exceptions=True
            )
            sock.close()
            self.store.close()
            log.info("mempools stopped")

    async def _sweep_sessions(self) -> None:
        await self.services.accounts.sweep_expired()  # a coroutine, so APScheduler runs it on the loop

    async def _dispatch(self, stop: asyncio.Event) -> None:
        await self.dispatcher.run(stop, drain_deadline_s=DRAIN_DEADLINE)

"""The composition root: builds every part from the config and runs them on one event loop.

This is the only module that knows all of core, api and bot; each of those gets what it needs
through its constructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from typing import Any

import uvicorn

from api.app import create_app
from core.chain.blocks import DecodedBlock
from core.chain.pool import EndpointPool
from core.config import Config
from core.errors import MempoolsError
from core.models import Chain
from core.outbox import Outbox
from core.readiness import Readiness
from core.repositories import Repositories
from core.services import Services
from core.store import RocksStore, open_store
from core.supervisor import Supervisor
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.control import ControlError, ControlServer, socket_path

log = logging.getLogger("mempools")

SHUTDOWN_DEADLINE = 4.0


class PortInUseError(MempoolsError):
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

    def __init__(self, config: Config, store: RocksStore) -> None:
        self.config = config
        self.store = store
        self.repos = Repositories(store)
        self.outbox = Outbox(store)
        self.chains: dict[str, Chain] = {c.id: c.to_chain() for c in config.chains}
        self.matcher = SubscriptionMatcher()
        for chain_id in self.chains:
            self.matcher.load(self.repos.subscriptions.of_chain(chain_id))
        self.pools: dict[str, EndpointPool] = {}
        self.watchers: dict[str, ChainWatcher] = {}
        for chain_config in config.chains:
            chain = self.chains[chain_config.id]
            pool = EndpointPool(chain.id, chain_config.rpc)
            self.pools[chain.id] = pool
            self.watchers[chain.id] = ChainWatcher(
                chain.id,
                pool,
                BlockProcessor(chain, self.matcher, self.repos, self.outbox),
                self.repos,
                start_height=chain_config.start_height,
            )
        self.supervisor = Supervisor()
        self.control = ControlServer(socket_path(config.store.path), {"backup": self._backup})
        self.services = Services.build(
            config,
            self.repos,
            self.matcher,
            self.outbox,
            stats=lambda chain_id: self.watchers[chain_id].stats if chain_id in self.watchers else None,
            fetch_block=self.fetch_block,
            tester=None,  # TODO(lead): the dispatcher's WebhookChannel.send_test_event once it is built here
        )
        self.api = create_app(readiness=self.readiness, services=self.services, api_config=config.api)

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
        checks = {"store": "open"}
        ready = True
        for chain_config in self.config.chains:
            stats = self.watchers[chain_config.id].stats
            if stats.tip == 0:
                checks[f"chain:{chain_config.id}"] = "no endpoint answered yet"
                ready = False
            elif stats.lag > chain_config.lag_budget_blocks:
                checks[f"chain:{chain_config.id}"] = (
                    f"{stats.lag} blocks behind (budget {chain_config.lag_budget_blocks})"
                )
                ready = False
            else:
                checks[f"chain:{chain_config.id}"] = f"at {stats.cursor}, {stats.lag} behind"
        return Readiness(ready=ready, checks=checks)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down in order and close the store."""
        sock = bind_socket(self.config.api.host, self.config.api.port)
        server = _EmbeddedUvicorn(
            uvicorn.Config(self.api, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=3)
        )
        host, port = sock.getsockname()[:2]
        api_task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
        await self.control.start()
        log.info("mempools serving the API on http://%s:%s", host, port)
        for chain_id, watcher in self.watchers.items():
            self.supervisor.start(f"watcher:{chain_id}", watcher.run, stop)
        try:
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({api_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        finally:
            stop.set()
            server.should_exit = True
            await self.supervisor.wait(timeout=SHUTDOWN_DEADLINE)
            await self.control.stop()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(api_task, timeout=SHUTDOWN_DEADLINE)
            await asyncio.gather(*(pool.aclose() for pool in self.pools.values()), return_exceptions=True)
            sock.close()
            self.store.close()
            log.info("mempools stopped")

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

import uvicorn

from api.app import create_app
from core.config import Config
from core.errors import MempoolsError
from core.readiness import Readiness
from core.repositories import Repositories
from core.store import RocksStore, open_store

log = logging.getLogger("mempools")


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
        self.api = create_app(readiness=self.readiness)

    @classmethod
    def open(cls, config: Config) -> Runtime:
        return cls(config, open_store(config.store.path, sync=config.store.sync_writes))

    def readiness(self) -> Readiness:
        checks = {"store": "open"}
        return Readiness(ready=True, checks=checks)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down in order and close the store."""
        sock = bind_socket(self.config.api.host, self.config.api.port)
        server = _EmbeddedUvicorn(
            uvicorn.Config(self.api, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=3)
        )
        host, port = sock.getsockname()[:2]
        api_task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
        log.info("mempools serving the API on http://%s:%s", host, port)
        try:
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({api_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        finally:
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(api_task, timeout=4)
            sock.close()
            self.store.close()
            log.info("mempools stopped")

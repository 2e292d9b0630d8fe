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
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

import uvicorn

from api.app import create_app
from api.readiness import Readiness
from bot.discord import DiscordFrontDoor
from bot.telegram import TelegramFrontDoor
from core.chain.blocks import DecodedBlock
from core.chain.pool import EndpointPool
from core.chain.queries import NodeQueries
from core.chain.rest import ChainRestClient
from core.config import Config
from core.dispatch.channel import Channel
from core.dispatch.discord import DiscordChannel
from core.dispatch.dispatcher import Dispatcher, DispatchLimits
from core.dispatch.http import HttpClient
from core.dispatch.outbox import Outbox
from core.dispatch.telegram import TelegramChannel, telegram_limiter
from core.dispatch.webhook import WebhookChannel
from core.errors import InternalError
from core.models import Chain
from core.monitor.monitor import ChainMonitor
from core.services import Services
from core.services.chains import ChainProgress, RecordedProgress
from core.store import KVStore, RocksStore, open_store
from core.store.repositories import Repositories
from core.watch.fence import fenced_watch
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor
from core.watch.watcher import ChainWatcher
from mempools.control import ControlError, ControlServer, socket_path
from mempools.http_server import uvicorn_config
from mempools.maintenance import ClusterJobs, Jobs, Maintenance, build_node_scheduler, build_scheduler
from mempools.metrics import Metrics
from mempools.progress import CatchUpProgress
from mempools.supervisor import Supervisor

if TYPE_CHECKING:  # a single node never imports the NATS client
    from core.cluster.connection import ClusterConnection
    from core.cluster.node import ClusterNode

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
    """Every long-running part of one mempools process.

    With `cluster` (a `ClusterNode`, whose `store` this is) the same parts run as one node of a
    cluster: the API on every node, each chain's watcher, the Telegram poller, the Discord gateway
    and the scheduled jobs under a lease each, deliveries in the partitions this node holds
    (docs/CLUSTER.md). Without it, everything runs here, as it always has.
    """

    def __init__(
        self,
        config: Config,
        store: KVStore,
        *,
        progress: CatchUpProgress | None = None,
        cluster: ClusterNode | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.cluster = cluster
        self.repos = Repositories(store)
        # In a cluster this node delivers only the partitions it holds, and learns of entries
        # written by other nodes' watchers as their changes are applied here.
        self.outbox = Outbox(store) if cluster is None else Outbox(store, partitions=set(), follow=True)
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
        # What validator and governance monitoring asks each chain (its RPC pool and REST API).
        self.chain_queries: dict[str, NodeQueries] = {}
        for chain_config in config.chains:
            pool = EndpointPool(chain_config.id, chain_config.rpc)
            self.pools[chain_config.id] = pool
            rest = ChainRestClient(chain_config.rest) if chain_config.rest else None
            self.chain_queries[chain_config.id] = NodeQueries(chain_config.id, pool.validators, rest)

        self.metrics = Metrics(
            watchers=lambda: {chain_id: w.stats for chain_id, w in self.watchers.items() if self._watches(chain_id)},
            outbox_depth=self.outbox.size,
            leases=cluster.leases if cluster is not None else dict,
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
            stats=self._progress,
            fetch_block=self.fetch_block,
            latest_height=self.latest_height,
            tester=webhooks.send_test_event,
            chain_queries=self.chain_queries.get,
            monitoring_problems=self._monitoring_problems,
        )
        for chain_config in config.chains:
            chain = self.chains[chain_config.id]
            pool = self.pools[chain.id]
            monitor = ChainMonitor(
                chain.id,
                self.repos,
                lambda chain_id=chain.id: self.matcher.watches(chain_id),  # type: ignore[misc]
                self.chain_queries[chain.id],
                proposal_url=chain.proposal_url,
            )
            processor = BlockProcessor(
                chain,
                self.matcher,
                self.repos,
                self.outbox,
                labels=self.services.address_book.labels_for,
                monitor=monitor,
            )
            self.watchers[chain.id] = ChainWatcher(
                chain.id,
                pool,
                processor,
                self.repos,
                start_height=chain_config.start_height,
                on_progress=self.progress.update,
            )
        # Telegram's per-bot budget is shared by the nodes in proportion to the partitions they hold.
        limiter = {} if cluster is None else {"limiter": telegram_limiter(share=cluster.bot_share)}
        self.telegram = TelegramFrontDoor.from_config(config.telegram, self.services, **limiter)
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

    async def latest_height(self, chain_id: str) -> int:
        """A configured chain's latest height, as its endpoints report it (`latest: true` query tests)."""
        return await self.pools[chain_id].latest_height()

    @classmethod
    def open(cls, config: Config, *, connection: ClusterConnection | None = None) -> Runtime:
        """Open the data directory (in a cluster: this node's replica) and build everything on it.

        `connection`: a cluster node's first successful join, if it had one (mempools/commands/serve.py)."""
        replica = open_store(config.store.path, sync=config.store.sync_writes)
        if config.cluster is None:
            return cls(config, replica)
        from core.cluster.node import ClusterNode  # here: a single node never loads the NATS client

        node = ClusterNode(config.cluster, replica, connection=connection)
        return cls(config, node.store, cluster=node)

    def _progress(self, chain_id: str) -> ChainProgress | None:
        """How far a chain has got: the watcher's own figures where it runs, else its stored cursor."""
        watcher = self.watchers.get(chain_id)
        if watcher is None or self._watches(chain_id):
            return watcher.stats if watcher is not None else None
        cursor = self.repos.cursors.get(chain_id)
        return watcher.stats if cursor is None else RecordedProgress(cursor=cursor.height, tip=cursor.tip)

    def _monitoring_problems(self, chain_id: str) -> dict[str, str]:
        watcher = self.watchers.get(chain_id)
        monitor = watcher.processor.monitor if watcher is not None else None
        return dict(monitor.problems) if monitor is not None and self._watches(chain_id) else {}

    def _watches(self, chain_id: str) -> bool:
        """Whether this node watches the chain now (always on a single node; the lease holder in a cluster)."""
        return self.cluster is None or self.cluster.leases().get(f"chain:{chain_id}", False)

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
        # new is recorded) until it recovers by itself; see core/store/rocks.py. In a cluster the
        # node says it: joined and connected to NATS (a reconnect of a few seconds is tolerated).
        checks: dict[str, str] = {}
        if self.cluster is None:
            assert isinstance(self.store, RocksStore)
            checks["store"] = self.store.health.describe()
            ready = not self.store.health.refusing
        else:
            ready, checks["cluster"] = self.cluster.describe()
        now = time.monotonic()
        for chain_config in self.config.chains:
            if not self._watches(chain_config.id):  # a cluster node that does not hold the chain's lease
                assert self.cluster is not None
                checks[f"chain:{chain_config.id}"] = (
                    "watched by another node" if self.cluster.joined.is_set() else "not watched here until joined"
                )
                continue
            stats = self.watchers[chain_config.id].stats
            silent = now - stats.last_contact_monotonic
            held_for = self.cluster.held_for(f"chain:{chain_config.id}") if self.cluster is not None else None
            if stats.tip == 0 and held_for is not None and held_for < chain_config.stall_seconds:
                # Just took the chain over from another node: this node was serving all along.
                checks[f"chain:{chain_config.id}"] = "taking over: no endpoint answered yet"
            elif stats.tip == 0:
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
        sweep: Jobs = {"sweep_sessions": (self._sweep_sessions, 3600.0)}
        cluster_task: asyncio.Task[None] | None = None
        node_stop = asyncio.Event()  # a cluster node leaves last: draining deliveries still commit
        if self.cluster is None:
            for chain_id, watcher in self.watchers.items():
                self.supervisor.start(f"watcher:{chain_id}", watcher.run, intake)
            if self.telegram is not None:
                self.supervisor.start("telegram", self.telegram.run, intake)
            if self.discord.enabled:
                self.supervisor.start("discord", self.discord.run, intake)
            scheduler = build_scheduler(self.maintenance, extra=sweep)
        else:
            cluster_task = self._join_cluster(self.cluster, intake, stop, node_stop, sweep)
            scheduler = build_node_scheduler(self.maintenance)
        self.delivery.start("dispatcher", self._dispatch, stop)
        scheduler.start()
        try:
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait(
                {api_task, stopper, *([cluster_task] if cluster_task else [])}, return_when=asyncio.FIRST_COMPLETED
            )
            stopper.cancel()
        finally:
            intake.set()
            server.should_exit = True
            self.services.activity.close_all()  # live streams end now rather than at uvicorn's deadline
            scheduler.shutdown(wait=False)
            await self.supervisor.wait(timeout=SHUTDOWN_DEADLINE)
            stop.set()
            await self.delivery.wait(timeout=DRAIN_DEADLINE + 1)
            node_stop.set()
            failure = await self._leave_cluster(cluster_task)
            await self.control.stop()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(api_task, timeout=SHUTDOWN_DEADLINE)
            await asyncio.gather(
                self.http.close(),
                *(pool.aclose() for pool in self.pools.values()),
                *(queries.aclose() for queries in self.chain_queries.values()),
                return_exceptions=True,
            )
            if self.cluster is not None:
                await self._close_bots()
            sock.close()
            self.store.close()
            log.info("mempools stopped")
        if failure is not None:  # a cluster this node cannot use (another schema, a dropped setting)
            raise failure

    def _join_cluster(
        self,
        cluster: ClusterNode,
        intake: asyncio.Event,
        stop: asyncio.Event,
        node_stop: asyncio.Event,
        sweep: Jobs,
    ) -> asyncio.Task[None]:
        """Register what runs under a lease, then join in the background (the API answers meanwhile)."""
        for chain_id, watcher in self.watchers.items():
            cluster.lease(f"chain:{chain_id}", fenced_watch(watcher, self.store, cluster.name), stop=intake)
        cluster.deliver(self.outbox, stop=stop)
        if self.telegram is not None:
            self.supervisor.start("telegram", self._open_bot(self.telegram.open), intake)
            cluster.lease("telegram", self._when_open(self.telegram.open, self.telegram.poll), stop=intake)
        if self.discord.enabled:
            self.supervisor.start("discord", self._open_bot(self.discord.open), intake)
            cluster.lease("discord", self._when_open(self.discord.open, self.discord.connect), stop=intake)
        cluster.lease("jobs", ClusterJobs(self.maintenance, extra=sweep), stop=intake)
        cluster.api = f"{self.config.api.host}:{self.api_port}"
        return asyncio.create_task(cluster.run(node_stop), name="cluster")

    @staticmethod
    def _open_bot(open_: Callable[[], Awaitable[None]]) -> Callable[[asyncio.Event], Awaitable[None]]:
        """Every node opens the bots for sending (the supervisor retries a failed open), while only
        the lease holder polls Telegram or holds the Discord gateway."""

        async def part(intake: asyncio.Event) -> None:
            await open_()
            await intake.wait()

        return part

    @staticmethod
    def _when_open(
        open_: Callable[[], Awaitable[None]], work: Callable[[asyncio.Event, int], Awaitable[None]]
    ) -> Callable[[asyncio.Event, int], Coroutine[Any, Any, None]]:
        async def leased(stop: asyncio.Event, token: int) -> None:
            await open_()  # idempotent: the holder may win the lease before its own open finished
            await work(stop, token)

        return leased

    async def _leave_cluster(self, task: asyncio.Task[None] | None) -> BaseException | None:
        """Wait for the node to leave (its leases released, its applier stopped); its failure, if any."""
        if task is None:
            return None
        done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_DEADLINE + DRAIN_DEADLINE)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
        exc = task.exception()
        if exc is not None:
            log.error("cluster: %s", exc)
        return exc

    async def _close_bots(self) -> None:
        if self.telegram is not None:
            with contextlib.suppress(Exception):
                await self.telegram.close()
        if self.discord.enabled:
            with contextlib.suppress(Exception):
                await self.discord.close()

    async def _sweep_sessions(self) -> None:
        await self.services.accounts.sweep_expired()  # a coroutine, so APScheduler runs it on the loop

    async def _dispatch(self, stop: asyncio.Event) -> None:
        await self.dispatcher.run(stop, drain_deadline_s=DRAIN_DEADLINE)

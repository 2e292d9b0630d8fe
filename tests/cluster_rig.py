"""Several real `mempools serve` processes on one real 3-node NATS cluster, for the cluster tests.

`ClusterRig` puts together what issue #16 asks its tests to run against: a JetStream cluster
(`tests.nats_cluster.NatsCluster`), a devnet chain in its own process (`mempools devnet`, grown on
demand through its control API so a test decides when blocks appear), N `mempools serve` nodes with
`[cluster]` configs, and a webhook receiver on loopback that records every `webhook-id`. Which node
made a delivery is not in the request (the product does not say, and nothing is added to it for
the tests): each node's own `/metrics` delivery counter tells.

Faults are real signals to real processes (kill -9, SIGSTOP/SIGCONT). Every wait is on a condition
the processes report (`/metrics`, `/ready`, the API, the receiver), never a fixed sleep. When a
test fails inside `cluster_rig(...)`, the tails of every node's log are printed, so the failure
report says what each process was doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import msgspec

from core.chain.decoder import BlockDecoder
from core.ids import notification_id
from core.query.index import SubscriptionIndex
from mempools.devnet.chain import DevnetChain
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.nats_cluster import NatsCluster, NatsNode
from tests.polling import until_async
from tests.processes import ROOT, DevnetProcess, MempoolsProcess, write_devnet_config

CHAIN_ID = "devnet-1"
CHAIN_LEASE = f"chain:{CHAIN_ID}"
CHANGES_STREAM = "mempools_changes"
PASSWORD = "a long passphrase for the rig"
_LEASE_HELD = re.compile(r'^mempools_lease_held\{lease="([^"]+)"\} (\S+)$', re.MULTILINE)
_DELIVERED = re.compile(
    r'^mempools_deliveries(?:_total)?\{channel="webhook",outcome="delivered"\} (\S+)$', re.MULTILINE
)
_PARTITION_MOVE = re.compile(r"lease delivery:\d+ (acquired|released)")
_HEIGHT = re.compile(rf'^mempools_chain_height{{chain="{CHAIN_ID}"}} (\S+)$', re.MULTILINE)


class Sub(msgspec.Struct, frozen=True):
    """A subscription as the API answered it: what the reference needs to compute its matches."""

    id: str
    queries: list[str]


class ServeNode:
    """One `mempools serve` process of the cluster: its config, its local replica, its signals."""

    def __init__(self, name: str, config: Path) -> None:
        self.name = name
        self.config = config
        self.proc: MempoolsProcess | None = None
        self.url = ""
        self.runs = 0  # earlier processes' output is kept in `past_output`
        self.past_output = ""

    async def start(self, *, wait_api: bool = True) -> None:
        if self.proc is not None:
            self.past_output += self.proc.output
        self.proc = MempoolsProcess("serve", "--config", str(self.config))
        self.runs += 1
        if wait_api:
            self.url = await asyncio.to_thread(self.proc.api_url, 60)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.proc.poll() is None

    @property
    def output(self) -> str:
        return self.past_output + (self.proc.output if self.proc is not None else "")

    @property
    def current_output(self) -> str:
        """The output of the running (or last) process only."""
        return self.proc.output if self.proc is not None else ""

    def kill(self) -> None:
        """kill -9 (a paused process is resumed first so it does not linger stopped)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.proc.send_signal(signal.SIGCONT)
        self.proc.kill()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.proc.send_signal(signal.SIGCONT)

    async def stop(self) -> int:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            self.proc.proc.send_signal(signal.SIGCONT)
        return await asyncio.to_thread(self.proc.stop, signal.SIGTERM, 20)

    def tail(self, lines: int = 60) -> str:
        """The last lines of its output, without the delivery partitions' lease moves (dozens a start)."""
        kept = [line for line in self.output.splitlines() if not _PARTITION_MOVE.search(line)]
        return "\n".join(kept[-lines:])


class Metrics(msgspec.Struct, frozen=True):
    """What a test reads from one node's `/metrics`."""

    leases: dict[str, bool]
    delivered: int
    height: int


def parse_metrics(text: str) -> Metrics:
    leases = {name: float(value) == 1.0 for name, value in _LEASE_HELD.findall(text)}
    delivered = sum(int(float(v)) for v in _DELIVERED.findall(text))
    height = _HEIGHT.search(text)
    return Metrics(leases=leases, delivered=delivered, height=int(float(height.group(1))) if height else 0)


class ClusterRig:
    """NATS x3 + a devnet + N serve nodes + a webhook receiver; see the module docstring."""

    def __init__(
        self,
        root: Path,
        nats: NatsCluster,
        devnet: DevnetProcess,
        receiver: WebhookReceiver,
        *,
        lease_ttl: int = 2,
        extra: str = "",
        chain_extra: str = "",
        cluster: bool = True,
    ) -> None:
        self.root = root
        self.nats = nats
        self.devnet = devnet
        self.devnet_url = ""
        self.receiver = receiver
        self.lease_ttl = lease_ttl
        self.extra = extra
        self.chain_extra = chain_extra
        self.cluster = cluster  # False: single-node configs (to check the rig itself against one node)
        self.nodes: list[ServeNode] = []
        self.http = httpx.AsyncClient(timeout=10.0)
        self.reference: DevnetChain = devnet.reference()
        self.tip = self.reference.tip

    # -- the nodes -----------------------------------------------------------------------------

    def config_text(self, name: str, *, nats_urls: Iterable[str] | None = None) -> str:
        urls = ", ".join(f'"{url}"' for url in (nats_urls if nats_urls is not None else self.nats.urls))
        cluster = f'[cluster]\nnats = [{urls}]\nnode = "{name}"\nreplicas = 3\nlease_ttl = {self.lease_ttl}\n'
        return (
            "[webhooks]\nallow_private_networks = true\n"
            "[quotas]\nsubscriptions_per_account = 1000\ndestinations_per_account = 1000\n"
            f"{self.extra}{cluster if self.cluster else ''}"
        )

    def write_config(self, name: str, *, nats_urls: Iterable[str] | None = None) -> Path:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        return write_devnet_config(
            directory / "config.toml",
            directory / "data",
            self.devnet_url,
            CHAIN_ID,
            extra=self.config_text(name, nats_urls=nats_urls),
            chain_extra=self.chain_extra,
        )

    async def add_node(self, name: str | None = None, *, wait_api: bool = True) -> ServeNode:
        node = ServeNode(name or f"m{len(self.nodes) + 1}", Path())
        node.config = self.write_config(node.name)
        self.nodes.append(node)
        await node.start(wait_api=wait_api)
        return node

    async def add_nodes(self, count: int, *, joined: bool = True) -> list[ServeNode]:
        """Start `count` nodes at once (their starts overlap, as in a real deployment); with
        `joined`, return once each has joined the cluster (its API comes up before that)."""
        names = [f"m{len(self.nodes) + i + 1}" for i in range(count)]
        nodes = [ServeNode(name, self.write_config(name)) for name in names]
        self.nodes.extend(nodes)
        await asyncio.gather(*(node.start() for node in nodes))
        if joined and self.cluster:
            await asyncio.gather(*(self.wait_joined(node) for node in nodes))
        return nodes

    async def wait_joined(self, node: ServeNode, timeout: float = 30.0) -> None:
        """`/ready`'s `cluster` check says the node has joined ("node <name>: ...")."""
        last: list[object] = [None]

        async def joined() -> bool:
            _, body = await self.ready(node)
            last[0] = body.get("checks", {}).get("cluster")
            return str(last[0]).startswith(f"node {node.name}:")

        try:
            await until_async(joined, timeout)
        except AssertionError:
            raise AssertionError(f"{node.name} has not joined after {timeout} s: {last[0]}") from None

    def node(self, name: str) -> ServeNode:
        return next(node for node in self.nodes if node.name == name)

    # -- what the nodes report -----------------------------------------------------------------

    async def metrics(self, node: ServeNode) -> Metrics | None:
        """None when the node does not answer (stopped, paused, killed)."""
        try:
            response = await self.http.get(f"{node.url}/metrics", timeout=2.0)
        except httpx.HTTPError:
            return None
        return parse_metrics(response.text) if response.status_code == 200 else None

    async def ready(self, node: ServeNode, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
        """`/ready`'s status and body; (0, {}) when the node does not answer."""
        try:
            response = await self.http.get(f"{node.url}/ready", timeout=timeout)
        except httpx.HTTPError as exc:
            return 0, {"error": repr(exc)}
        try:
            return response.status_code, dict(response.json())
        except ValueError:
            return response.status_code, {"text": response.text}

    async def holders(self, lease: str, nodes: Iterable[ServeNode] | None = None) -> list[ServeNode]:
        """The answering nodes whose `/metrics` say they hold `lease`."""
        found = []
        for node in nodes if nodes is not None else self.nodes:
            if node.running:
                metrics = await self.metrics(node)
                if metrics is not None and metrics.leases.get(lease):
                    found.append(node)
        return found

    async def holder(
        self, lease: str = CHAIN_LEASE, timeout: float = 30.0, among: Iterable[ServeNode] | None = None
    ) -> ServeNode:
        """The one node holding `lease` (waits until exactly one answering node says so)."""
        candidates = list(among) if among is not None else None
        found: list[ServeNode] = []

        async def one() -> bool:
            found[:] = await self.holders(lease, candidates)
            return len(found) == 1

        await until_async(one, timeout)
        return found[0]

    async def wait_height(self, node: ServeNode, height: int, timeout: float = 60.0) -> None:
        """`node`'s `/metrics` report the chain processed up to `height`."""
        last = [0]

        async def reached() -> bool:
            metrics = await self.metrics(node)
            last[0] = metrics.height if metrics is not None else last[0]
            return last[0] >= height

        try:
            await until_async(reached, timeout)
        except AssertionError:
            raise AssertionError(f"{node.name} at height {last[0]}, not {height}, after {timeout} s") from None

    async def cluster_status(self, node: ServeNode) -> dict[str, Any]:
        """`mempools cluster status --config <node's> --json`, parsed."""
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "mempools", "cluster", "status", "--config", str(node.config), "--json"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
        return dict(json.loads(done.stdout))

    # -- the chain ------------------------------------------------------------------------------

    async def advance(self, blocks: int) -> int:
        """Make `blocks` new blocks on the devnet (and on the in-test reference)."""
        response = await self.http.post(f"{self.devnet_url}/devnet/advance", json={"n": blocks})
        response.raise_for_status()
        self.tip = int(response.json()["tip"])
        self.reference.advance(blocks)
        assert self.reference.tip == self.tip
        return self.tip

    def expected(self, subs: Iterable[Sub], heights: Iterable[int]) -> dict[str, int]:
        """What a correct watcher makes: notification id -> height, each block decoded and matched
        on its own (the same naive reference as tests/test_watcher.py)."""
        index: SubscriptionIndex[str] = SubscriptionIndex()
        for sub in subs:
            index.add(sub.id, sub.queries)
        decoder = BlockDecoder()
        ids: dict[str, int] = {}
        for height in heights:
            block = decoder.decode(self.reference.block_results_json(height), self.reference.block_json(height))
            for scope in block.scopes:
                scope_key = "block" if scope.index is None else f"tx:{scope.index}"
                for sub_id in index.match(scope.events_map):
                    ids[notification_id(CHAIN_ID, height, scope_key, sub_id)] = height
        return ids

    # -- the REST API ---------------------------------------------------------------------------

    async def sign_up(self, node: ServeNode, email: str = "rig@example.com") -> str:
        """An account and an API key made through `node`; returns the key."""
        body = {"email": email, "password": PASSWORD}
        r = await self.http.post(f"{node.url}/v1/accounts", json=body)
        assert r.status_code == 201, r.text
        async with httpx.AsyncClient(timeout=10.0) as browser:  # its own cookie jar
            r = await browser.post(f"{node.url}/v1/sessions", json=body)
            assert r.status_code == 201, r.text
            r = await browser.post(f"{node.url}/v1/api-keys", json={"name": "rig"})
            assert r.status_code == 201, r.text
            return str(r.json()["key"])

    async def call(self, node: ServeNode, key: str, method: str, path: str, body: Any = None) -> httpx.Response:
        return await self.http.request(
            method, f"{node.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}
        )

    async def create_destination(self, node: ServeNode, key: str, path: str = "/hook", name: str = "hook") -> str:
        r = await self.call(
            node, key, "POST", "/v1/destinations", {"kind": "webhook", "url": self.receiver.url(path), "name": name}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    async def create_subscription(
        self, node: ServeNode, key: str, name: str, queries: list[str], destination_ids: list[str]
    ) -> Sub:
        r = await self.call(
            node,
            key,
            "POST",
            "/v1/subscriptions",
            {"chain_id": CHAIN_ID, "name": name, "queries": queries, "destination_ids": destination_ids},
        )
        assert r.status_code == 201, r.text
        return Sub(id=str(r.json()["id"]), queries=list(r.json()["queries"]))

    async def list_all(self, node: ServeNode, key: str, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list route (`{"items", "next_cursor"}`)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = f"{path}?limit=200" if path == "/v1/notifications" else path  # the others take no limit
            query += (f"{'&' if '?' in query else '?'}cursor={cursor}") if cursor else ""
            r = await self.call(node, key, "GET", query)
            assert r.status_code == 200, r.text
            page = r.json()
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    async def history(self, node: ServeNode, key: str) -> list[dict[str, Any]]:
        return await self.list_all(node, key, "/v1/notifications")

    async def wait_history(self, node: ServeNode, key: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The history once it holds at least `count` notifications."""
        seen: list[list[dict[str, Any]]] = [[]]

        async def enough() -> bool:
            seen[0] = await self.history(node, key)
            return len(seen[0]) >= count

        try:
            await until_async(enough, timeout)
        except AssertionError:
            raise AssertionError(f"history of {node.name} holds {len(seen[0])} of {count} notifications") from None
        return seen[0]

    # -- the webhook receiver -------------------------------------------------------------------

    def webhook_ids(self) -> Counter[str]:
        """How many times each `webhook-id` arrived."""
        return Counter(r.headers.get("webhook-id", "") for r in self.receiver.received)

    async def wait_webhooks(self, ids: Iterable[str], timeout: float = 60.0) -> Counter[str]:
        wanted = set(ids)

        async def all_in() -> bool:
            return wanted <= set(self.webhook_ids())

        try:
            await until_async(all_in, timeout)
        except AssertionError:
            missing = wanted - set(self.webhook_ids())
            raise AssertionError(f"{len(missing)} of {len(wanted)} webhook-ids never arrived") from None
        return self.webhook_ids()

    # -- NATS -----------------------------------------------------------------------------------

    async def kill_stream_leader(self, stream: str = CHANGES_STREAM) -> NatsNode:
        leader = await self.nats.stream_leader(stream)
        leader.kill()
        return leader

    # -- debugging ------------------------------------------------------------------------------

    def log_tails(self, lines: int = 60) -> str:
        parts = []
        for node in self.nodes:
            state = "running" if node.running else "not running"
            parts.append(f"--- mempools {node.name} ({state}, {node.runs} run(s)) ---\n{node.tail(lines)}")
        for nats_node in self.nats.nodes:
            text = "\n".join(nats_node.output().splitlines()[-10:])
            parts.append(f"--- nats {nats_node.name} ({'running' if nats_node.running else 'down'}) ---\n{text}")
        parts.append(f"--- devnet ---\n{''.join(self.devnet.lines[-10:])}")
        return "\n".join(parts)

    async def close(self) -> None:
        for node in self.nodes:
            if node.proc is not None:
                node.kill()
        await self.http.aclose()


@contextlib.asynccontextmanager
async def cluster_rig(
    root: Path,
    *,
    txs_per_block: int = 4,
    seed: int = 11,
    lease_ttl: int = 2,
    extra: str = "",
    chain_extra: str = "",
    cluster: bool = True,
) -> AsyncIterator[ClusterRig]:
    """A started NATS cluster, devnet (tip 1: blocks come when the test calls `advance`) and
    receiver, with no serve node yet; everything stopped afterwards. On a failure inside it, the
    log tails of every process are printed (pytest shows them with the failure)."""
    nats = NatsCluster(root / "nats")
    devnet = DevnetProcess(CHAIN_ID, history=1, seed=seed, txs_per_block=txs_per_block)
    receiver = WebhookReceiver()
    rig: ClusterRig | None = None
    started = time.monotonic()
    try:
        nats.start()
        await receiver.start()
        await nats.wait_healthy()
        await nats.wait_writable()
        rig = ClusterRig(
            root, nats, devnet, receiver, lease_ttl=lease_ttl, extra=extra, chain_extra=chain_extra, cluster=cluster
        )
        rig.devnet_url = await asyncio.to_thread(devnet.url)
        yield rig
    except BaseException:
        if rig is not None:
            print(f"cluster rig: failed after {time.monotonic() - started:.1f} s\n{rig.log_tails()}")
        raise
    finally:
        if rig is not None:
            await rig.close()
        devnet.kill()
        await receiver.stop()
        await nats.close()

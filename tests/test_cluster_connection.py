"""Joining the NATS cluster: a too-old server or a dropped setting is refused in one line (exit 2).

The version check is a pure function of the server's INFO (tested on INFO dicts) and end to end
with a tiny fake server on loopback that speaks only NATS's greeting (`INFO {...}`, `PONG`): no old
binary needed. Everything else runs against real nats-server 2.15.1 nodes (tests/nats_cluster.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from core.cluster.connection import ClusterConnection, _refused, check_server, dropped_settings
from core.cluster.lease import LEASE_BUCKET
from core.config import ClusterConfig
from core.errors import ClusterError
from tests.nats_cluster import NatsCluster, free_ports, nats_cluster, subprocess_env
from tests.polling import until_async
from tests.processes import MempoolsProcess

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("info", "refusal"),
    [
        (
            {"version": "2.9.10", "jetstream": True},
            "NATS server 2.9.10 is too old: cluster mode needs NATS 2.12 or later",
        ),
        ({"version": "2.11.9", "jetstream": True}, "NATS server 2.11.9 is too old"),
        ({"version": "1.4.1"}, "NATS server 1.4.1 is too old"),
        ({"jetstream": True}, "NATS server version 'unknown' cannot be read"),
        ({"version": "nightly", "jetstream": True}, "NATS server version 'nightly' cannot be read"),
        ({"version": "2.12.0"}, "NATS server 2.12.0 runs without JetStream: cluster mode needs it enabled"),
    ],
)
def test_servers_cluster_mode_cannot_use_are_named(info: dict[str, object], refusal: str) -> None:
    with pytest.raises(ClusterError) as raised:
        check_server(info)
    assert refusal in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize("version", ["2.12.0", "2.12.1-RC.2", "2.15.1", "v2.14.0", "3.0.0"])
def test_servers_from_2_12_on_are_accepted(version: str) -> None:
    assert check_server({"version": version, "jetstream": True, "server_name": "n1"}) == version


def test_a_setting_the_server_did_not_keep_is_named() -> None:
    wanted = StreamConfig(name="s", allow_atomic=True, allow_msg_ttl=True, allow_msg_schedules=True)
    # What a 2.9.10 server reports after accepting that config: the flags it does not know are gone.
    stored = StreamConfig(name="s", allow_msg_ttl=None)
    needs = ("allow_atomic", "allow_msg_ttl", "allow_msg_schedules")
    assert dropped_settings(wanted, stored, needs) == ["allow_atomic", "allow_msg_ttl", "allow_msg_schedules"]
    assert dropped_settings(wanted, wanted, needs) == []


async def test_a_real_2_15_cluster_keeps_every_setting_mempools_needs(cluster: NatsCluster) -> None:
    connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node="node-1"))
    try:
        assert connection.server_version == "2.15.1"
        wanted = StreamConfig(
            name="events",
            subjects=["events.>"],
            num_replicas=3,
            allow_atomic=True,
            allow_msg_ttl=True,
            allow_msg_schedules=True,
        )
        needs = ("allow_atomic", "allow_msg_ttl", "allow_msg_schedules", "num_replicas")
        info = await connection.ensure_stream(wanted, needs)
        assert (info.config.allow_atomic, info.config.allow_msg_ttl, info.config.allow_msg_schedules) == (True,) * 3
        again = await connection.ensure_stream(wanted, needs)  # a second node starting: same stream, no error
        assert again.config.num_replicas == 3
        leader = await cluster.stream_leader("events")
        assert leader.name in {"n1", "n2", "n3"}
    finally:
        await connection.close()


def _config(tmp_path: Path, urls: list[str], replicas: int = 3) -> Path:
    path = tmp_path / "config.toml"
    listed = ", ".join(f'"{url}"' for url in urls)
    path.write_text(
        f'chains = []\n[api]\nport = 0\n[store]\npath = "{tmp_path / "data"}"\n'
        f'[cluster]\nnats = [{listed}]\nnode = "node-1"\nreplicas = {replicas}\n'
    )
    return path


async def _serve(config: Path) -> tuple[int, str]:
    """`mempools serve --config CONFIG` to its end: exit code and everything it wrote."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mempools", "serve", "--config", str(config),
        cwd=ROOT, env=subprocess_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, output.decode()


def _placement_refused(description: str) -> APIError:
    """What JetStream answers for a stream it cannot place (err_code 10005), as nats-py raises it."""
    exc = APIError()
    exc.code, exc.err_code, exc.description = 500, 10005, description
    return exc


async def test_a_bucket_a_fresh_cluster_cannot_place_yet_is_tried_again_a_real_refusal_is_not(
    one_nats: NatsCluster,
) -> None:
    """Seen in CI: a cluster just started answered "no suitable peers for placement, peer offline"
    to the lease bucket, and the node gave up at once. An offline peer passes; too many replicas does not."""
    connection = await ClusterConnection.open(ClusterConfig(nats=one_nats.urls, node="n", replicas=1))
    connection.placement_retry_s = 0.01
    answers = ["no suitable peers for placement, peer offline", "no suitable peers for placement, peer offline"]

    async def make() -> str:
        if answers:
            raise _refused("bucket b", _placement_refused(answers.pop(0)))
        return "made"

    try:
        assert await connection._patiently("bucket b", make) == "made"
        answers.extend(["no suitable peers for placement, peer offline"] * connection.api_attempts)
        with pytest.raises(ClusterError, match="NATS refused bucket b: no suitable peers for placement, peer offline"):
            await connection._patiently("bucket b", make)
        with pytest.raises(ClusterError, match="NATS refused bucket b: insufficient resources"):
            raise _refused("bucket b", _placement_refused("insufficient resources"))
    finally:
        await connection.close()


async def test_serve_refuses_an_old_server_in_one_line(tmp_path: Path) -> None:
    greeted: list[bytes] = []

    async def old_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        info = {"server_id": "OLD", "version": "2.9.10", "proto": 1, "headers": True, "jetstream": True}
        writer.write(b"INFO " + json.dumps(info).encode() + b"\r\n")
        await writer.drain()
        while line := await reader.readline():
            greeted.append(line)
            if line.startswith(b"PING"):
                writer.write(b"PONG\r\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(old_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        code, output = await _serve(_config(tmp_path, [f"nats://127.0.0.1:{port}"]))
    assert code == 2
    assert output == "mempools: NATS server 2.9.10 is too old: cluster mode needs NATS 2.12 or later\n"
    assert any(line.startswith(b"CONNECT ") for line in greeted)  # it really spoke NATS to it
    assert not (tmp_path / "data").exists()  # refused before anything was opened


async def _ready(url: str, want: int, cluster: str, timeout: float = 30) -> None:
    """Poll /ready until it answers `want` with a `cluster` check starting with `cluster`."""
    async with httpx.AsyncClient(timeout=5) as http:

        async def answered() -> bool:
            r = await http.get(f"{url}/ready")
            return r.status_code == want and r.json()["checks"].get("cluster", "").startswith(cluster)

        await until_async(answered, timeout=timeout)


async def test_serve_with_nats_unreachable_starts_unready_says_why_once_and_joins_when_nats_comes(
    tmp_path: Path,
) -> None:
    """NATS down at start is not final: the node answers /ready 503 with the reason, logs one line for
    the whole outage (not one per retry), and joins by itself once a server listens there."""
    (client, monitor, route) = free_ports(3)
    server = MempoolsProcess("serve", "--config", str(_config(tmp_path, [f"nats://127.0.0.1:{client}"], replicas=1)))
    try:
        url = await asyncio.to_thread(server.api_url)
        await _ready(url, 503, f"not joined: cannot reach NATS at nats://127.0.0.1:{client}: ")
        async with httpx.AsyncClient(timeout=5) as http:  # a write now: refused with a 503 problem, not a 500
            answer = await http.post(f"{url}/v1/accounts", json={"email": "a@b.io", "password": "hunter2hunter2"})
        assert answer.status_code == 503 and answer.headers["content-type"].startswith("application/problem+json")
        async with nats_cluster(tmp_path / "nats", size=1, ports=[(client, monitor, route)]):
            await _ready(url, 200, "node node-1: NATS connected to 127.0.0.1:")
        outage = server.output.split("joined NATS")[0].splitlines()  # what it logged until it joined
        assert sum("NATS connection:" in line for line in outage) == 1, server.output  # one line, not one a try
        assert "connection up after" in server.output
        assert "Traceback" not in server.output
    finally:
        await asyncio.to_thread(server.kill)


async def test_serve_joins_a_good_cluster_ready_with_its_leases_and_stops_cleanly(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    server = MempoolsProcess("serve", "--config", str(_config(tmp_path, cluster.urls)))
    try:
        url = await asyncio.to_thread(server.api_url)
        await _ready(url, 200, "node node-1: NATS connected to 127.0.0.1:")
        async with httpx.AsyncClient(timeout=5) as http:

            async def holds_jobs() -> bool:
                return 'mempools_lease_held{lease="jobs"} 1.0' in (await http.get(f"{url}/metrics")).text

            await until_async(holds_jobs)
        assert await asyncio.to_thread(server.stop, signal.SIGTERM) == 0, server.output
        assert "joined NATS 2.15.1" in server.output and "Traceback" not in server.output
    finally:
        await asyncio.to_thread(server.kill)
    streams = await cluster.jsz("?streams=true&accounts=true")
    names = {s["name"] for a in streams.get("account_details") or [] for s in a.get("stream_detail") or []}
    assert {f"KV_{LEASE_BUCKET}", "mempools_changes", "KV_mempools_nodes"} <= names


def test_a_single_node_never_imports_nats(tmp_path: Path) -> None:
    """Without [cluster] the whole runtime is built (store, API, watchers, dispatcher) and nats-py stays unloaded."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[store]\npath = "{tmp_path / "data"}"\n[[chains]]\nid = "devnet-1"\nname = "Devnet"\n'
        'rpc = ["http://127.0.0.1:9"]\nbech32_prefix = "cosmos"\n'
    )
    script = (
        "import sys\n"
        "from core.config import load_config\n"
        "import mempools.cli\n"
        "from mempools.runtime import Runtime\n"
        f"runtime = Runtime.open(load_config({str(config)!r}))\n"
        "runtime.store.close()\n"
        "loaded = sorted(m for m in sys.modules if m == 'nats' or m.startswith('nats.'))\n"
        "print('nats modules:', loaded)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "nats modules: []"
    assert importlib.util.find_spec("nats") is not None  # installed (the dev extra), just not loaded


async def test_the_cluster_elects_a_new_meta_leader_after_kill_9_and_takes_the_node_back(cluster: NatsCluster) -> None:
    """The harness's faults are real: kill -9 of the meta leader, a new one elected, the node restarted."""
    leader = await cluster.meta_leader()
    leader.kill()
    successor = await cluster.meta_leader(timeout=20)
    assert successor is not leader and successor.running
    leader.start()  # same ports, same JetStream directory
    await cluster.wait_healthy()
    connection = await ClusterConnection.open(ClusterConfig(nats=[leader.url], node="node-1"))
    try:
        info = await connection.ensure_stream(StreamConfig(name="after", subjects=["after"], num_replicas=3), ())
        assert info.config.num_replicas == 3
    finally:
        await connection.close()

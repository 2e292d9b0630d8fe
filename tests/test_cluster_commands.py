"""`mempools cluster status` and `mempools cluster import`, run as subprocesses against a real
3-node NATS cluster, with a lease held, two node records heartbeating and real RocksDB stores."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from core.cluster.changelog import APPLIED_KEY, CHANGES_STREAM
from core.cluster.connection import ClusterConnection
from core.cluster.importer import MARKER_PREFIX
from core.cluster.lease import LEASE_BUCKET, LEASE_BUCKET_NEEDS, Lease, lease_bucket
from core.cluster.nodes import NodeRegistry
from core.cluster.schema import CLUSTER_SCHEMA_KEY
from core.cluster.store import ClusterStore
from core.config import ClusterConfig
from core.store import open_store
from core.store.base import WriteBatch
from core.store.keys import key
from core.store.rocks import RocksStore
from core.store.schema import SCHEMA_KEY
from tests.nats_cluster import NatsCluster, free_ports, subprocess_env

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "config.toml"
    listed = ", ".join(f'"{url}"' for url in urls)
    path.write_text(f'[store]\npath = "{tmp_path / "unused"}"\n[cluster]\nnats = [{listed}]\nnode = "cli"\n')
    return path


async def _mempools(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mempools", *args,
        cwd=ROOT, env=subprocess_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_status_shows_nodes_leases_and_streams_as_text_and_json(cluster: NatsCluster, tmp_path: Path) -> None:
    connections = [await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node=f"m{i}")) for i in range(2)]
    stop = asyncio.Event()
    replica = ClusterStore(connections[0], RocksStore(tmp_path / "replica"))
    try:
        await replica.prepare()
        applier = asyncio.create_task(replica.run(stop))
        for i in range(3):
            await replica.commit(replica_batch(f"k{i}"))
        await connections[0].ensure_kv(lease_bucket(3), LEASE_BUCKET_NEEDS)
        lease = Lease(connections[0].js, LEASE_BUCKET, "chain:cosmoshub-4", "mempools-1")
        assert await lease.try_acquire()
        one = NodeRegistry(
            connections[0],
            "mempools-1",
            applied=lambda: replica.applied_sequence,
            leases=lambda: [lease.name] if lease.held else [],
            api="127.0.0.1:8080",
        )
        two = NodeRegistry(connections[1], "mempools-2", applied=lambda: 1)
        await one.start()
        await two.start()

        code, out, err = await _mempools("cluster", "status", "--config", str(_config(tmp_path, cluster.urls)))
        assert (code, err) == (0, "")
        lines = out.splitlines()
        assert lines[0].startswith("NATS: connected to n") and "(NATS 2.15.1) at 127.0.0.1:" in lines[0]
        assert "Nodes (2):" in lines
        header = next(line for line in lines if line.strip().startswith("NODE"))
        assert header.split() == ["NODE", "VERSION", "SCHEMA", "UP", "SINCE", "APPLIED", "LAG", "API"]
        row1 = next(line for line in lines if line.strip().startswith("mempools-1")).split()
        row2 = next(line for line in lines if line.strip().startswith("mempools-2")).split()
        assert row1[2:] == ["1", row1[3], "3", "0", "127.0.0.1:8080"] and row1[3].endswith("Z")
        assert row2[4:] == ["1", "2", "-"]  # applied 1 of 3: lag 2
        assert "  chain:cosmoshub-4  mempools-1" in lines
        changes = next(line for line in lines if line.strip().startswith(f"{CHANGES_STREAM}:"))
        assert "3 messages" in changes and "seq 1-3, R3" in changes
        peers = lines[lines.index(changes) + 1]
        assert peers.strip().startswith("leader n") and peers.count("(current)") + peers.count("behind") == 2
        consumers = [line.strip() for line in lines if line.strip().startswith("consumer ")]
        # The replica's applier has read everything. (An ordered consumer that nats-py replaced on
        # a loaded machine, a missed heartbeat, lingers a while with what it had not read: listed too.)
        assert any(c.endswith(": 0 pending, 0 ack pending") for c in consumers), out

        config = str(_config(tmp_path, cluster.urls))
        code, out, err = await _mempools("cluster", "status", "--json", "--config", config)
        assert (code, err) == (0, "")
        status = json.loads(out)
        assert status["server"]["version"] == "2.15.1"
        assert [(n["node"], n["applied"], n["lag"], n["leases"]) for n in status["nodes"]] == [
            ("mempools-1", 3, 0, ["chain:cosmoshub-4"]),
            ("mempools-2", 1, 2, []),
        ]
        assert status["leases"] == [{"lease": "chain:cosmoshub-4", "holder": "mempools-1"}]
        by_name = {s["name"]: s for s in status["streams"]}
        assert by_name[CHANGES_STREAM]["last_seq"] == 3 and by_name[CHANGES_STREAM]["replicas"] == 3
        assert sorted(p["role"] for p in by_name[CHANGES_STREAM]["peers"]) == ["follower", "follower", "leader"]
        assert by_name[f"KV_{LEASE_BUCKET}"]["exists"] is True
        stop.set()
        await applier
    finally:
        replica.close()
        for connection in connections:
            await connection.close()


def replica_batch(name: str) -> WriteBatch:
    batch = WriteBatch()
    batch.put(name.encode(), b"v")
    return batch


async def test_status_and_import_refuse_in_one_line_without_nats_or_cluster_section(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    config = _config(tmp_path, [f"nats://127.0.0.1:{port}"])
    code, out, err = await _mempools("cluster", "status", "--config", str(config))
    assert code == 2 and out == ""
    assert err.splitlines()[-1].startswith(f"mempools: cannot reach NATS at nats://127.0.0.1:{port}: ")
    assert "Traceback" not in err
    plain = tmp_path / "plain.toml"
    plain.write_text(f'[store]\npath = "{tmp_path / "x"}"\n')
    for args in (("status",), ("import", str(tmp_path))):
        code, out, err = await _mempools("cluster", *args, "--config", str(plain))
        assert (code, err) == (2, "mempools: the config has no [cluster] section: cluster commands need cluster.nats\n")


def _single_node_store(path: Path) -> int:
    """A data directory as `mempools serve` leaves it: every table, 1,300 keys (several batches)."""
    store = open_store(path)
    try:
        batch = WriteBatch()
        for table in ("acc", "idn", "key", "sub", "dst", "att", "dlq", "cur"):
            for i in range(50):
                batch.put(key(table, f"{table}_{i:03d}"), f"record {table} {i}".encode())
        for i in range(900):  # history and outbox entries, some large enough to cut batches by size
            batch.put(key("ntf", f"ntf_{i:04d}"), b"n" * (20_000 if i % 10 == 0 else 100))
        store.write(batch)
    finally:
        store.close()
    return 8 * 50 + 900


async def _cluster_contents(cluster: NatsCluster, path: Path) -> tuple[dict[bytes, bytes], int]:
    """Every key a fresh replica on another node applies from the log, and the log's last sequence."""
    connection = await ClusterConnection.open(ClusterConfig(nats=cluster.urls, node="reader"))
    store = ClusterStore(connection, RocksStore(path))
    stop = asyncio.Event()
    task = asyncio.create_task(store.run(stop))
    try:
        last = await store.catch_up()
        return {k: v for k, v in store.scan() if k != APPLIED_KEY}, last
    finally:
        stop.set()
        await task
        store.close()
        await connection.close()


async def test_import_moves_every_key_and_a_second_run_changes_nothing(cluster: NatsCluster, tmp_path: Path) -> None:
    data = tmp_path / "single"
    count = _single_node_store(data)
    config = _config(tmp_path, cluster.urls)

    code, out, err = await _mempools("cluster", "import", str(data), "--config", str(config))
    assert (code, err) == (0, ""), err
    assert "stop the single-node mempools first" in out
    assert f"imported {count} keys in " in out and "; 0 batches (0 keys) were already in the cluster" in out

    contents, last_seq = await _cluster_contents(cluster, tmp_path / "replica-1")
    source = RocksStore(data, read_only=True)
    try:
        expected = {k: v for k, v in source.scan() if k != SCHEMA_KEY}
    finally:
        source.close()
    assert len(expected) == count
    data_keys = {k: v for k, v in contents.items() if not k.startswith(MARKER_PREFIX) and k != CLUSTER_SCHEMA_KEY}
    assert data_keys == expected  # every key, every value, nothing local-only
    markers = [k for k in contents if k.startswith(MARKER_PREFIX)]
    assert len(markers) >= 5  # 1,300 keys and ~1.9 MB: 500 ops or 512 KB per batch at most
    assert contents[CLUSTER_SCHEMA_KEY] == b"1"

    code, out, err = await _mempools("cluster", "import", str(data), "--config", str(config))
    assert (code, err) == (0, ""), err
    assert f"imported 0 keys in 0 batches; {len(markers)} batches ({count} keys) were already in the cluster" in out
    again, last_again = await _cluster_contents(cluster, tmp_path / "replica-2")
    assert again == contents and last_again == last_seq  # nothing published, nothing changed

    other = tmp_path / "other"  # another installation: merging is refused before anything is written
    store = open_store(other)
    store.put(key("acc", "acc_999"), b"someone else")
    store.close()
    code, out, err = await _mempools("cluster", "import", str(other), "--config", str(config))
    assert code == 2
    assert err == (
        "mempools: the cluster already holds data that is not from this import (tables acc): "
        "merging two installations is not supported\n"
    )
    _, last_after = await _cluster_contents(cluster, tmp_path / "replica-3")
    assert last_after == last_seq

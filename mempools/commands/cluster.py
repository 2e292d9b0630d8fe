"""`mempools cluster status` and `mempools cluster import DATA_DIR`: the operator's view of cluster mode.

`status` shows what NATS knows (core/cluster/status.py): the server, the nodes heartbeating, who
holds each lease, and Mempools' streams with their replicas and consumers, for a person or as one
JSON object (`--json`). `import` moves a single-node data directory into the cluster
(core/cluster/importer.py); running it twice changes nothing.

Both need the config's `[cluster]` section. core.cluster (and so nats-py) is imported inside the
handlers: a single node never loads the NATS client, even for `mempools --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from core.config import ClusterConfig, load_config
from core.errors import ConfigError, StoreError
from core.store.rocks import RocksStore
from core.store.schema import SCHEMA_KEY, SCHEMA_VERSION

if TYPE_CHECKING:
    from core.cluster.importer import ImportSummary
    from core.cluster.status import ClusterStatus


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cluster", help="cluster mode: status of the nodes, leases and streams; import")
    commands = parser.add_subparsers(dest="cluster_command", metavar="COMMAND")
    commands.required = True
    status = commands.add_parser("status", help="the nodes, who holds each lease, and stream/consumer lag")
    status.add_argument("--config", metavar="PATH", help="TOML config file with a [cluster] section")
    status.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    status.set_defaults(handler=_status)
    move = commands.add_parser("import", help="move a single-node data directory into the cluster")
    move.add_argument("data_dir", metavar="DATA_DIR", help="the data directory of a stopped single-node mempools")
    move.add_argument("--config", metavar="PATH", help="TOML config file with a [cluster] section")
    move.set_defaults(handler=_import)


def _cluster_config(path: str | None) -> ClusterConfig:
    config = load_config(path)
    if config.cluster is None:
        raise ConfigError("the config has no [cluster] section: cluster commands need cluster.nats")
    return config.cluster


# -- status ---------------------------------------------------------------------------------------
def _status(args: argparse.Namespace) -> int:
    status = asyncio.run(_gather_status(_cluster_config(args.config)))
    if args.json:
        print(msgspec.json.encode(status).decode())
    else:
        print(format_status(status))
    return 0


async def _gather_status(config: ClusterConfig) -> ClusterStatus:
    from core.cluster.connection import ClusterConnection
    from core.cluster.status import cluster_status

    connection = await ClusterConnection.open(config, connect_attempts=1)
    try:
        return await cluster_status(connection)
    finally:
        await connection.close()


def format_status(status: ClusterStatus) -> str:
    server = status.server
    cluster = f", cluster {server.cluster}" if server.cluster else ""
    lines = [
        f"NATS: connected to {server.name} (NATS {server.version}) at {server.url}{cluster}",
        f"  known servers: {', '.join(server.known)}",
        "",
        f"Nodes ({len(status.nodes)}):",
    ]
    if status.nodes:
        rows = [["NODE", "VERSION", "SCHEMA", "UP SINCE", "APPLIED", "LAG", "API"]]
        for node in status.nodes:
            since = node.started_at.isoformat(timespec="seconds").replace("+00:00", "Z")
            rows.append(
                [node.node, node.version, str(node.schema), since, str(node.applied), str(node.lag), node.api or "-"]
            )
        lines += _table(rows)
    else:
        lines.append("  none heartbeating")
    lines += ["", f"Leases ({len(status.leases)}):"]
    lines += _table([[lease.lease, lease.holder] for lease in status.leases]) or ["  none held"]
    lines += ["", "Streams:"]
    for stream in status.streams:
        if not stream.exists:
            lines.append(f"  {stream.name}: not created yet")
            continue
        lines.append(
            f"  {stream.name}: {stream.messages} message{'' if stream.messages == 1 else 's'}, {_size(stream.bytes)}, "
            f"seq {stream.first_seq}-{stream.last_seq}, R{stream.replicas}"
        )
        leader = [p.server for p in stream.peers if p.role == "leader"]
        followers = [
            f"{p.server} ({'offline' if p.offline else 'current' if p.current else f'behind by {p.lag}'})"
            for p in stream.peers
            if p.role == "follower"
        ]
        lines.append(f"    leader {leader[0] if leader else 'none'}; followers {', '.join(followers) or 'none'}")
        for consumer in stream.consumers:
            lines.append(
                f"    consumer {consumer.name}: {consumer.num_pending} pending, {consumer.num_ack_pending} ack pending"
            )
    return "\n".join(lines)


def _table(rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def _size(count: int) -> str:
    for unit in ("bytes", "kB", "MB"):
        if count < 1024 or unit == "MB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


# -- import ---------------------------------------------------------------------------------------
def _import(args: argparse.Namespace) -> int:
    config = _cluster_config(args.config)
    source_dir = Path(args.data_dir)
    if not (source_dir / "CURRENT").is_file():
        raise StoreError(f"{source_dir} is not a mempools data directory (no RocksDB files)")
    source = RocksStore(source_dir, read_only=True)
    try:
        raw = source.get(SCHEMA_KEY)
        if raw is None or raw != str(SCHEMA_VERSION).encode():
            raise StoreError(
                f"{source_dir} has schema version {raw.decode() if raw else 'none'}; this mempools imports "
                f"version {SCHEMA_VERSION}: open it with `mempools serve` of this version first"
            )
        print(
            f"importing {source_dir} (opened read-only: stop the single-node mempools first, "
            "or what it writes from now on is not imported)"
        )
        summary = asyncio.run(_run_import(config, source))
    finally:
        source.close()
    print(
        f"imported {summary.keys} keys in {summary.batches} batches; {summary.already} batches "
        f"({summary.already_keys} keys) were already in the cluster; {summary.seconds:.1f} s"
    )
    return 0


async def _run_import(config: ClusterConfig, source: RocksStore) -> ImportSummary:
    from core.cluster.connection import ClusterConnection
    from core.cluster.importer import import_store
    from core.cluster.schema import ensure_cluster_schema
    from core.cluster.store import ClusterStore

    connection = await ClusterConnection.open(config, connect_attempts=1)
    stop = asyncio.Event()
    try:
        with tempfile.TemporaryDirectory(prefix="mempools-import-") as scratch:
            store = ClusterStore(connection, RocksStore(Path(scratch) / "replica"))  # this run's own replica
            await store.prepare()
            applier = asyncio.create_task(store.run(stop))
            try:
                await ensure_cluster_schema(store)
                return await import_store(source, store)
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(applier, 10)
                store.close()
    finally:
        await connection.close()

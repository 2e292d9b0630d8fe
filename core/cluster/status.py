"""What `mempools cluster status` reports, gathered from NATS alone (no replica needed).

The NATS server this client is connected to, the Mempools nodes heartbeating in
`mempools_nodes` (with each one's lag behind `mempools_changes`), every lease in
`mempools_leases` and its holder, and Mempools' streams (the change log and the buckets' streams)
with their replicas and consumers. Read-only: nothing is created, a missing stream is reported
as missing. As msgspec Structs so that `--json` prints exactly what a person reads.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

import msgspec
from nats.js.api import StreamInfo
from nats.js.errors import NotFoundError

from core.cluster.changelog import CHANGES_STREAM
from core.cluster.connection import ClusterConnection
from core.cluster.lease import LEASE_BUCKET, LeaseHolder, lease_name, live_keys
from core.cluster.nodes import NODES_STREAM, live_nodes

#: The streams that are Mempools', in the order they are shown.
STREAMS = (CHANGES_STREAM, f"KV_{LEASE_BUCKET}", NODES_STREAM)


class ServerStatus(msgspec.Struct):
    name: str
    version: str
    url: str  # the one this client is connected to
    cluster: str | None
    known: list[str]  # every server URL the client knows (configured and discovered)


class NodeStatus(msgspec.Struct):
    node: str
    version: str
    schema: int
    started_at: datetime
    applied: int
    lag: int  # the change log's last sequence minus what the node applied
    api: str | None
    leases: list[str]


class LeaseStatus(msgspec.Struct):
    lease: str
    holder: str


class PeerStatus(msgspec.Struct):
    server: str
    role: str  # "leader" or "follower"
    current: bool
    lag: int = 0
    offline: bool = False


class ConsumerStatus(msgspec.Struct):
    name: str
    num_pending: int
    num_ack_pending: int


class StreamStatus(msgspec.Struct):
    name: str
    exists: bool
    messages: int = 0
    bytes: int = 0
    first_seq: int = 0
    last_seq: int = 0
    replicas: int = 0
    peers: list[PeerStatus] = []
    consumers: list[ConsumerStatus] = []


class ClusterStatus(msgspec.Struct):
    server: ServerStatus
    nodes: list[NodeStatus]
    leases: list[LeaseStatus]
    streams: list[StreamStatus]


async def cluster_status(connection: ClusterConnection) -> ClusterStatus:
    js = connection.js
    streams = [await _stream(connection, name) for name in STREAMS]
    last_seq = streams[0].last_seq
    nodes = [
        NodeStatus(
            node=r.node,
            version=r.version,
            schema=r.schema,
            started_at=r.started_at,
            applied=r.applied,
            lag=max(0, last_seq - r.applied),
            api=r.api,
            leases=r.leases,
        )
        for r in await live_nodes(js)
    ]
    leases = []
    for key, message in await live_keys(js, f"KV_{LEASE_BUCKET}"):
        try:
            holder = msgspec.json.decode(message.data or b"", type=LeaseHolder).node
        except msgspec.DecodeError:
            holder = "?"
        leases.append(LeaseStatus(lease=lease_name(key), holder=holder))
    return ClusterStatus(server=_server(connection), nodes=nodes, leases=leases, streams=streams)


def _server(connection: ClusterConnection) -> ServerStatus:
    info = connection.nc._server_info  # the INFO the server sent; nats-py keeps it as a dict
    return ServerStatus(
        name=str(info.get("server_name") or "?"),
        version=connection.server_version,
        url=connection.connected_to,
        cluster=info.get("cluster"),
        known=sorted({url.netloc for url in connection.nc.servers}),
    )


async def _stream(connection: ClusterConnection, name: str) -> StreamStatus:
    try:
        info = await connection.js.stream_info(name)
    except NotFoundError:
        return StreamStatus(name=name, exists=False)
    consumers: list[ConsumerStatus] = []
    with contextlib.suppress(NotFoundError):
        for consumer in await connection.js.consumers_info(name):
            consumers.append(
                ConsumerStatus(
                    name=consumer.name,
                    num_pending=consumer.num_pending or 0,
                    num_ack_pending=consumer.num_ack_pending or 0,
                )
            )
    return StreamStatus(
        name=name,
        exists=True,
        messages=info.state.messages,
        bytes=info.state.bytes,
        first_seq=info.state.first_seq,
        last_seq=info.state.last_seq,
        replicas=info.config.num_replicas or 1,
        peers=_peers(info),
        consumers=sorted(consumers, key=lambda c: c.name),
    )


def _peers(info: StreamInfo) -> list[PeerStatus]:
    cluster = info.cluster
    if cluster is None:
        return []
    peers = []
    if cluster.leader:
        peers.append(PeerStatus(server=cluster.leader, role="leader", current=True))
    for replica in cluster.replicas or []:
        peers.append(
            PeerStatus(
                server=replica.name or "?",
                role="follower",
                current=bool(replica.current),
                lag=replica.lag or 0,
                offline=bool(replica.offline),
            )
        )
    return peers

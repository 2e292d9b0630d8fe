"""`NodeRegistry`: which Mempools nodes are alive, what they run and how far their replica got.

Each node heartbeats a `NodeRecord` every second into the KV bucket `mempools_nodes` (one key per
node name, per-key TTL 10 s like the lease bucket): a node that dies disappears from `nodes()`
within the TTL with nothing to clean up. `mempools cluster status` lists the records; nothing
decides anything from them (leases do that), so a heartbeat lost in an election is harmless.

Two processes with one node name would make the status, the logs and the lease holders
ambiguous, so `start` refuses a name that another live process heartbeats. A record left by a
previous life of this node (kill -9, restarted within the TTL) is told apart by watching it for
`2.5 x interval`: a live process refreshes it in that time, a dead one does not. That is a guess
a loaded machine can fool, so every heartbeat is a compare-and-set over the node's own last
record: a process that finds its name taken by another while it looked dead stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from importlib import metadata

import msgspec
from nats.js import JetStreamContext
from nats.js.api import Header, KeyValueConfig, RawStreamMsg
from nats.js.errors import APIError, NotFoundError

from core.cluster.connection import TRANSIENT_NATS, ClusterConnection
from core.cluster.lease import LEASE_BUCKET_NEEDS, is_tombstone, live_keys
from core.errors import ClusterError
from core.store.schema import SCHEMA_VERSION
from core.support.incidents import IncidentLog
from core.support.timeutil import utcnow

log = logging.getLogger("mempools.cluster")

NODES_BUCKET = "mempools_nodes"
NODES_STREAM = f"KV_{NODES_BUCKET}"
NODES_BUCKET_NEEDS = LEASE_BUCKET_NEEDS
#: JetStream "wrong last sequence" (a compare-and-set that lost), as in core/cluster/lease.py.
_WRONG_LAST_SEQUENCE = (10071, 10164)
_KEY_CHARS = re.compile(r"^[-_=a-zA-Z0-9]+$")


def nodes_bucket(replicas: int) -> KeyValueConfig:
    return KeyValueConfig(bucket=NODES_BUCKET, history=1, replicas=replicas, limit_marker_ttl=60)


def package_version() -> str:
    try:
        return metadata.version("mempools")
    except metadata.PackageNotFoundError:
        return "unknown"


class NodeRecord(msgspec.Struct, frozen=True):
    """One node's heartbeat (also what `mempools cluster status --json` prints per node)."""

    node: str
    version: str  # the mempools package version
    schema: int  # its SCHEMA_VERSION
    started_at: datetime
    applied: int  # the replica's applied sequence of `mempools_changes`
    api: str | None  # host:port of its REST API, when it serves one
    leases: list[str]  # the leases it holds now
    incarnation: str = ""  # tells this process from another one (or a previous life) with the same name


def node_key(node: str) -> str:
    """The bucket key of a node name (KV keys take `-_=a-zA-Z0-9` and dots; anything else: hex)."""
    return node if _KEY_CHARS.match(node) else "x-" + node.encode().hex()


async def live_nodes(js: JetStreamContext) -> list[NodeRecord]:
    """The records of every node heartbeating now, by name."""
    records = []
    for _, message in await live_keys(js, NODES_STREAM):
        with contextlib.suppress(msgspec.DecodeError):
            records.append(msgspec.json.decode(message.data or b"", type=NodeRecord))
    return sorted(records, key=lambda r: r.node)


class NodeRegistry:
    """This node's heartbeat in `mempools_nodes`; see the module docstring.

    `applied` and `leases` are read at each heartbeat (the runtime passes the store's applied
    sequence and the names of the leases it holds).
    """

    def __init__(
        self,
        connection: ClusterConnection,
        node: str,
        *,
        applied: Callable[[], int],
        leases: Callable[[], list[str]] = list,
        api: str | None = None,
        version: str | None = None,
        schema: int = SCHEMA_VERSION,
        ttl: int = 10,
        interval: float = 1.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.connection = connection
        self.js = connection.js
        self.node = node
        self.applied = applied
        self.leases = leases
        self.api = api
        self.version = version or package_version()
        self.schema = schema
        self.ttl = ttl
        self.interval = interval
        self.started_at = clock()
        self.incarnation = secrets.token_hex(8)
        self.subject = f"$KV.{NODES_BUCKET}.{node_key(node)}"
        self._last_seq: int | None = None
        self._incidents = IncidentLog(log)
        #: Nodes heartbeating now (this one included), as of the last heartbeat: what delivery
        #: partitions divide by. Read synchronously, so it is kept here rather than asked for.
        self.live = 1

    def record(self) -> NodeRecord:
        return NodeRecord(
            node=self.node,
            version=self.version,
            schema=self.schema,
            started_at=self.started_at,
            applied=self.applied(),
            api=self.api,
            leases=sorted(self.leases()),
            incarnation=self.incarnation,
        )

    async def start(self) -> None:
        """Create the bucket, refuse a name in use by another live process, send the first heartbeat."""
        await self.connection.ensure_kv(nodes_bucket(self.connection.replicas), NODES_BUCKET_NEEDS)
        other = await self._other_life()
        if other is not None:
            first = other.seq
            deadline = time.monotonic() + 2.5 * self.interval
            while time.monotonic() < deadline:
                await asyncio.sleep(self.interval / 4)
                other = await self._other_life()
                if other is None:
                    break
                if other.seq != first:  # refreshed: a live process heartbeats this name
                    raise self._in_use(other)
        last = await self._last()
        for attempt in range(1, 6):  # a bucket just made may have no stream leader for a moment
            try:  # only over what we looked at: two processes starting with one name at once, one wins
                await self.heartbeat(expected=int(last.seq or 0) if last is not None else 0)
                break
            except APIError as exc:
                if exc.err_code not in _WRONG_LAST_SEQUENCE:
                    raise
                winner = await self._other_life()
                raise self._in_use(winner) from None
            except TRANSIENT_NATS:
                if attempt == 5:
                    raise
                await asyncio.sleep(0.2 * attempt)
        with contextlib.suppress(*TRANSIENT_NATS):  # counted again at every heartbeat
            self.live = max(1, len(await self.nodes()))

    def _in_use(self, message: RawStreamMsg | None) -> ClusterError:
        since = "just now"
        with contextlib.suppress(msgspec.DecodeError):
            if message is not None:
                record = msgspec.json.decode(message.data or b"", type=NodeRecord)
                since = record.started_at.isoformat(timespec="seconds").replace("+00:00", "Z")
        return ClusterError(
            f"node name {self.node} is in use by another process (started {since}): "
            "give each node its own [cluster] node"
        )

    async def _other_life(self) -> RawStreamMsg | None:
        """The live record of this name written by another process, if there is one."""
        message = await self._last()
        return message if message is not None and self._by_another(message) else None

    def _by_another(self, message: RawStreamMsg) -> bool:
        """A live record of this name that another process (or a previous life) wrote."""
        if is_tombstone(message.headers):
            return False
        try:
            record = msgspec.json.decode(message.data or b"", type=NodeRecord)
        except msgspec.DecodeError:
            return False
        return record.incarnation != self.incarnation

    async def heartbeat(self, expected: int | None = None) -> None:
        """Publish the record with the TTL (compare-and-set on the key when `expected` is given)."""
        body = msgspec.json.encode(self.record())
        headers: dict[str, str] | None = None
        if expected is not None:
            headers = {Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected)}
        ack = await self.js.publish(
            self.subject, body, msg_ttl=self.ttl, timeout=max(1.0, self.ttl / 3), headers=headers
        )
        self._last_seq = ack.seq

    async def run(self, stop: asyncio.Event) -> None:
        """Heartbeat every `interval` (and count the live nodes) until `stop`, then remove the record."""
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
                if stop.is_set():
                    break
                try:
                    await self._refresh()
                    self.live = max(1, len(await self.nodes()))
                    self._incidents.resolved("node heartbeat")
                except TRANSIENT_NATS as exc:
                    self._incidents.failure("node heartbeat", "node heartbeat: NATS did not answer (%s)", exc)
                except APIError as exc:  # only `mempools cluster status` reads it: never worth stopping for
                    self._incidents.failure("node heartbeat", "node heartbeat refused: %s", exc.description)
        finally:
            await self._leave()

    async def _refresh(self) -> None:
        """Heartbeat over our own last record (compare-and-set), so that a process that took this
        name while we looked dead (a pause past `2.5 x interval` on a loaded machine, SIGSTOP) is
        seen: one of the two must stop, and it is this one (`ClusterError`)."""
        try:
            await self.heartbeat(expected=self._last_seq)
            return
        except APIError as exc:
            if exc.err_code not in _WRONG_LAST_SEQUENCE:
                raise
        try:  # a NATS that does not answer here is one more failed heartbeat, tried again next time
            last: RawStreamMsg | None = await self.js.get_last_msg(NODES_STREAM, self.subject)
        except NotFoundError:
            last = None
        if last is not None and self._by_another(last):
            raise self._in_use(last)
        # Ours after all (an ack lost in an election, the write stored) or gone (expired while we
        # were paused): carry on over what is there.
        await self.heartbeat(expected=int(last.seq or 0) if last is not None else 0)

    async def nodes(self) -> list[NodeRecord]:
        return await live_nodes(self.js)

    async def _leave(self) -> None:
        if self._last_seq is None:
            return
        headers = {"KV-Operation": "DEL", Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(self._last_seq)}
        with contextlib.suppress(APIError, *TRANSIENT_NATS):
            await self.js.publish(self.subject, b"", headers=headers, timeout=2.0)

    async def _last(self) -> RawStreamMsg | None:
        """The key's last message; asked again while the bucket's stream has no leader yet (a bucket
        just created, an election), as `ClusterConnection.ensure_kv` does."""
        for attempt in range(1, 5):
            try:
                return await self.js.get_last_msg(NODES_STREAM, self.subject)
            except NotFoundError:
                return None
            except TRANSIENT_NATS as exc:
                if attempt == 4:
                    raise ClusterError(
                        f"NATS did not answer while reading {NODES_BUCKET} (4 attempts): {exc}"
                    ) from None
        raise AssertionError("unreachable")

"""One node's connection to the NATS JetStream cluster, and the checks that make it safe to use.

Why the checks exist: a NATS server older than 2.12 accepts stream settings it does not know and
silently drops them (2.9.10 drops `allow_msg_ttl`, `allow_atomic`, `allow_msg_schedules`,
`filter_subjects`, subject transforms; no error). On such a server a batch is stored message by
message and a per-key TTL never expires, so a lease whose holder died would never come free. So
the server's version is checked as soon as we are connected (`check_server`, a pure function of
the server's INFO), and every stream or bucket Mempools makes is read back from the server and
compared setting by setting (`dropped_settings`): a refusal is one `ClusterError` line that names
the version or the setting, which `mempools serve` prints before exiting 2.

Connecting: nats-py prints a traceback for every refused connect unless it is given an
`error_cb`; ours logs one line per incident (`IncidentLog`: the first failure, then one line when
the connection is back). At start a bounded number of attempts is made, so a wrong address ends in
a clear message instead of a silent hang; once joined the client reconnects for as long as it takes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StreamConfig, StreamInfo
from nats.js.errors import APIError, BadRequestError
from nats.js.kv import KeyValue

from core.config import ClusterConfig
from core.errors import ClusterError, ClusterUnreachableError
from core.support.incidents import IncidentLog

log = logging.getLogger("mempools.cluster")

#: The oldest NATS server that keeps every stream setting cluster mode relies on (ADR-50 batches,
#: scheduled messages, per-message TTL).
MIN_SERVER_VERSION = (2, 12)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")
_T = TypeVar("_T")
#: What passes by itself: no JetStream leader yet, an election, a reconnect in progress.
TRANSIENT_NATS = (
    TimeoutError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.js.errors.NoStreamResponseError,  # the stream's leader is gone and no other has been elected yet
    nats.js.errors.ServiceUnavailableError,  # JetStream answers 503 while it has no leader
)
#: JetStream's "stream name already in use with a different configuration".
_STREAM_NAME_IN_USE = 10058
#: JetStream's "no suitable peers for placement": with ", peer offline" a cluster that has just
#: started (or lost a node a moment ago) and does not count every peer yet, which passes; with any
#: other reason (more replicas than servers) it does not.
_NO_PEERS = 10005
#: Seconds between attempts at a placement refused for an offline peer (a fresh cluster counts its
#: peers within a few seconds).
PLACEMENT_RETRY_S = 1.0


class _PeerOffline(Exception):
    """A stream or bucket JetStream could not place yet because a peer is offline: try again."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _refused(what: str, exc: APIError) -> Exception:
    if exc.err_code == _NO_PEERS and "offline" in (exc.description or ""):
        return _PeerOffline(exc.description or "")
    return ClusterError(f"NATS refused {what}: {exc.description}")


def check_server(info: Mapping[str, Any]) -> str:
    """The server's version from its INFO, or a `ClusterError` naming it when cluster mode cannot use it."""
    version = str(info.get("version") or "unknown")
    match = _VERSION.match(version)
    if match is None:
        raise ClusterError(f"NATS server version {version!r} cannot be read: cluster mode needs NATS 2.12 or later")
    if (int(match[1]), int(match[2])) < MIN_SERVER_VERSION:
        raise ClusterError(f"NATS server {version} is too old: cluster mode needs NATS 2.12 or later")
    if not info.get("jetstream"):
        raise ClusterError(f"NATS server {version} runs without JetStream: cluster mode needs it enabled")
    return version


def dropped_settings(wanted: object, stored: object, settings: Iterable[str]) -> list[str]:
    """The settings among `settings` that the server did not keep as asked (`stored` is what it reports)."""
    return [name for name in settings if getattr(stored, name, None) != getattr(wanted, name)]


class ClusterConnection:
    """A connected, checked client: the one way the rest of cluster mode reaches NATS."""

    def __init__(
        self, nc: NatsClient, *, node: str, replicas: int, version: str, events: _ConnectionEvents | None = None
    ) -> None:
        self.nc = nc
        self._events = events or _ConnectionEvents()
        self.js: JetStreamContext = nc.jetstream()
        self.node = node
        self.replicas = replicas
        self.server_version = version
        self.api_attempts = 4  # JetStream API calls at start, ~5 s each (nats-py's request timeout)
        self.placement_retry_s = PLACEMENT_RETRY_S

    @classmethod
    async def open(
        cls,
        config: ClusterConfig,
        *,
        connect_attempts: int = 3,
        connect_timeout: float = 2.0,
        reconnect_wait: float = 0.5,
        incidents: IncidentLog | None = None,
    ) -> ClusterConnection:
        """Connect (a bounded number of attempts per server), then refuse a server cluster mode cannot use.

        `incidents`: the log of a caller that tries again and again (a node joining in the
        background), so that an unreachable NATS is one line however many tries it takes."""
        events = _ConnectionEvents(incidents)
        options: dict[str, Any] = {}
        if config.credentials_file is not None:
            options["user_credentials"] = config.credentials_file
        try:
            nc = await nats.connect(
                config.nats,
                name=f"mempools {config.node}",
                error_cb=events.on_error,
                disconnected_cb=events.on_disconnected,
                reconnected_cb=events.on_reconnected,
                connect_timeout=int(max(1, connect_timeout)),
                reconnect_time_wait=reconnect_wait,
                max_reconnect_attempts=connect_attempts,
                **options,
            )
        except (nats.errors.NoServersError, OSError, TimeoutError, nats.errors.Error) as exc:
            reason = events.last_error or _describe(exc)
            raise ClusterUnreachableError(f"cannot reach NATS at {', '.join(config.nats)}: {reason}") from None
        events.incidents.resolved("nats", "%s connection up after %d failures in %.1f s")
        # Joined: from now on a lost connection is retried for as long as it takes (nats-py reads
        # this option at every reconnect; there is no other way to set it after connecting).
        nc.options["max_reconnect_attempts"] = -1
        try:
            version = check_server(nc._server_info)  # the INFO the server sent; nats-py keeps it as a dict
        except ClusterError:
            events.closing = True
            await nc.close()
            raise
        where = nc.connected_url.netloc if nc.connected_url else "?"
        log.info("joined NATS %s at %s as node %s", version, where, config.node)
        return cls(nc, node=config.node, replicas=config.replicas, version=version, events=events)

    async def ensure_stream(self, wanted: StreamConfig, needs: Sequence[str]) -> StreamInfo:
        """Create `wanted` (or update it to `wanted`), then refuse if the server dropped any setting in `needs`."""
        return await self._patiently(f"stream {wanted.name}", lambda: self._ensure_stream(wanted, needs))

    async def ensure_kv(self, wanted: KeyValueConfig, needs: Sequence[str]) -> KeyValue:
        """Create (or open) the bucket, then refuse if its stream came back without a setting in `needs`.

        `needs` names settings of the bucket's stream (`allow_msg_ttl` for per-key TTLs), compared
        with what nats-py asks for when it creates such a bucket.
        """
        return await self._patiently(f"bucket {wanted.bucket}", lambda: self._ensure_kv(wanted, needs))

    async def _patiently(self, what: str, make: Callable[[], Awaitable[_T]]) -> _T:
        """`make()`, again when JetStream did not answer: a fresh cluster or a leader election stalls
        its API for a few seconds (4-9 s when a leader dies), which is no reason to refuse to start."""
        for attempt in range(1, self.api_attempts + 1):
            try:
                return await make()
            except TRANSIENT_NATS as exc:
                if attempt == self.api_attempts:
                    raise ClusterError(
                        f"NATS did not answer while creating {what} ({self.api_attempts} attempts): {_describe(exc)}"
                    ) from None
                log.info("NATS did not answer while creating %s (attempt %d); trying again", what, attempt)
            except _PeerOffline as exc:
                if attempt == self.api_attempts:
                    raise ClusterError(f"NATS refused {what}: {exc.description}") from None
                log.info("NATS cannot place %s yet (%s); trying again", what, exc.description)
                await asyncio.sleep(self.placement_retry_s * attempt)
        raise AssertionError("unreachable")

    async def _ensure_stream(self, wanted: StreamConfig, needs: Sequence[str]) -> StreamInfo:
        try:
            await self.js.add_stream(wanted)
        except BadRequestError as exc:
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise _refused(f"stream {wanted.name}", exc) from None
            await self.js.update_stream(wanted)
        except APIError as exc:  # e.g. more replicas asked for than the cluster has nodes
            raise _refused(f"stream {wanted.name}", exc) from None
        assert wanted.name is not None
        return await self._checked(wanted.name, wanted, needs)

    async def _ensure_kv(self, wanted: KeyValueConfig, needs: Sequence[str]) -> KeyValue:
        try:
            kv = await self.js.create_key_value(wanted)
        except BadRequestError as exc:
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise _refused(f"bucket {wanted.bucket}", exc) from None
            kv = await self.js.key_value(wanted.bucket)
        except APIError as exc:
            raise _refused(f"bucket {wanted.bucket}", exc) from None
        expected = StreamConfig(
            allow_msg_ttl=True,
            subject_delete_marker_ttl=wanted.limit_marker_ttl,
            num_replicas=wanted.replicas,
            max_msgs_per_subject=wanted.history,
        )
        await self._checked(f"KV_{wanted.bucket}", expected, needs)
        return kv

    async def _checked(self, stream: str, wanted: StreamConfig, needs: Sequence[str]) -> StreamInfo:
        info = await self.js.stream_info(stream)  # read back: what the server stored, not what it was sent
        dropped = dropped_settings(wanted, info.config, needs)
        if dropped:
            raise ClusterError(
                f"NATS server {self.server_version} dropped the setting {dropped[0]} of stream {stream}: "
                "cluster mode needs it (NATS 2.12 or later)"
            )
        return info

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    @property
    def connected_to(self) -> str:
        """The server this client talks to now, as host:port ("?" while disconnected)."""
        url = self.nc.connected_url
        return url.netloc if url is not None and self.connected else "?"

    def disconnected_for(self) -> float | None:
        """Seconds since the connection was lost, None while it is up (for `/ready` and status)."""
        since = self._events.disconnected_at
        if since is None:
            return None if self.connected else 0.0
        return self._events.clock() - since

    async def close(self) -> None:
        self._events.closing = True  # our own goodbye is not an incident
        if not self.nc.is_closed:
            await self.nc.close()


class _ConnectionEvents:
    """nats-py's callbacks, as log lines: one per incident (its start, then its end), never a traceback."""

    def __init__(self, incidents: IncidentLog | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.incidents = incidents or IncidentLog(log)
        self.last_error: str | None = None
        self.closing = False
        self.clock = clock
        self.disconnected_at: float | None = None  # monotonic time the connection was lost, while it is

    async def on_error(self, exc: Exception) -> None:
        self.last_error = _describe(exc)
        if not self.closing:
            self.incidents.failure("nats", "NATS connection: %s (retrying)", self.last_error)

    async def on_disconnected(self) -> None:
        if self.disconnected_at is None:
            self.disconnected_at = self.clock()
        if not self.closing:
            self.incidents.failure("nats", "NATS connection lost (reconnecting)")

    async def on_reconnected(self) -> None:
        self.disconnected_at = None
        self.incidents.resolved("nats", "%s connection back after %d failures in %.1f s")


def _describe(exc: BaseException) -> str:
    """An exception as a short phrase for a log line (nats-py's own texts start with "nats: ")."""
    text = str(exc).removeprefix("nats: ").strip()
    return text or type(exc).__name__

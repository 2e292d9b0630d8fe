"""A lease: at most one node of the cluster does a job (watch a chain, poll Telegram), fenced.

The lease is one key of a JetStream KV bucket whose value names the holder and which carries a
per-key TTL (`Nats-TTL`). Nothing here is home-made consensus: JetStream's Raft decides, through
compare-and-set on the key's subject (`Nats-Expected-Last-Subject-Sequence`), who wrote last.

- Acquire: read the key's last message. Absent, deleted (released) or an expiry marker: publish
  our value with the CAS header set to that message's sequence (0 when there is none) and the TTL.
  Two nodes racing: the server accepts one, the other gets "wrong last sequence" and waits.
  (nats-py 2.16's `kv.create` cannot take a key back after a TTL expiry: the expiry marker is not
  a KV delete, so it fails with "wrong last sequence", nats-server #6712. Hence the read first.)
- Refresh: the same CAS publish with our last revision, and the TTL again (`kv.update` takes no
  TTL). Refused means someone else holds it now: the lease is lost.
- Fencing token: the revision of our last write. Work done under the lease commits with a CAS
  against the lease (or its own cursor): a holder that was paused past its TTL has a stale token
  and the server refuses its commit, whatever the paused process still believes.
- `held` is computed from the injected clock: our copy expires `ttl` after we *sent* the last
  successful write, never later than the server's, so a holder never believes it holds a lease
  the server already let go. A refresh due after that moment is not sent: the lease is reported
  lost (`on_lost`) and acquired again only through the normal path, like any other node.
- A write whose answer never came (a timeout in a leader election) may still have been stored.
  Every write carries `Nats-Msg-Id` = this instance's id + the revision it expects, so sending
  it again is deduplicated by the server, which answers with the stored revision: the holder
  learns its token instead of mistaking its own write for another node's takeover.
- Stop: the key is deleted with CAS on our token, so the next node need not wait out the TTL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

import msgspec
from nats.js import JetStreamContext
from nats.js.api import Header, KeyValueConfig, RawStreamMsg
from nats.js.errors import APIError, NotFoundError

from core.cluster.connection import TRANSIENT_NATS
from core.support.incidents import IncidentLog

log = logging.getLogger("mempools.cluster")

#: JetStream "wrong last sequence" (a CAS that lost): 10071, and its constant form 10164.
_WRONG_LAST_SEQUENCE = (10071, 10164)
_KV_OPERATION = "KV-Operation"
_MARKER_REASON = "Nats-Marker-Reason"


#: The one bucket that holds every lease (`chain.<id>`, later bots, partitions, jobs).
LEASE_BUCKET = "mempools_leases"
#: Settings of the bucket's stream that leases cannot work without: per-key TTLs, and expiry
#: markers (so a watcher of the bucket sees a lease come free, not just silence).
LEASE_BUCKET_NEEDS = ("allow_msg_ttl", "subject_delete_marker_ttl")


def lease_bucket(replicas: int) -> KeyValueConfig:
    """The lease bucket: one revision per key, expiry markers kept a minute (then they go too)."""
    return KeyValueConfig(bucket=LEASE_BUCKET, history=1, replicas=replicas, limit_marker_ttl=60)


class LeaseHolder(msgspec.Struct, frozen=True):
    """The lease key's value: who holds it (for `mempools cluster status` and the log)."""

    node: str


class Lease:
    """One named lease (`chain:cosmoshub-4`) contended for by this node; see the module docstring."""

    def __init__(
        self,
        js: JetStreamContext,
        bucket: str,
        name: str,
        node: str,
        *,
        ttl: int = 10,
        clock: Callable[[], float] = time.monotonic,
        on_lost: Callable[[str], None] | None = None,
        quiet: bool = False,
    ) -> None:
        if ttl < 1:
            raise ValueError("a lease's ttl is whole seconds, at least 1 (Nats-TTL's unit)")
        self.js = js
        self.bucket = bucket
        self.name = name
        self.node = node
        self.ttl = ttl
        self.clock = clock
        self.on_lost = on_lost
        # Routine comings and goings at debug level (32 delivery partitions would flood the log;
        # their owner logs one line per change instead); losses are always warnings.
        self.routine_level = logging.DEBUG if quiet else logging.INFO
        self.stream = f"KV_{bucket}"
        self.subject = f"$KV.{bucket}.{lease_key(name)}"
        self.token: int | None = None  # the fencing token: our last write's revision, while we hold it
        self._expires = 0.0
        self._value = msgspec.json.encode(LeaseHolder(node))
        self._incarnation = secrets.token_hex(8)  # tells this instance's writes from a previous life's
        self._unanswered: tuple[int, float] | None = None  # (expected revision, sent at) of a write that timed out
        self._incidents = IncidentLog(log)

    @property
    def held(self) -> bool:
        """True while this node holds the lease by its own (conservative) clock."""
        return self.token is not None and self.clock() < self._expires

    @property
    def refresh_interval(self) -> float:
        """Every second (three times per TTL when it is shorter): a JetStream leader election stalls
        writes for 4-9 s (measured: 8 s after kill -9 of the bucket's leader), so with the default
        10 s TTL the holder keeps its lease through one, and a dead holder's lease is free again
        within TTL + 1 s."""
        return min(self.ttl / 3, 1.0)

    @property
    def answer_timeout(self) -> float:
        """How long one write waits for the server's answer (at most nats-py's 5 s default)."""
        return max(1.0, min(5.0, self.ttl / 3))

    async def holder(self) -> str | None:
        """The node that holds the lease now according to the server, or None when it is free."""
        message = await self._last()
        if message is None or is_tombstone(message.headers):
            return None
        try:
            return msgspec.json.decode(message.data or b"", type=LeaseHolder).node
        except msgspec.DecodeError:
            return "?"

    async def try_acquire(self) -> bool:
        """Take the lease if it is free; False when another node holds it or won the race."""
        if self.held:
            return True
        message = await self._last()
        if message is not None and not is_tombstone(message.headers):
            unanswered = self._unanswered
            if unanswered is not None and (message.headers or {}).get(Header.MSG_ID) == self._msg_id(unanswered[0]):
                return await self._write(unanswered[0])  # our own acquire whose answer was lost: learn the token
            return False  # someone holds it (possibly a previous life of this node: it expires by TTL)
        expected = 0 if message is None else int(message.seq or 0)
        if not await self._write(expected):
            return False
        log.log(self.routine_level, "lease %s acquired by %s (token %d)", self.name, self.node, self.token)
        return True

    async def refresh(self) -> bool:
        """Extend the lease; False (and `on_lost`) when it expired before we could, or was taken."""
        if self.token is None:
            return False
        if not self.held:
            late = self.clock() - self._expires
            self._lose(f"expired {late:.1f} s before this node could refresh it (paused or cut off)")
            return False
        if await self._write(self.token):
            return True
        if self.token is not None:  # the CAS lost: another node wrote the key since our last write
            self._lose("taken over by another node")
        return False

    async def release(self) -> None:
        """Give the lease up at once (a CAS delete on our token): the next node need not wait for the TTL."""
        token, self.token = self.token, None
        if token is None:
            return
        try:
            await self.js.publish(
                self.subject, b"", headers={_KV_OPERATION: "DEL", Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(token)}
            )
            log.log(self.routine_level, "lease %s released by %s", self.name, self.node)
        except APIError as exc:
            if exc.err_code not in _WRONG_LAST_SEQUENCE:
                log.warning("lease %s: release failed (%s); it expires in %d s", self.name, exc.description, self.ttl)
        except TRANSIENT_NATS as exc:
            log.warning("lease %s: release failed (%s); it expires in %d s", self.name, exc, self.ttl)

    async def run(self, stop: asyncio.Event) -> None:
        """Contend for the lease and keep it while it is ours, until `stop`; then release it."""
        try:
            while not stop.is_set():
                try:
                    if self.token is None:
                        await self.try_acquire()
                    else:
                        await self.refresh()
                    self._incidents.resolved(f"lease {self.name}")
                except TRANSIENT_NATS as exc:
                    self._incidents.failure(f"lease {self.name}", "lease %s: NATS did not answer (%s)", self.name, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.refresh_interval)
        finally:
            await self.release()

    async def _write(self, expected: int) -> bool:
        """The CAS publish of our value with the TTL; True (and a new token) when the server took it.

        The same write sent again after a timeout keeps its first send time: if the server stored
        the first copy, the TTL runs from then, and our copy must not outlive the server's."""
        unanswered = self._unanswered
        sent = unanswered[1] if unanswered is not None and unanswered[0] == expected else self.clock()
        headers: dict[str, str] = {
            Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(expected),
            Header.MSG_ID: self._msg_id(expected),
        }
        try:
            ack = await self.js.publish(
                self.subject, self._value, headers=headers, msg_ttl=self.ttl, timeout=self.answer_timeout
            )
        except APIError as exc:
            if exc.err_code in _WRONG_LAST_SEQUENCE:
                self._unanswered = None
                return False
            raise
        except TRANSIENT_NATS:
            self._unanswered = (expected, sent)
            raise
        self._unanswered = None
        self.token = ack.seq
        self._expires = sent + self.ttl
        if not self.held:  # the answer came after our copy expired: the server may have let it go
            self._lose("the server's answer to a refresh arrived after the lease expired")
            return False
        return True

    def _msg_id(self, expected: int) -> str:
        return f"{self._incarnation}.{expected}"

    def _lose(self, reason: str) -> None:
        self.token = None
        log.warning("lease %s lost by %s: %s", self.name, self.node, reason)
        if self.on_lost is not None:
            self.on_lost(reason)

    async def _last(self) -> RawStreamMsg | None:
        try:
            return await self.js.get_last_msg(self.stream, self.subject)
        except NotFoundError:
            return None


def lease_key(name: str) -> str:
    """The KV key of a lease name: `chain:cosmoshub-4` -> `chain.cosmoshub-4` (keys take no ':')."""
    return name.replace(":", ".")


def lease_name(key: str) -> str:
    """The lease name of a KV key (`chain.cosmoshub-4` -> `chain:cosmoshub-4`): the first dot was the colon."""
    kind, dot, rest = key.partition(".")
    return f"{kind}:{rest}" if dot else key


async def live_keys(js: JetStreamContext, stream: str) -> list[tuple[str, RawStreamMsg]]:
    """(key, last message) of every key of the KV bucket stored as `stream` that has a live value
    (neither deleted nor expired), by key; none when the bucket does not exist yet."""
    try:
        info = await js.stream_info(stream, subjects_filter=">")
    except NotFoundError:
        return []
    prefix = f"$KV.{stream.removeprefix('KV_')}."
    found = []
    for subject in sorted(info.state.subjects or {}):
        try:
            message = await js.get_last_msg(stream, subject)
        except NotFoundError:  # expired between the listing and the read
            continue
        if not is_tombstone(message.headers):
            found.append((subject.removeprefix(prefix), message))
    return found


def is_tombstone(headers: dict[str, str] | None) -> bool:
    """A released (deleted, purged) key or the server's TTL-expiry marker: the lease is free."""
    if not headers:
        return False
    return headers.get(_KV_OPERATION) in ("DEL", "PURGE") or _MARKER_REASON in headers

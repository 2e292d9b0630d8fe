"""The replicated change log: every node's writes as one JetStream stream, applied in order into a
local RocksDB replica on every node (docs/CLUSTER.md, design points 1, 2 and 4).

Why a log of write batches: every service is already written against `core/store/base.py`
(ordered keys, scans, atomic `WriteBatch`es). If each batch becomes one message on the stream
`mempools_changes`, JetStream does the consensus and the replication, and every node can keep
serving reads from its own RocksDB, locally and synchronously, as in single-node mode.

- `ChangeLog.commit` encodes a batch (its ops plus optional preconditions) as ONE message with a
  fresh `Nats-Msg-Id`, publishes it, and retries with the same id while the stream has no leader
  (an election after a leader's death stalls writes 4-9 s): the server deduplicates a retry whose
  first try was stored after all, so a batch is in the log once. It returns the stream sequence
  once the message is acknowledged AND the node's own applier has applied it, so the writer reads
  its own write at once.
- `ChangeApplier` applies the log in stream order. The applied sequence is written under
  `APPLIED_KEY` in the SAME RocksDB batch as the ops, so a crash neither loses an apply nor repeats
  one, and a restart resumes right after it. It reads through its own short-lived pull consumer
  started at that resume point (an "ordered consumer" done by hand: no acks, one fetcher, a gap or
  a silent consumer means a new one from the resume point), so no server-side consumer state has
  to agree with the replica.
- Preconditions (`Absent`, `Equals`) are checked at apply time against the local replica, which
  on every node holds exactly the state after sequence - 1: every replica decides the same. A
  batch whose precondition fails is skipped everywhere (its sequence is still recorded) and the
  writer's `commit` raises `ConflictError`.

A batch over one message (the server's `max_payload`, 1 MB by default) is published as an
ADR-50 atomic batch of up to 1,000 messages (the stream has `allow_atomic`); one operation over
`max_payload` alone is refused with a `ClusterError` that says so. The apply is a plain RocksDB
write on the event loop, as every write of the single-node store is (tens of microseconds
without `sync`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import APIError, NotFoundError

from core.cluster.connection import TRANSIENT_NATS, ClusterConnection
from core.errors import ClusterError, ClusterUnavailableError, ConflictError
from core.store.base import Precondition, WriteBatch, describe_precondition, failed_precondition
from core.store.rocks import RocksStore

log = logging.getLogger("mempools.cluster")

CHANGES_STREAM = "mempools_changes"
CHANGES_SUBJECT = "mempools.changes"
#: Settings the stream cannot work without, read back after creating it.
CHANGES_STREAM_NEEDS = ("num_replicas", "subjects", "allow_atomic")
#: Where a replica keeps the last stream sequence it applied (big-endian u64), in the batch it applied.
APPLIED_KEY = b"\x00cluster/applied"
#: JetStream's answer to a retry that arrives while the first copy (same `Nats-Msg-Id`) is still
#: being stored, e.g. by a leader that was paused: ask again, the next answer is the stored ack.
_DUPLICATE_IN_PROCESS = 10158
#: An atomic batch whose `Nats-Msg-Id`s are already stored: a retry of a batch that went through.
_BATCH_ALREADY_STORED = 10201
#: ADR-50: at most this many messages in one atomic batch.
MAX_BATCH_PARTS = 1000
#: Room left in a message for its headers (`Nats-Msg-Id`) and the envelope's framing.
_HEADROOM = 512


class Change(msgspec.Struct, frozen=True):
    """One message of the log: a `WriteBatch`'s ops and the preconditions they are applied under.

    `id` is the message's `Nats-Msg-Id` too; the writer's applier recognises its own batches by it.
    A batch over one message's size is an ADR-50 atomic batch of parts with the same `id`: the
    server stores all of them, consecutively, or none; only the first carries the preconditions
    and only the last has `last` set, and the applier applies them as one RocksDB batch.
    """

    id: str
    ops: list[tuple[bytes, bytes | None]]
    preconditions: list[Precondition] = []
    last: bool = True


class Applied(msgspec.Struct, frozen=True):
    """What became of one message on this replica."""

    sequence: int
    applied: bool  # False: a precondition failed, the batch was skipped
    failed: Precondition | None = None


def changes_stream(replicas: int) -> StreamConfig:
    return StreamConfig(
        name=CHANGES_STREAM,
        subjects=[CHANGES_SUBJECT],
        num_replicas=replicas,
        storage=StorageType.FILE,
        duplicate_window=120.0,
        allow_atomic=True,
    )


def check(preconditions: Sequence[Precondition], store: RocksStore) -> Precondition | None:
    """The first precondition that does not hold on `store`, or None. Pure in the replica's state."""
    return failed_precondition(preconditions, store.get)


def applied_sequence(store: RocksStore) -> int:
    raw = store.get(APPLIED_KEY)
    return int.from_bytes(raw, "big") if raw is not None else 0


class ChangeApplier:
    """Applies `mempools_changes` in stream order into one node's `RocksStore`, until stopped.

    `on_applied(outcome, published_at)` is called after each message (for metrics and tests);
    `published_at` is the stream's timestamp of the message (wall clock, seconds).
    """

    def __init__(
        self,
        connection: ClusterConnection,
        store: RocksStore,
        *,
        fetch_batch: int = 256,
        idle_check: float = 1.0,
        on_applied: Callable[[Applied, float], None] | None = None,
    ) -> None:
        self._connection = connection
        self._store = store
        self._fetch_batch = fetch_batch
        self._idle_check = idle_check  # seconds without a message before asking whether the consumer still exists
        self._on_applied = on_applied
        self.sequence = applied_sequence(store)
        self._reached = asyncio.Event()
        self._expected: dict[str, asyncio.Future[Applied]] = {}
        self._stopped = False
        self._parts: list[Change] = []  # the parts of an atomic batch received so far

    def expect(self, change_id: str) -> asyncio.Future[Applied]:
        """A future resolved when the message with this id is applied here (register before publishing)."""
        if self._stopped:
            raise ClusterUnavailableError("the change applier is stopped: this node cannot see its writes applied")
        future: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        self._expected[change_id] = future
        return future

    def forget(self, change_id: str) -> None:
        self._expected.pop(change_id, None)

    async def reached(self, sequence: int) -> None:
        """Return once this replica has applied `sequence` (a read-your-writes barrier)."""
        while self.sequence < sequence:
            self._reached.clear()
            await self._reached.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and apply until `stop` is set; a lost consumer is recreated from the resume point."""
        try:
            await self._follow(stop)
        finally:  # a writer must not wait for an apply that will not come
            self._stopped = True
            expected, self._expected = self._expected, {}
            for future in expected.values():
                if not future.done():
                    future.set_exception(
                        ClusterUnavailableError("the change applier stopped before applying this write")
                    )

    async def _follow(self, stop: asyncio.Event) -> None:
        js = self._connection.js
        while not stop.is_set():
            name = f"applier-{uuid.uuid4().hex[:12]}"
            self._parts = []  # a new consumer starts again at the first part of an unfinished batch
            try:
                sub = await js.pull_subscribe(
                    CHANGES_SUBJECT,
                    stream=CHANGES_STREAM,
                    config=ConsumerConfig(
                        name=name,
                        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                        opt_start_seq=self.sequence + 1,
                        ack_policy=AckPolicy.NONE,
                        inactive_threshold=30.0,
                        num_replicas=1,
                        mem_storage=True,
                    ),
                )
            except (*TRANSIENT_NATS, NotFoundError, nats.errors.Error) as exc:
                log.debug("change applier: cannot create a consumer yet: %s", exc)
                await _pause(stop, 0.2)
                continue
            try:
                await self._drain(sub, name, stop)
            finally:  # the consumer is not needed any more (it would linger for `inactive_threshold`)
                with contextlib.suppress(nats.errors.Error):
                    await sub.unsubscribe()
                with contextlib.suppress(*TRANSIENT_NATS, nats.errors.Error):
                    await js.delete_consumer(CHANGES_STREAM, name)

    async def _drain(self, sub: JetStreamContext.PullSubscription, name: str, stop: asyncio.Event) -> None:
        """Apply what `sub` delivers; return when it must be replaced (a gap, an error, gone silent)."""
        js = self._connection.js
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch=self._fetch_batch, timeout=self._idle_check)
            except nats.errors.TimeoutError:
                try:  # nothing new, or the consumer's node is gone (an R1 consumer dies with it)
                    await js.consumer_info(CHANGES_STREAM, name, timeout=2.0)
                except (*TRANSIENT_NATS, NotFoundError, nats.errors.Error):
                    return
                continue
            except (*TRANSIENT_NATS, nats.errors.Error) as exc:
                log.debug("change applier: fetch failed (%s); new consumer from %d", exc, self.sequence + 1)
                return
            for msg in msgs:
                meta = msg.metadata
                expected = self.sequence + 1 + len(self._parts)
                if meta.sequence.stream < expected:
                    continue  # already applied (a consumer recreated over an overlap)
                if meta.sequence.stream != expected:
                    await self._check_not_behind()
                    log.info("change applier: gap before %d; new consumer", meta.sequence.stream)
                    return
                self._apply(meta.sequence.stream, msg.data, meta.timestamp.timestamp())

    async def _check_not_behind(self) -> None:
        """Refuse to go on when the log no longer holds the next change this replica needs (purged,
        or the replica is older than the stream's retention): skipping it would diverge silently."""
        info = await self._connection.js.stream_info(CHANGES_STREAM)
        if info.state.first_seq > self.sequence + 1:
            raise ClusterError(
                f"this replica has applied {CHANGES_STREAM} up to {self.sequence}, but the stream now starts "
                f"at {info.state.first_seq}: the changes between are gone; rebuild the replica"
            )

    def _apply(self, sequence: int, data: bytes, published_at: float) -> None:
        change = _decode(data)
        if self._parts and self._parts[0].id != change.id:
            raise ClusterError(f"{CHANGES_STREAM} {sequence}: another change inside the atomic batch {change.id}")
        if not change.last:
            self._parts.append(change)
            return
        parts, self._parts = [*self._parts, change], []
        failed = check(parts[0].preconditions, self._store)
        batch = WriteBatch()
        if failed is None:
            for part in parts:
                batch.ops.extend(part.ops)
        batch.put(APPLIED_KEY, sequence.to_bytes(8, "big"))
        self._store.write(batch)  # ops and resume point together: never lost, never repeated
        self.sequence = sequence
        self._reached.set()
        outcome = Applied(sequence=sequence, applied=failed is None, failed=failed)
        future = self._expected.pop(change.id, None)
        if future is not None and not future.done():
            future.set_result(outcome)
        if self._on_applied is not None:
            self._on_applied(outcome, published_at)


class ChangeLog:
    """The write side: `commit` a batch to the log and wait until this node has applied it."""

    def __init__(
        self,
        connection: ClusterConnection,
        applier: ChangeApplier,
        *,
        publish_timeout: float = 2.0,
        give_up_after: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self._applier = applier
        self._publish_timeout = publish_timeout
        self._give_up_after = give_up_after  # longer than any leader election (4-9 s measured)
        self._monotonic = monotonic
        self.placement_wait = 15.0

    async def ensure_stream(self) -> None:
        """Create `mempools_changes` (R = the cluster's `replicas`) or check the one there.

        Just after the NATS servers start, placing an `allow_atomic` stream can be refused with "no
        suitable peers for placement" until the meta leader knows every peer's version (seen on
        this machine in about one start in five): that passes by itself, so it is asked again for
        up to `placement_wait` seconds; any other refusal is final.
        """
        deadline = self._monotonic() + self.placement_wait
        while True:
            try:
                await self._connection.ensure_stream(changes_stream(self._connection.replicas), CHANGES_STREAM_NEEDS)
                return
            except ClusterError as exc:
                if "no suitable peers" not in str(exc) or self._monotonic() > deadline:
                    raise
                log.info("NATS cannot place %s yet (%s); trying again", CHANGES_STREAM, exc)
                await asyncio.sleep(0.25)

    def encode(self, batch: WriteBatch, preconditions: Sequence[Precondition] = ()) -> tuple[str, list[bytes]]:
        """The change id and the message bodies for `batch`: one, or the parts of an atomic batch.

        A `ClusterError` when one operation alone is over a message's size, or the batch needs more
        than `MAX_BATCH_PARTS` messages.
        """
        change_id = uuid.uuid4().hex
        conditions = list(preconditions)
        limit = self._connection.nc.max_payload - _HEADROOM
        body = _ENCODER.encode(Change(id=change_id, ops=list(batch.ops), preconditions=conditions))
        if len(body) <= limit:
            return change_id, [body]
        chunks: list[list[tuple[bytes, bytes | None]]] = [[]]
        size = len(_ENCODER.encode(conditions))
        for key, value in batch.ops:
            cost = len(key) + len(value or b"") + 16  # msgpack framing of one op: a few bytes
            if cost + 64 > limit:
                raise ClusterError(
                    f"one operation of a write batch is {cost} bytes, over the {limit} bytes one NATS "
                    f"message can carry (max_payload)"
                )
            if size + cost > limit - 64 and chunks[-1]:
                chunks.append([])
                size = 0
            chunks[-1].append((key, value))
            size += cost
        if len(chunks) > MAX_BATCH_PARTS:
            raise ClusterError(
                f"a write batch of {len(batch.ops)} operations needs {len(chunks)} messages, over the "
                f"{MAX_BATCH_PARTS} of one atomic batch: split it"
            )
        return change_id, [
            _ENCODER.encode(
                Change(
                    id=change_id,
                    ops=chunk,
                    preconditions=conditions if i == 0 else [],
                    last=i == len(chunks) - 1,
                )
            )
            for i, chunk in enumerate(chunks)
        ]

    async def commit(self, batch: WriteBatch, preconditions: Sequence[Precondition] = ()) -> int:
        """Publish `batch`, wait until this node applied it, and return its stream sequence.

        Raises `ConflictError` when a precondition failed at apply time (every replica skipped the
        batch), `ClusterError` when the log did not take it within `give_up_after` seconds (then
        the outcome is unknown: a publish whose ack was lost may still be in the log) or when this
        node's applier stopped first.
        """
        change_id, bodies = self.encode(batch, preconditions)
        outcome = self._applier.expect(change_id)
        try:
            if len(bodies) == 1:
                sequence: int | None = await self._publish(change_id, bodies[0])
            else:
                sequence = await self._publish_atomic(change_id, bodies)
            result = await outcome
        finally:
            self._applier.forget(change_id)
        assert sequence is None or result.sequence == sequence, (result.sequence, sequence)
        if not result.applied:
            raise ConflictError(f"the write was not applied: {describe_precondition(result.failed)}")
        batch.committed()
        return result.sequence

    async def _publish_atomic(self, change_id: str, bodies: list[bytes]) -> int | None:
        """Publish `bodies` as one ADR-50 atomic batch (nats-py has no helper: the headers by hand).

        Each attempt is a new `Nats-Batch-Id` with the same `Nats-Msg-Id`s, so a retry of a batch
        that was stored after all is refused as a duplicate (10201): then the sequence is unknown
        here (None) and the applier's outcome tells it.
        """
        nc = self._connection.nc
        deadline = self._monotonic() + self._give_up_after
        delay = 0.05
        while True:
            batch_id = uuid.uuid4().hex
            try:
                for number, body in enumerate(bodies, start=1):
                    headers = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(number)}
                    headers["Nats-Msg-Id"] = f"{change_id}.{number}"
                    if number < len(bodies):
                        await nc.publish(CHANGES_SUBJECT, body, headers=headers)
                        continue
                    headers["Nats-Batch-Commit"] = "1"
                    reply = msgspec.json.decode(
                        (await nc.request(CHANGES_SUBJECT, body, timeout=self._publish_timeout, headers=headers)).data,
                        type=_BatchAck,
                    )
                    if reply.error is None:
                        return reply.seq
                    if reply.error.err_code == _BATCH_ALREADY_STORED:
                        return None
                    if reply.error.err_code != _DUPLICATE_IN_PROCESS:
                        raise ClusterError(f"NATS refused a write to {CHANGES_STREAM}: {reply.error.description}")
            except TRANSIENT_NATS as exc:
                if self._monotonic() > deadline:
                    raise self._gave_up(exc) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _gave_up(self, exc: BaseException) -> ClusterUnavailableError:
        """The error of a write the log did not take within `give_up_after` (its outcome unknown)."""
        return ClusterUnavailableError(
            f"the change log did not take a write in {self._give_up_after:.0f} s: {exc or type(exc).__name__}"
        )

    async def _publish(self, change_id: str, body: bytes) -> int:
        """Publish with the same `Nats-Msg-Id` until acknowledged: the server keeps one copy."""
        deadline = self._monotonic() + self._give_up_after
        headers = {"Nats-Msg-Id": change_id}
        delay = 0.05
        while True:
            try:
                ack = await self._connection.js.publish(
                    CHANGES_SUBJECT, body, timeout=self._publish_timeout, stream=CHANGES_STREAM, headers=headers
                )
                return ack.seq
            except (*TRANSIENT_NATS, APIError) as exc:
                if not isinstance(exc, TRANSIENT_NATS) and exc.err_code != _DUPLICATE_IN_PROCESS:
                    raise ClusterError(f"NATS refused a write to {CHANGES_STREAM}: {exc.description}") from None
                if self._monotonic() > deadline:
                    raise self._gave_up(exc) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)


class _ApiError(msgspec.Struct):
    err_code: int = 0
    description: str = ""


class _BatchAck(msgspec.Struct):
    """JetStream's answer to the commit of an atomic batch."""

    seq: int = 0
    error: _ApiError | None = None


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Change)


def _decode(data: bytes) -> Change:
    try:
        return _DECODER.decode(data)
    except msgspec.DecodeError as exc:  # not ours: nothing else may publish to the subject
        raise ClusterError(f"a message on {CHANGES_STREAM} is not a change: {exc}") from None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

"""Fencing a chain's watcher inside the log: a paused former holder cannot commit anything.

A lease (core/cluster/lease.py) says who SHOULD watch a chain, but a holder paused past its TTL
(SIGSTOP, a long GC, a VM migration) does not know it lost the lease until it runs again, and
the batch it was about to commit would then land after the new holder's. So the decision is
also made where the writes are applied: each chain has an epoch record at
`meta/chain_epoch/<chain id>` naming the holder and its lease's fencing token. A new holder
claims it (compare-and-set through the log) before reading the stored cursor, and every batch
the watcher commits carries `Equals(epoch key, digest(our record))`. Once a newer holder has
replaced the record, every replica refuses each later batch of the old one (the precondition is
checked at apply time, in log order, identically everywhere): its commit raises ConflictError
and the watcher stops with `FencedError`.

Single-node mode has no lease and no other writer: `NO_FENCE` adds nothing to a batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from core.errors import ConflictError, FencedError
from core.store.base import Absent, Equals, KVStore, WriteBatch, digest
from core.support.timeutil import utcnow

if TYPE_CHECKING:
    from core.watch.watcher import ChainWatcher

log = logging.getLogger("mempools.watcher")

EPOCH_PREFIX = b"meta/chain_epoch/"


def epoch_key(chain_id: str) -> bytes:
    return EPOCH_PREFIX + chain_id.encode()


class ChainEpoch(msgspec.Struct, frozen=True):
    """Who watches a chain now: the node and the fencing token of the lease it holds."""

    node: str
    token: int
    claimed_at: datetime


class ChainFence(Protocol):
    """What a watcher adds to every batch it commits so that only the current holder's apply."""

    #: True when `stamp` adds a precondition (a refused commit then means: superseded, stop).
    active: bool

    def stamp(self, batch: WriteBatch) -> None: ...


class _NoFence:
    active = False

    def stamp(self, batch: WriteBatch) -> None:
        return None


#: Single node: nobody else can watch the chain, nothing to check.
NO_FENCE: ChainFence = _NoFence()


class EpochFence:
    """A claimed epoch of one chain; `stamp` makes a batch apply only while it is still the current one."""

    active = True

    def __init__(self, chain_id: str, record: ChainEpoch, raw: bytes) -> None:
        self.chain_id = chain_id
        self.record = record
        self.key = epoch_key(chain_id)
        self._condition = Equals(self.key, digest(raw))

    def stamp(self, batch: WriteBatch) -> None:
        batch.require(self._condition)

    @classmethod
    async def claim(
        cls,
        store: KVStore,
        chain_id: str,
        node: str,
        token: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> EpochFence:
        """Make (node, token) the chain's epoch, unless a newer token already holds it (FencedError).

        The record is read from the local replica, which may lag; the claim is a compare-and-set
        on what was read, so a stale read only costs a ConflictError, after which the replica has
        applied the log up to the conflicting claim (a commit returns once it is applied here) and
        the next read is current. A stored token greater than ours means a newer lease holder
        exists: this node must not watch.
        """
        key = epoch_key(chain_id)
        while True:
            old = store.get(key)
            if old is not None:
                stored = _DECODER.decode(old)
                if stored.token > token:
                    raise FencedError(
                        f"chain {chain_id}: epoch {stored.token} of node {stored.node} is newer than this "
                        f"node's lease token {token}: not watching it"
                    )
            record = ChainEpoch(node=node, token=token, claimed_at=clock())
            raw = _ENCODER.encode(record)
            batch = WriteBatch()
            batch.put(key, raw)
            batch.require(Absent(key) if old is None else Equals(key, digest(old)))
            try:
                await store.commit(batch)
            except ConflictError:
                log.info("%s: another claim of the epoch came first; reading it again", chain_id)
                continue
            log.info("%s: epoch %d claimed by %s", chain_id, token, node)
            return cls(chain_id, record, raw)


#: Same shape as core.cluster.leased.LeasedWork (not imported: single-node mode never loads NATS).
FencedWork = Callable[[asyncio.Event, int], Coroutine[Any, Any, None]]


def fenced_watch(watcher: ChainWatcher, store: KVStore, node: str) -> FencedWork:
    """The work a chain's `LeasedRunner` runs: claim the epoch with the lease's token, then watch.

    The claim comes before the watcher reads its stored cursor, so the cursor it resumes from
    includes every batch the previous holder got applied, and nothing of that holder applies
    after it. A `FencedError` (at the claim or from a refused batch) ends the work; the runner
    then gives the lease back.
    """

    async def work(stop: asyncio.Event, token: int) -> None:
        fence = await EpochFence.claim(store, watcher.chain_id, node, token)
        await watcher.run(stop, fence=fence)

    return work


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(ChainEpoch)

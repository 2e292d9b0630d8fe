"""Blocks, a scripted chain and a processor rig for the monitoring tests (tests/test_monitor_*.py).

Blocks are built as the decoder makes them (commit signatures in set order, absent votes without
an address) and staged by the real processor into a real RocksDB store; the chain's answers come
from `ScriptedChain`, a stand-in for the chain's RPC and REST API (the devnet tests drive the real
ones over HTTP).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bech32
import msgspec
import pytest

from core.chain.blocks import Attribute, CommitSig, DecodedBlock, Event, Scope
from core.dispatch.outbox import Outbox
from core.errors import UpstreamError
from core.models import Chain, Notification, Subscription
from core.monitor.facts import SlashingWindow, ValidatorInfo
from core.monitor.models import ValidatorWatch, Watch
from core.monitor.monitor import ChainMonitor
from core.store import RocksStore, open_store
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher
from core.watch.processor import BlockProcessor

CHAIN = Chain(id="devnet-1", name="Devnet", bech32_prefix="cosmos")
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def hexaddr(i: int) -> str:
    return f"{i:040X}"


def bech(hrp: str, hex_payload: str) -> str:
    data = bech32.convertbits(bytes.fromhex(hex_payload), 8, 5)
    assert data is not None
    return str(bech32.bech32_encode(hrp, data))


SET = tuple(hexaddr(i) for i in range(1, 5))
WATCHED = SET[1]
OPERATOR = bech("cosmosvaloper", f"{0xAA:040X}")


class Tally(msgspec.Struct, frozen=True):
    yes: int = 0
    no: int = 0
    abstain: int = 0
    no_with_veto: int = 0


class Proposal(msgspec.Struct, frozen=True):
    id: int
    title: str
    status: str = "voting"
    voting_end: datetime | None = None
    final_tally: Tally | None = None


class Choice(msgspec.Struct, frozen=True):
    option: str
    weight: str = "1.000000000000000000"


class Vote(msgspec.Struct, frozen=True):
    choices: tuple[Choice, ...]


class ScriptedChain:
    """The chain's answers for monitoring; a query can be made to fail."""

    def __init__(self, window: int = 100) -> None:
        self.window = window
        self.sets: dict[int, tuple[str, ...]] = {}
        self.proposals: dict[int, Proposal] = {}
        self.votes: dict[tuple[int, str], str] = {}
        self.failing: set[str] = set()
        self.asked: list[str] = []

    def _maybe_fail(self, what: str) -> None:
        self.asked.append(what)
        if what in self.failing:
            raise UpstreamError(f"{what}: HTTP 500")

    async def members(self, height: int) -> tuple[str, ...]:
        self._maybe_fail("members")
        return self.sets.get(height, SET)

    async def slashing_window(self) -> SlashingWindow:
        self._maybe_fail("params")
        return SlashingWindow(self.window, "0.5")

    async def validator(self, operator: str, height: int | None = None) -> None:
        self._maybe_fail("validator")
        return None

    async def validators(self) -> list[ValidatorInfo]:
        return []

    async def proposal(self, proposal_id: int, height: int | None = None) -> Proposal | None:
        self._maybe_fail("proposal")
        return self.proposals.get(proposal_id)

    async def proposals_in_voting(self) -> list[Proposal]:
        self._maybe_fail("proposals")
        return [p for p in self.proposals.values() if p.status == "voting"]

    async def vote(self, proposal_id: int, voter: str, height: int | None = None) -> Vote | None:
        self._maybe_fail("vote")
        option = self.votes.get((proposal_id, voter))
        return Vote(choices=(Choice(option),)) if option else None


def time_of(height: int) -> datetime:
    """Block times: 6 s apart from T0 (tests that need a day to pass use `at`)."""
    return T0 + timedelta(seconds=6 * height)


def event(type_: str, **attrs: str) -> Event:
    return Event(type=type_, attributes=tuple(Attribute(k, v) for k, v in attrs.items()))


def _scope(index: int | None, events: tuple[Event, ...], code: int = 0) -> Scope:
    events_map: dict[str, list[str]] = {}
    for e in events:
        for a in e.attributes:
            events_map.setdefault(f"{e.type}.{a.key}", []).append(a.value)
    return Scope(
        kind="block" if index is None else "tx",
        index=index,
        tx_hash=None if index is None else f"{index:064X}",
        code=None if index is None else code,
        codespace=None,
        gas_wanted=None,
        gas_used=None,
        events=events,
        events_map=events_map,
    )


def block(
    height: int,
    missing: set[str] | frozenset[str] = frozenset(),
    members: tuple[str, ...] = SET,
    events: tuple[Event, ...] = (),
    txs: tuple[tuple[Event, ...], ...] = (),
    at: datetime | None = None,
) -> DecodedBlock:
    """Block `height`: votes for height - 1 by `members` (those in `missing` absent), its block
    events, one tx per entry of `txs`, at block time `at` (default `time_of(height)`)."""
    sigs = tuple(CommitSig(flag=1, address="") if m in missing else CommitSig(flag=2, address=m) for m in members)
    scopes = (*(_scope(i, tx) for i, tx in enumerate(txs)), _scope(None, events))
    return DecodedBlock(
        height=height,
        time=(at or time_of(height)).isoformat().replace("+00:00", "Z"),
        chain_id=CHAIN.id,
        scopes=scopes,
        signatures=sigs,
    )


class Rig:
    def __init__(
        self, store: RocksStore, chain: ScriptedChain, proposal_url: Callable[[int], str | None] = lambda _pid: None
    ) -> None:
        self.store = store
        self.chain = chain
        self.repos = Repositories(store)
        self.matcher = SubscriptionMatcher()
        self.matcher.load(self.repos.subscriptions.of_chain(CHAIN.id))
        self.monitor = ChainMonitor(
            CHAIN.id,
            self.repos,
            lambda: self.matcher.watches(CHAIN.id),
            chain,
            proposal_url=proposal_url,
            query_retry_s=0,
        )
        self.processor = BlockProcessor(CHAIN, self.matcher, self.repos, Outbox(store), monitor=self.monitor)
        self.started = False

    async def watch(self, sub_id: str = "sub_1", **settings: object) -> Subscription:
        watch = ValidatorWatch(
            operator=OPERATOR,
            consensus=bech("cosmosvalcons", WATCHED),
            consensus_hex=WATCHED,
            moniker="Nodeflux",
            **settings,  # type: ignore[arg-type]
        )
        return await self.subscribe(sub_id, watch, "Nodeflux")

    async def subscribe(self, sub_id: str, watch: Watch, name: str = "watch") -> Subscription:
        sub = Subscription(
            id=sub_id,
            owner_id="acc_1",
            chain_id=CHAIN.id,
            name=name,
            queries=[],
            destination_ids=[],
            monitor=watch,
            created_at=T0,
            updated_at=T0,
        )
        await self.repos.subscriptions.save(sub)
        self.matcher.upsert(sub)
        return sub

    async def run(self, blocks: list[DecodedBlock], per_commit: int = 1) -> list[Notification]:
        """Prepare and stage each block, `per_commit` blocks per batch (1 as the watcher does at the
        tip, more as it does catching up); every notification stored so far, in height order.
        The monitor starts at the first run, as a watcher's does (`restart` for another)."""
        if not self.started:
            await self.monitor.start()
            self.started = True
        for i in range(0, len(blocks), per_commit):
            batch = WriteBatch()
            group = blocks[i : i + per_commit]
            for b in group:
                await self.monitor.prepare(b)
            for b in group:
                self.processor.stage(b, batch)
            self.processor.advance(group[-1].height, batch)
            await self.store.commit(batch)
        return sorted(self.repos.notifications.scan(), key=lambda n: (n.height, n.id))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RocksStore]:
    s = open_store(tmp_path / "data")
    yield s
    s.close()

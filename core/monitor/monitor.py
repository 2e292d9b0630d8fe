"""One chain's monitoring: the validator and governance trackers, their state, their questions.

The watcher drives it in three steps per block:

1. `prepare(block)` while the block is fetched (concurrently with other heights): ask the chain
   what the block's alerts depend on (core/monitor/facts.py); never raises.
2. `stage(block, batch)` in height order, inside the block's batch: apply the block to the
   trackers, write the state records that changed, return the alerts (the processor turns them
   into notifications in the same batch). The chain cursor is in that batch too, so a crash
   leaves state and cursor agreeing, and the block is applied once.
3. `stalled(now)` from a timer while the watcher is at the tip: "no new block for N minutes".

The in-memory state runs ahead of the store only between a stage and its commit, which the
watcher retries until it is stored; `load()` re-reads everything (a watcher that takes the chain
over in a cluster starts from what was committed).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from core.chain.blocks import DecodedBlock
from core.errors import UpstreamError
from core.models import Subscription
from core.monitor.facts import BlockFacts, ChainQueries, vote_option
from core.monitor.governance import GovernanceTracker
from core.monitor.index import WatchIndex
from core.monitor.models import Alert, ChainMonitorState, MonitorGap
from core.monitor.validators import ValidatorTracker, membership_change_height
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.incidents import IncidentLog
from core.support.timeutil import parse_rfc3339, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
Fired = tuple[Subscription, Alert]

#: A failed query is tried this many times, `QUERY_RETRY_S` apart, before the block goes on without it.
QUERY_ATTEMPTS = 3
QUERY_RETRY_S = 0.5
#: How often a missing slashing window is asked for again.
WINDOW_RETRY_S = 60.0
#: How often a watched validator not yet seeded from x/staking (moniker, commission) is asked again.
SEED_RETRY_S = 600.0


class MonitorProblem(Exception):
    """A query monitoring needs failed (raised inside `_ask` only, never out of the monitor)."""


class ChainMonitor:
    def __init__(
        self,
        chain_id: str,
        repos: Repositories,
        watches: Callable[[], WatchIndex],
        queries: ChainQueries | None,
        *,
        proposal_url: Callable[[int], str | None] = lambda _pid: None,
        clock: Callable[[], datetime] = utcnow,
        query_retry_s: float = QUERY_RETRY_S,
    ) -> None:
        self.chain_id = chain_id
        self.repos = repos
        self._watches = watches
        self.queries = queries
        self.clock = clock
        self.query_retry_s = query_retry_s
        self.problems: dict[str, str] = {}  # query -> why it fails, while it does
        self._incidents = IncidentLog(log)
        self._facts: dict[int, BlockFacts] = {}
        self._fetched_members: tuple[str, ...] = ()
        self._fetched_set: frozenset[str] = frozenset()
        self._fetched_height = 0  # the height whose set `_fetched_members` is
        self._expected_changes: set[int] = set()  # heights whose membership validator_updates change
        self._window_asked_at = -WINDOW_RETRY_S
        self._proposal_url = proposal_url
        self._dirty_chain = False
        self._pending_proposals: set[int] = set()  # tracked by `start`, written with the next block
        self._members_lock = asyncio.Lock()
        self._seed_asked: dict[str, float] = {}  # consensus hex -> when x/staking was last asked
        self._seeded: set[str] = set()  # consensus hexes whose state has x/staking's figures
        self.last_block_time: datetime | None = None
        self.load()

    # -- state -----------------------------------------------------------------------------------

    def load(self) -> None:
        """(Re)read this chain's state from the store."""
        repos = self.repos
        self.chain_state = repos.chain_monitors.get(self.chain_id) or ChainMonitorState(chain_id=self.chain_id)
        states = {s.consensus_hex: s for s in repos.validator_states.of_chain(self.chain_id)}
        self.validators = ValidatorTracker(self.chain_id, self.chain_state, states)
        proposals = {p.proposal_id: p for p in repos.proposal_states.of_chain(self.chain_id)}
        self.governance = GovernanceTracker(self.chain_id, proposals, self._proposal_url)
        self._facts.clear()
        cursor = repos.cursors.get(self.chain_id)
        self.last_block_time = cursor.updated_at if cursor is not None else None

    @property
    def watches(self) -> WatchIndex:
        return self._watches()

    def active(self) -> bool:
        return len(self.watches) > 0

    async def start(self) -> None:
        """Ask what only the chain knows before the first block: the slashing window, the
        proposals already in voting (and the watched voters' votes on them). Failures are kept
        in `problems` and asked again later; blocks are watched regardless."""
        self.load()
        if self.queries is None or not self.active():
            return
        await self._ask_window()
        watches = self.watches
        if watches.governance or watches.voters:
            open_ = await self._ask("GET proposals in voting period", self.queries.proposals_in_voting)
            for info in open_ or []:
                if info.id in self.governance.proposals:
                    continue
                state = self.governance.track(info)
                state.announced = False
                for voter in watches.voters:
                    vote = await self._ask(
                        f"GET vote of {voter} on proposal {info.id}", self.queries.vote, info.id, voter
                    )
                    if vote is not None:
                        state.votes = {**state.votes, voter: vote_option(vote)}
                self._pending_proposals.add(info.id)

    # -- 1. before staging ---------------------------------------------------------------------

    async def prepare(self, block: DecodedBlock) -> None:
        """Gather `block`'s facts; a no-op for most blocks. Never raises."""
        if self.queries is None or not self.active():
            return
        try:
            facts = await self._gather(block)
        except Exception:
            log.exception("%s: monitoring could not prepare height %d", self.chain_id, block.height)
            return
        if facts is not None:
            self._facts[block.height] = facts

    async def _gather(self, block: DecodedBlock) -> BlockFacts | None:
        assert self.queries is not None
        queries = self.queries
        watches = self.watches
        facts = BlockFacts(height=block.height, validators={}, proposals={}, votes={})
        if not self.chain_state.window and self.clock().timestamp() - self._window_asked_at >= WINDOW_RETRY_S:
            await self._ask_window()
        known = self._fetched_set or self.validators.known_members()
        changed_at = membership_change_height(block, known)
        if changed_at is not None:
            self._expected_changes.add(changed_at)  # the votes in block changed_at + 1 need a fresh set
        moved = block.height - 1 in self._expected_changes
        needed = moved or not self.validators.explains(known, block)
        if watches.validators and block.signatures and block.height > 1 and needed:
            # One fetch at a time: catching up prepares many heights at once, and after a
            # start they would all ask for the same set.
            async with self._members_lock:
                fresh = self._fetched_height == block.height - 1
                stale = not self.validators.explains(self._fetched_members or self.chain_state.members, block)
                if (moved and not fresh) or stale:
                    what = f"GET /validators?height={block.height - 1}"
                    members = await self._ask(what, queries.members, block.height - 1)
                    if members is None:
                        facts.members_failed = f"{what} failed: {self.problems.get(what, 'no answer')}"
                    else:
                        facts.members = self._fetched_members = tuple(members)
                        self._fetched_set = frozenset(members)
                        self._fetched_height = block.height - 1
                if facts.members is None and facts.members_failed is None:
                    facts.members = self._fetched_members
                facts.members_height = self._fetched_height
        operators: set[str] = set()
        now = self.clock().timestamp()
        # Only watches not seeded yet are looked at (a set difference, not a walk of every
        # validator per block), and each is asked at most every SEED_RETRY_S.
        for consensus_hex in watches.validators.keys() - self._seeded:
            state = self.validators.states.get(consensus_hex)
            if state is not None and state.commission_rate:
                self._seeded.add(consensus_hex)
                continue
            if now - self._seed_asked.get(consensus_hex, -SEED_RETRY_S) < SEED_RETRY_S:
                continue  # asked lately (not known yet, or the query failed): not every block
            self._seed_asked[consensus_hex] = now
            operator = next(iter(watches.validators[consensus_hex].values()))[1].operator
            if operator:
                operators.add(operator)
        pids: set[int] = set()
        for scope in block.txs:
            if scope.failed:
                continue
            if "edit_validator" in {e.type for e in scope.events}:
                for sender in scope.events_map.get("message.sender", ()):
                    edited = watches.validator_by_operator(sender)
                    if edited is not None:
                        operators.add(next(iter(watches.validators[edited].values()))[1].operator)
            for key in ("submit_proposal.proposal_id", "proposal_deposit.voting_period_start"):
                pids.update(int(v) for v in scope.events_map.get(key, ()) if v.isdigit())
        if watches.governance or watches.voters:
            for event in block.block_scope.events:
                if event.type == "active_proposal":
                    pids.update(int(a.value) for a in event.attributes if a.key == "proposal_id" and a.value.isdigit())
        if not (operators or pids or watches.voters or facts.members is not None or facts.members_failed):
            return None
        for operator in sorted(operators):
            facts.validators[operator] = await self._ask(
                f"GET validator {operator}", queries.validator, operator, block.height
            )
        for pid in sorted(pids):
            facts.proposals[pid] = await self._ask(f"GET proposal {pid}", queries.proposal, pid, block.height)
        if watches.voters and block.time:
            for pid, voter in self.governance.due_voters(parse_rfc3339(block.time), watches):
                vote = await self._ask(f"GET vote of {voter} on proposal {pid}", queries.vote, pid, voter, block.height)
                if vote is not None:
                    facts.votes[(pid, voter)] = vote_option(vote)
        return facts

    async def _ask_window(self) -> None:
        assert self.queries is not None
        self._window_asked_at = self.clock().timestamp()
        window = await self._ask("GET /cosmos/slashing/v1beta1/params", self.queries.slashing_window)
        if window is not None and window.signed_blocks_window > 0:
            self.chain_state.window = window.signed_blocks_window
            self.chain_state.min_signed = window.min_signed_per_window
            self._dirty_chain = True

    async def _ask(self, what: str, call: Callable[..., Awaitable[T]], *args: object) -> T | None:
        """`call(*args)`, tried up to `QUERY_ATTEMPTS` times; None (and a logged incident) if it fails."""
        # While this kind of query is failing, it is tried once per block, not QUERY_ATTEMPTS
        # times with pauses: a REST API that is down must not slow catching up to a crawl.
        attempts = 1 if self._incidents.is_open(self._incident(what)) else QUERY_ATTEMPTS
        for attempt in range(attempts):
            try:
                result = await call(*args)
            except (UpstreamError, OSError, TimeoutError) as exc:
                reason = str(exc) or type(exc).__name__
                if attempt + 1 < attempts:
                    await asyncio.sleep(self.query_retry_s * (attempt + 1))
                    continue
                self.problems[what] = reason
                self._incidents.failure(
                    self._incident(what),
                    "%s: monitoring query %s failed: %s (blocks are still watched; what it would tell is skipped)",
                    self.chain_id,
                    what,
                    reason,
                )
                return None
            # The same kind of query answers again: its earlier failures are no longer news.
            incident = self._incident(what)
            for failed in [q for q in self.problems if self._incident(q) == incident]:
                del self.problems[failed]
            self._incidents.resolved(incident)
            return result
        return None

    def _incident(self, what: str) -> str:
        """One incident per kind of query ("GET proposal N"), not per height or proposal: a node
        that stops answering is said once, and once when it answers again."""
        return f"{self.chain_id}:{re.sub(r'[0-9]+', 'N', what.split(' of ')[0])}"

    # -- 2. staging ------------------------------------------------------------------------------

    def stage(self, block: DecodedBlock, block_time: datetime, batch: WriteBatch) -> list[Fired]:
        """Apply `block`; its changed state goes into `batch`; returns its alerts."""
        facts = self._facts.pop(block.height, None)
        for stale in [h for h in self._facts if h < block.height]:
            del self._facts[stale]
        watches = self.watches
        alerts: list[Fired] = []
        repos = self.repos
        if self.chain_state.stall_told:
            alerts += self._resumed(block, block_time, watches)
        step = self.validators.apply(block, facts, watches)
        alerts += step.alerts
        for state in step.changed:
            repos.validator_states.put(state, batch)
        if step.gap is not None and watches.validators:
            gap = MonitorGap(chain_id=self.chain_id, height=block.height - 1, reason=step.gap, recorded_at=self.clock())
            repos.monitor_gaps.put(gap, batch)
            self._incidents.failure(f"{self.chain_id}:signatures", "%s: %s", self.chain_id, step.gap)
        elif block.signatures:
            self._incidents.resolved(f"{self.chain_id}:signatures")
        gov = self.governance.apply(block, block_time, facts, watches)
        alerts += gov.alerts
        for pid in self._pending_proposals:
            pending = self.governance.proposals.get(pid)
            if pending is not None:
                repos.proposal_states.put(pending, batch)
        self._pending_proposals.clear()
        for proposal in gov.changed:
            repos.proposal_states.put(proposal, batch)
        for pid in gov.ended:
            repos.proposal_states.delete(self.chain_id, pid, batch=batch)
        if step.members_changed or self._dirty_chain:
            repos.chain_monitors.put(self.chain_state, batch)
            self._dirty_chain = False
        self.last_block_time = max(block_time, self.last_block_time) if self.last_block_time else block_time
        return alerts

    # -- 3. stalls -------------------------------------------------------------------------------

    def stalled(self, now: datetime, height: int, batch: WriteBatch) -> list[Fired]:
        """Alerts for the watches whose stall threshold the time since the last block has passed."""
        last = self.last_block_time
        if last is None:
            return []
        idle = now - last
        told = set(self.chain_state.stall_told)
        alerts: list[Fired] = []
        for sub, watch in self.watches.stall_audience():
            minutes = watch.stall_minutes
            if minutes in told or idle < timedelta(minutes=minutes):
                continue
            details = {
                "height": str(height),
                "last_block_time": last.isoformat(),
                "minutes": str(int(idle.total_seconds() // 60)),
                "threshold": str(minutes),
            }
            alert = Alert(kind="chain_stalled", key=f"chain_stalled:{minutes}:{height}", details=details)
            alerts.append((sub, alert))
        fired = {
            w.stall_minutes for _, w in self.watches.stall_audience() if idle >= timedelta(minutes=w.stall_minutes)
        }
        if fired - told:
            self.chain_state.stall_told = sorted(told | fired)
            self.repos.chain_monitors.put(self.chain_state, batch)
        return alerts

    def _resumed(self, block: DecodedBlock, block_time: datetime, watches: WatchIndex) -> list[Fired]:
        told = set(self.chain_state.stall_told)
        self.chain_state.stall_told = []
        self._dirty_chain = True
        last = self.last_block_time
        details = {"height": str(block.height)}
        if last is not None:
            details["minutes"] = str(max(0, int((block_time - last).total_seconds() // 60)))
        return [
            (sub, Alert(kind="chain_resumed", key=f"chain_resumed:{watch.stall_minutes}", details=details))
            for sub, watch in watches.stall_audience()
            if watch.stall_minutes in told
        ]

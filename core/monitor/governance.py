"""Proposals of one chain, block by block: submitted, voting, reminders, votes, results.

Everything is read from blocks, and time is block time: a reminder "voting ends in 1 h" is due
at the first block whose time is at least an hour before the end, so catching up after a night
off tells the same reminders at the same heights as watching live would have (and none for
proposals that ended meanwhile: their result is told instead). The x/gov REST answers a block
needs (title, end of voting, final tally, a watched voter's earlier vote) are in its `BlockFacts`.

Events, in the forms chains emit them (SDK 0.45 to 0.50):
- `submit_proposal.proposal_id` in a tx: a new proposal (voting may start at once).
- `proposal_deposit.voting_period_start` in a tx: its deposit was reached, voting starts.
- `proposal_vote` (`option`, `proposal_id`, `voter` since 0.47, else `message.sender`).
- `active_proposal` in the block's end-block events (`proposal_id`, `proposal_result`): voting
  ended; `inactive_proposal`: the deposit period ran out (dropped, nobody is told).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from core.chain.blocks import Attribute, DecodedBlock, Scope
from core.chain.voteoption import parse_vote_option
from core.models import Subscription
from core.monitor.facts import BlockFacts, ProposalInfo, describe_choices
from core.monitor.index import WatchIndex
from core.monitor.models import Alert, GovernanceWatch, ProposalState, VoterWatch
from core.monitor.params import format_duration

Fired = tuple[Subscription, Alert]

#: Cut hostile or enormous titles here; channels escape what is left.
MAX_TITLE = 200

_RESULTS = {"proposal_passed": "passed", "proposal_rejected": "rejected", "proposal_failed": "failed"}


def clean_title(title: str, proposal_id: int) -> str:
    text = " ".join(title.split())
    if not text:
        return f"Proposal #{proposal_id}"
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…"


class GovernanceStep(msgspec.Struct, kw_only=True):
    alerts: list[Fired] = []
    changed: list[ProposalState] = []
    ended: list[int] = []  # proposals whose records go


@dataclass(slots=True)
class _Pass:
    """One block being applied (see `GovernanceTracker.apply`): the block and its time, what was
    asked for it, who watches and who hears of proposals, what it has told and changed so far."""

    block: DecodedBlock
    block_time: datetime
    facts: BlockFacts | None
    watches: WatchIndex
    audience: list[tuple[Subscription, GovernanceWatch | VoterWatch]]
    step: GovernanceStep
    changed: dict[int, ProposalState]


class GovernanceTracker:
    """Applies blocks to the chain's `ProposalState`s (held here, written by the caller)."""

    def __init__(
        self,
        chain_id: str,
        proposals: dict[int, ProposalState],
        proposal_url: Callable[[int], str | None] = lambda _pid: None,
    ) -> None:
        self.chain_id = chain_id
        self.proposals = proposals
        self.proposal_url = proposal_url

    def due_voters(self, block_time: datetime, watches: WatchIndex) -> list[tuple[int, str]]:
        """(proposal, voter) pairs whose reminder is due at `block_time` and whose vote is not
        known: the monitor asks x/gov about them before the block is staged."""
        pairs = []
        for pid, state in self.proposals.items():
            if state.ended or state.voting_end is None or block_time >= state.voting_end:
                continue
            for voter, entries in watches.voters.items():
                if voter in state.votes:
                    continue
                longest = max((max(w.remind_before, default=0) for _, w in entries.values()), default=0)
                if longest and block_time >= state.voting_end - timedelta(seconds=longest):
                    pairs.append((pid, voter))
        return pairs

    def track(self, info: ProposalInfo) -> ProposalState:
        """Start following a proposal known from x/gov (at start, or when a block names it)."""
        state = self.proposals.get(info.id)
        if state is None:
            state = ProposalState(chain_id=self.chain_id, proposal_id=info.id)
            self.proposals[info.id] = state
        state.title = clean_title(info.title, info.id)
        state.status = info.status
        state.voting_end = info.voting_end
        return state

    def apply(
        self, block: DecodedBlock, block_time: datetime, facts: BlockFacts | None, watches: WatchIndex
    ) -> GovernanceStep:
        step = GovernanceStep()
        audience = list(watches.governance_audience())
        if not audience:
            return step
        p = _Pass(block, block_time, facts, watches, audience, step, {})
        for scope in block.txs:
            if not scope.failed:
                self._tx(p, scope)
        for _, alert in step.alerts:
            if alert.kind in ("proposal_new", "proposal_voting") and alert.proposal_id in self.proposals:
                self._told_by_announcement(self.proposals[alert.proposal_id], block_time, audience)
        self._reminders(p)
        self._ended(p)
        step.changed = [s for pid, s in p.changed.items() if pid not in step.ended]
        return step

    # -- transactions ----------------------------------------------------------------------------

    def _tx(self, p: _Pass, scope: Scope) -> None:
        block, facts, audience, step, changed = p.block, p.facts, p.audience, p.step, p.changed
        height = str(block.height)
        for raw in scope.events_map.get("submit_proposal.proposal_id", ()):
            pid = _int(raw)
            known = self.proposals.get(pid) if pid is not None else None
            if pid is None or (known is not None and known.announced):
                continue
            info = facts.proposals.get(pid) if facts is not None else None
            state = self.track(info) if info is not None else self._unknown(pid)
            state.announced = True
            changed[pid] = state
            details = {"height": height, "status": state.status}
            if state.voting_end is not None:
                details["voting_end"] = state.voting_end.isoformat()
            for sub, _ in audience:
                step.alerts.append((sub, self._make("proposal_new", state, "", details)))
        for raw in scope.events_map.get("proposal_deposit.voting_period_start", ()):
            pid = _int(raw)
            if pid is None:
                continue
            info = facts.proposals.get(pid) if facts is not None else None
            state = self.track(info) if info is not None else self._unknown(pid)
            if state.voting_end is None:
                continue  # not known when voting ends: nothing useful to tell yet
            state.status = "voting"
            changed[pid] = state
            details = {"height": height, "voting_end": state.voting_end.isoformat()}
            for sub, _ in audience:
                step.alerts.append((sub, self._make("proposal_voting", state, "", details)))
        for event in scope.events:
            if event.type == "proposal_vote":
                self._vote(p, event.attributes, scope)

    def _vote(self, p: _Pass, attributes: tuple[Attribute, ...], scope: Scope) -> None:
        block, watches, step, changed = p.block, p.watches, p.step, p.changed
        attrs = {a.key: a.value for a in attributes}
        voter = attrs.get("voter") or next(iter(scope.events_map.get("message.sender", ())), "")
        if voter not in watches.voters:
            return
        pid = _int(attrs.get("proposal_id", ""))
        if pid is None:
            return
        try:
            choices = parse_vote_option(attrs.get("option", ""))
        except ValueError:
            option = "unknown"
        else:
            option = describe_choices(choices)
        state = self.proposals.get(pid) or self._unknown(pid)
        state.votes = {**state.votes, voter: option}
        changed[pid] = state
        details = {"height": str(block.height), "option": option}
        if scope.tx_hash:
            details["tx_hash"] = scope.tx_hash
        for sub, _ in watches.of_voter(voter):
            step.alerts.append((sub, self._make("vote_cast", state, voter, details, voter=voter)))

    # -- time ------------------------------------------------------------------------------------

    @staticmethod
    def _told_by_announcement(
        state: ProposalState, block_time: datetime, audience: list[tuple[Subscription, GovernanceWatch | VoterWatch]]
    ) -> None:
        """Reminders already due when a proposal is announced are not told on top: the
        announcement says when voting ends (a 2-hour vote is not "ending in 24 h" news)."""
        if state.voting_end is None or state.reminders_sent:
            return
        left = state.voting_end - block_time
        due = {d for _, w in audience for d in w.remind_before if left <= timedelta(seconds=d)}
        state.reminders_sent = sorted(due)

    def _reminders(self, p: _Pass) -> None:
        block, block_time, facts, watches, step, changed = p.block, p.block_time, p.facts, p.watches, p.step, p.changed
        for pid, state in self.proposals.items():
            end = state.voting_end
            if state.ended or end is None or block_time >= end:
                continue
            left = end - block_time
            # Each offset once: the most urgent one crossed by this block is told, the longer
            # ones crossed with it (a night of catching up) are only marked as told.
            offsets = {d for _, w in watches.governance_audience() for d in w.remind_before}
            crossed = sorted(d for d in offsets if left <= timedelta(seconds=d) and d not in state.reminders_sent)
            if not crossed:
                continue
            due = crossed[0]
            state.reminders_sent = sorted({*state.reminders_sent, *crossed})
            changed[pid] = state
            details = {
                "height": str(block.height),
                "voting_end": end.isoformat(),
                "left": format_duration(int(left.total_seconds())),
                "before": format_duration(due),
            }
            for sub, watch in watches.governance.values():
                if due in watch.remind_before:
                    step.alerts.append((sub, self._make("proposal_ending", state, str(due), details)))
            for voter, entries in watches.voters.items():
                voted = state.votes.get(voter)
                if voted is None and facts is not None:
                    voted = facts.votes.get((pid, voter))
                    if voted is not None:
                        state.votes = {**state.votes, voter: voted}
                if voted is not None:
                    continue  # voted already: no reminder
                for sub, voter_watch in entries.values():
                    if due in voter_watch.remind_before:
                        step.alerts.append(
                            (sub, self._make("not_voted", state, f"{voter}:{due}", details, voter=voter))
                        )

    def _ended(self, p: _Pass) -> None:
        block, facts, audience, step, changed = p.block, p.facts, p.audience, p.step, p.changed
        for event in block.block_scope.events:
            if event.type not in ("active_proposal", "inactive_proposal"):
                continue
            attrs = {a.key: a.value for a in event.attributes}
            pid = _int(attrs.get("proposal_id", ""))
            if pid is None:
                continue
            if event.type == "inactive_proposal":
                if pid in self.proposals:
                    step.ended.append(pid)
                    self.proposals.pop(pid)
                continue
            info = facts.proposals.get(pid) if facts is not None else None
            state = self.proposals.get(pid) or (self.track(info) if info is not None else self._unknown(pid))
            if info is not None:
                state.title = clean_title(info.title, pid)
            result = _RESULTS.get(attrs.get("proposal_result", ""), attrs.get("proposal_result", "") or "ended")
            details = {"height": str(block.height), "result": result}
            tally = info.final_tally if info is not None else None
            if tally is not None:
                details.update(
                    yes=str(tally.yes),
                    no=str(tally.no),
                    abstain=str(tally.abstain),
                    no_with_veto=str(tally.no_with_veto),
                )
            for sub, audience_watch in audience:
                own = dict(details)
                voter = audience_watch.voter if isinstance(audience_watch, VoterWatch) else None
                if voter is not None:
                    own["voted"] = state.votes.get(voter, "did not vote")
                step.alerts.append((sub, self._make("proposal_result", state, "", own, voter=voter)))
            step.ended.append(pid)
            self.proposals.pop(pid, None)
            changed.pop(pid, None)

    # -- helpers ---------------------------------------------------------------------------------

    def _unknown(self, pid: int) -> ProposalState:
        """A proposal x/gov could not tell about (its query failed): followed by id alone."""
        state = self.proposals.get(pid)
        if state is None:
            state = ProposalState(chain_id=self.chain_id, proposal_id=pid, title=f"Proposal #{pid}", status="unknown")
            self.proposals[pid] = state
        return state

    def _make(
        self, kind: str, state: ProposalState, key: str, details: dict[str, str], *, voter: str | None = None
    ) -> Alert:
        return Alert(
            kind=kind,  # type: ignore[arg-type]
            key=f"{kind}:{state.proposal_id}:{key}",
            proposal_id=state.proposal_id,
            title=state.title,
            url=self.proposal_url(state.proposal_id),
            voter=voter,
            details=details,
        )


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 19 else None

"""The watched validators of one chain, block by block: missed blocks, jail, active set, edits.

Block H's `last_commit` holds the votes for height H - 1, in the order of that height's validator
set; an absent vote carries no address, so who missed is whoever of the set did not sign. The
set's membership changes rarely (power changes do not matter here), so the membership last seen
is kept and checked against each block: if every signer is a member and there are as many votes
as members, it is the set; if not, the set fetched for this block (`BlockFacts.members`) is; if
that could not be had either, the height is a monitoring gap and nobody's count moves.

Everything else comes from the block's events: `slash` (jailed, or tombstoned for a double sign),
a successful `MsgUnjail`, `edit_validator` (commission; the moniker from x/staking, fetched in
`BlockFacts.validators`). Alerts are crossings, never levels: "entered 5%", "back under 5%",
"5 in a row", "signing again", so a validator that keeps missing is told about once per threshold.
Catching up applies the very same blocks in the same order, so it tells the same alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter

import msgspec

from core.chain.blocks import DecodedBlock, Event
from core.chain.validators import consensus_address_hex
from core.models import Subscription
from core.monitor.facts import BlockFacts
from core.monitor.index import WatchIndex, address_bytes
from core.monitor.models import Alert, ChainMonitorState, ValidatorState, ValidatorWatch
from core.monitor.window import format_percent, level, missed, percent, trimmed, with_miss

Fired = tuple[Subscription, Alert]

_UNJAIL_ACTIONS = frozenset({"/cosmos.slashing.v1beta1.MsgUnjail", "unjail"})


_ADDRESS = attrgetter("address")
_NO_ADDRESS = frozenset({""})


def signers(block: DecodedBlock) -> frozenset[str]:
    """The addresses whose votes for height - 1 count as signed (COMMIT and NIL, as x/slashing):
    every vote but an absent one, and only an absent vote has no address (a C-level map: this
    runs for every block)."""
    return frozenset(map(_ADDRESS, block.signatures)) - _NO_ADDRESS


def membership_change_height(block: DecodedBlock, members: frozenset[str]) -> int | None:
    """The height whose set a block's `validator_updates` change the membership of (updates of
    block U apply to the set of U + 2), or None when they only change powers: a removal (power 0)
    or a key that is not a member joining."""
    for update in block.validator_updates:
        try:
            consensus_hex = consensus_address_hex(update.pub_key_type, update.pub_key)
        except ValueError:
            return block.height + 2  # a key we cannot read: assume the worst, ask for the set
        if update.power == 0 or consensus_hex not in members:
            return block.height + 2
    return None


def _attrs(event: Event) -> dict[str, str]:
    return {a.key: a.value for a in event.attributes}


class ValidatorStep(msgspec.Struct, kw_only=True):
    """What one block did: the alerts, the records to write, and a gap when it could not count."""

    alerts: list[Fired] = []
    changed: list[ValidatorState] = []
    members_changed: bool = False
    gap: str | None = None


@dataclass(slots=True)
class _Pass:
    """One block being applied: the block, what was asked for it, who watches, what it has told
    and changed so far (each step of `apply` reads and adds to it)."""

    block: DecodedBlock
    facts: BlockFacts | None
    watches: WatchIndex
    step: ValidatorStep
    changed: dict[str, ValidatorState]


class ValidatorTracker:
    """Applies blocks to the chain's `ValidatorState`s (held here, written by the caller)."""

    def __init__(self, chain_id: str, chain_state: ChainMonitorState, states: dict[str, ValidatorState]) -> None:
        self.chain_id = chain_id
        self.chain_state = chain_state
        self.states = states
        self._members = frozenset(chain_state.members)
        # Validators with misses in the window or a streak: only these and those missing in a
        # block are looked at per block (a validator that keeps signing costs nothing).
        self._open = {h for h, s in states.items() if s.runs or s.consecutive}
        # Heights whose set membership a block's validator_updates changed: there, a set that
        # still fits the signatures is not trusted (a leaver and a joiner both absent would).
        self.changes: set[int] = set()

    def state_of(self, consensus_hex: str, watch: ValidatorWatch | None = None) -> ValidatorState:
        state = self.states.get(consensus_hex)
        if state is None:
            state = ValidatorState(chain_id=self.chain_id, consensus_hex=consensus_hex)
            if watch is not None:
                state.operator, state.moniker = watch.operator, watch.moniker
            self.states[consensus_hex] = state
        return state

    def explains(self, members: Iterable[str], block: DecodedBlock) -> bool:
        """Whether `members` can be the set that signed `block`'s last commit."""
        member_set = members if isinstance(members, frozenset) else frozenset(members)
        return len(member_set) == len(block.signatures) and signers(block) <= member_set

    def known_members(self) -> frozenset[str]:
        return self._members

    def apply(self, block: DecodedBlock, facts: BlockFacts | None, watches: WatchIndex) -> ValidatorStep:
        step = ValidatorStep()
        p = _Pass(block, facts, watches, step, {})
        if facts is not None and facts.validators:
            self._seed(facts, watches, p.changed)
        if block.signatures and block.height > 1:
            self._count(p)
        changed_at = membership_change_height(block, self._members)
        if changed_at is not None:
            self.changes.add(changed_at)
        self._events(p)
        step.changed = list(p.changed.values())
        return step

    def _seed(self, facts: BlockFacts, watches: WatchIndex, changed: dict[str, ValidatorState]) -> None:
        """Fill in what x/staking says of a validator first seen (moniker, commission, jailed), so
        a later edit or unjail is told against it; nothing is told about the seeding itself."""
        for info in facts.validators.values():
            if info is None or info.consensus_hex not in watches.validators:
                continue
            state = self.state_of(info.consensus_hex)
            if state.commission_rate:
                continue
            state.operator = state.operator or info.operator_address
            state.moniker = info.moniker or state.moniker
            state.commission_rate = info.commission_rate
            state.jailed = state.jailed or info.jailed
            changed[info.consensus_hex] = state

    # -- signatures ------------------------------------------------------------------------------

    def _count(self, p: _Pass) -> None:
        block, facts, watches, step, changed = p.block, p.facts, p.watches, p.step, p.changed
        counted = block.height - 1
        members = self._members
        moved = counted in self.changes
        self.changes = {h for h in self.changes if h > counted}
        if moved or not self.explains(members, block):
            fetched = facts.members if facts is not None else None
            if moved and facts is not None and facts.members_height != counted:
                fetched = None  # a set of another height cannot tell who left and who joined
            if fetched is not None and self.explains(fetched, block):
                members = frozenset(fetched)
                self._set_members(p, fetched, counted)
            else:
                why = (facts.members_failed if facts is not None else None) or (
                    "its membership changed and the set was not fetched" if moved else "the validator set changed"
                )
                step.gap = f"validator set of height {counted} unknown ({why}): its signatures were not counted"
                return
        if not watches.validators:
            return
        signed = signers(block)
        window = self.chain_state.window
        watched = watches.validators
        todo = ((watched.keys() & members) - signed) | (self._open & watched.keys())
        for consensus_hex in todo:
            entries = watched[consensus_hex]
            first = next(iter(entries.values()))[1]
            state = self.state_of(consensus_hex, first)
            if counted <= state.last_height:
                continue  # already counted (a block staged again)
            if not state.counted_from:
                state.counted_from = counted
            in_set = consensus_hex in members
            before_runs, before_consecutive = state.runs, state.consecutive
            low = counted - window + 1 if window > 0 else counted
            runs = trimmed(state.runs, low)
            consecutive = state.consecutive
            if in_set:
                if consensus_hex in signed:
                    consecutive = 0
                else:
                    runs = with_miss(runs, counted)
                    consecutive += 1
            state.last_height = counted
            if runs or consecutive:
                self._open.add(consensus_hex)
            else:
                self._open.discard(consensus_hex)
            if runs is before_runs and consecutive == before_consecutive:
                continue
            state.runs, state.consecutive = runs, consecutive
            changed[consensus_hex] = state
            self._crossings(state, before_runs, before_consecutive, entries.values(), counted, step)

    def _crossings(
        self,
        state: ValidatorState,
        before_runs: list,
        before_consecutive: int,
        entries: Iterable[tuple[Subscription, ValidatorWatch]],
        counted: int,
        step: ValidatorStep,
    ) -> None:
        window = self.chain_state.window
        missed_before, missed_now = missed(before_runs), missed(state.runs)
        pct_before, pct_now = percent(missed_before, window), percent(missed_now, window)
        base = {
            "missed": str(missed_now),
            "window": str(window),
            "percent": f"{pct_now:.2f}",
            "consecutive": str(state.consecutive),
            "height": str(counted),
        }
        jail_at = self._jail_percent()
        if jail_at is not None:
            base["jail_percent"] = f"{jail_at:.2f}"
        for sub, watch in entries:
            if window > 0:
                was, now = level(pct_before, watch.window_thresholds), level(pct_now, watch.window_thresholds)
                if now > was:
                    threshold = watch.window_thresholds[now - 1]
                    step.alerts.append((sub, self._alert("missed_blocks", state, f"{threshold}", base, threshold)))
                elif now < was:
                    threshold = watch.window_thresholds[was - 1]
                    step.alerts.append(
                        (sub, self._alert("missed_blocks_recovered", state, f"{threshold}", base, threshold))
                    )
            for count in watch.consecutive:
                if before_consecutive < count <= state.consecutive:
                    details = {**base, "threshold": str(count)}
                    step.alerts.append((sub, self._make("consecutive_missed", state, f"{count}", details)))
            if watch.consecutive and state.consecutive == 0 and before_consecutive >= watch.consecutive[0]:
                details = {**base, "streak": str(before_consecutive)}
                step.alerts.append((sub, self._make("signing_again", state, "", details)))

    def _jail_percent(self) -> float | None:
        try:
            return (1 - float(self.chain_state.min_signed)) * 100 if self.chain_state.min_signed else None
        except ValueError:
            return None

    def _set_members(self, p: _Pass, members: tuple[str, ...], counted: int) -> None:
        watches, step, changed = p.watches, p.step, p.changed
        old = self._members
        new = frozenset(members)
        self._members = new
        self.chain_state.members = tuple(members)
        step.members_changed = True
        if not old:
            for consensus_hex, entries in watches.validators.items():
                state = self.state_of(consensus_hex, next(iter(entries.values()))[1])
                state.active = consensus_hex in new
                changed[consensus_hex] = state
            return  # the first set seen: nothing changed that anyone saw
        for consensus_hex, entries in watches.validators.items():
            was, now = consensus_hex in old, consensus_hex in new
            if was == now:
                continue
            state = self.state_of(consensus_hex, next(iter(entries.values()))[1])
            state.active = now
            changed[consensus_hex] = state
            if not now and state.jailed:
                continue  # the jail alert said it: leaving the set is what jailing does
            kind = "joined_active_set" if now else "left_active_set"
            details = {"height": str(counted), "set_size": str(len(new))}
            for sub, _ in entries.values():
                step.alerts.append((sub, self._make(kind, state, "", details)))

    # -- events ----------------------------------------------------------------------------------

    def _events(self, p: _Pass) -> None:
        block, watches, step, changed = p.block, p.watches, p.step, p.changed
        if not watches.validators:
            return
        height = str(block.height)
        for event in block.block_scope.events:
            if event.type != "slash":
                continue
            attrs = _attrs(event)
            consensus_hex = address_bytes(attrs.get("address", "") or attrs.get("jailed", ""))
            if consensus_hex is None or consensus_hex not in watches.validators:
                continue
            state = self.state_of(consensus_hex)
            reason = attrs.get("reason", "")
            details = {"height": height, "reason": reason, "missed": str(missed(state.runs))}
            if attrs.get("power"):
                details["power"] = attrs["power"]
            if reason == "double_sign":
                if state.tombstoned:
                    continue
                state.tombstoned = state.jailed = True
                kind = "tombstoned"
            else:
                if state.jailed or not attrs.get("jailed"):
                    continue
                state.jailed = True
                kind = "jailed"
            changed[consensus_hex] = state
            for sub, _ in watches.of_validator(consensus_hex):
                step.alerts.append((sub, self._make(kind, state, "", details)))
        for scope in block.txs:
            if scope.failed:
                continue
            actions = scope.events_map.get("message.action", ())
            if any(a in _UNJAIL_ACTIONS for a in actions):
                for sender in scope.events_map.get("message.sender", ()):
                    consensus_hex = watches.validator_by_operator(sender)
                    if consensus_hex is None:
                        continue
                    state = self.state_of(consensus_hex)
                    if not state.jailed or state.tombstoned:
                        continue
                    state.jailed = False
                    changed[consensus_hex] = state
                    for sub, _ in watches.of_validator(consensus_hex):
                        step.alerts.append((sub, self._make("unjailed", state, "", {"height": height})))
            for event in scope.events:
                if event.type == "edit_validator":
                    self._edited(p, scope.events_map, _attrs(event))

    def _edited(self, p: _Pass, events_map: dict[str, list[str]], attrs: dict[str, str]) -> None:
        facts, watches, height, step, changed = p.facts, p.watches, p.block.height, p.step, p.changed
        for sender in dict.fromkeys(events_map.get("message.sender", ())):
            consensus_hex = watches.validator_by_operator(sender)
            if consensus_hex is None:
                continue
            state = self.state_of(consensus_hex)
            fresh = facts.validators.get(state.operator) if facts is not None and state.operator else None
            # The event's own `commission_rate` is the whole Commission printed (YAML or proto
            # text, by SDK version): the rate is read from x/staking instead, or from the event
            # when it is a plain decimal.
            event_rate = attrs.get("commission_rate", "")
            rate = fresh.commission_rate if fresh is not None else (event_rate if _is_decimal(event_rate) else "")
            if rate and state.commission_rate and _rate_differs(rate, state.commission_rate):
                details = {"height": str(height), "old": state.commission_rate, "new": rate}
                for sub, _ in watches.of_validator(consensus_hex):
                    step.alerts.append((sub, self._make("commission_changed", state, rate, details)))
            if rate:
                state.commission_rate = rate
            if fresh is not None and fresh.moniker and fresh.moniker != state.moniker:
                if state.moniker:
                    details = {"height": str(height), "old": state.moniker, "new": fresh.moniker}
                    state.moniker = fresh.moniker
                    for sub, _ in watches.of_validator(consensus_hex):
                        step.alerts.append((sub, self._make("moniker_changed", state, fresh.moniker, details)))
                state.moniker = fresh.moniker
            changed[consensus_hex] = state

    # -- alerts ----------------------------------------------------------------------------------

    def _alert(self, kind: str, state: ValidatorState, key: str, base: dict[str, str], threshold: float) -> Alert:
        return self._make(kind, state, key, {**base, "threshold": format_percent(threshold).rstrip("%")})

    def _make(self, kind: str, state: ValidatorState, key: str, details: dict[str, str]) -> Alert:
        return Alert(
            kind=kind,  # type: ignore[arg-type]
            key=f"{kind}:{state.consensus_hex}:{key}",
            validator=state.operator or None,
            moniker=state.moniker or None,
            details=details,
        )


def _is_decimal(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _rate_differs(a: str, b: str) -> bool:
    try:
        return float(a) != float(b)
    except ValueError:
        return a != b

"""What a monitoring subscription watches, what it is told, and the state kept between blocks.

A *watch* (`Subscription.monitor`) is the stateful counterpart of a subscription's queries: a
query fires on one block's events, a watch fires on a change of state that only a run of blocks
shows (a validator that crossed 5% missed blocks in the slashing window, a proposal whose voting
ends in an hour and a watched address that has not voted). What fires is an `Alert`, carried by an
ordinary `Notification` (`Notification.alert`), so alerts travel the same outbox, history, retries
and channels as every other notification.

The state records are written in the block's own batch (with the chain cursor), so after a crash
the state and the cursor agree and the block is applied exactly once; each is rewritten only when
it changes, so a quiet validator costs no write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

#: missed-blocks-checker's default groups, as percentages of the slashing window: an alert when
#: a validator enters each group and when it drops below it.
DEFAULT_WINDOW_THRESHOLDS: tuple[float, ...] = (0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 75.0, 90.0)
#: tenderduty's default: alert after 5 missed blocks in a row.
DEFAULT_CONSECUTIVE: tuple[int, ...] = (5,)
#: tenderduty's default stall alarm: no new block for 10 minutes.
DEFAULT_STALL_MINUTES = 10
#: cosmos-proposals-checker's reminders: a day and an hour before voting ends.
DEFAULT_REMIND_BEFORE: tuple[int, ...] = (24 * 3600, 3600)


class ValidatorWatch(msgspec.Struct, frozen=True, kw_only=True, tag="validator"):
    """One validator, named as its operator, its consensus address and the hex address commit
    signatures use (resolved once through the chain when the subscription is made)."""

    operator: str
    consensus: str
    consensus_hex: str
    moniker: str = ""
    window_thresholds: tuple[float, ...] = DEFAULT_WINDOW_THRESHOLDS
    consecutive: tuple[int, ...] = DEFAULT_CONSECUTIVE
    stall_minutes: int = DEFAULT_STALL_MINUTES  # 0: no chain-stalled alerts


class VoterWatch(msgspec.Struct, frozen=True, kw_only=True, tag="voter"):
    """An account that votes: new proposals, "has not voted" reminders, its votes, the results."""

    voter: str
    remind_before: tuple[int, ...] = DEFAULT_REMIND_BEFORE  # seconds before voting ends


class GovernanceWatch(msgspec.Struct, frozen=True, kw_only=True, tag="governance"):
    """Every proposal of the chain: new, ending soon, result."""

    remind_before: tuple[int, ...] = DEFAULT_REMIND_BEFORE


Watch = ValidatorWatch | VoterWatch | GovernanceWatch

AlertKind = Literal[
    "missed_blocks",  # crossed a window threshold upwards
    "missed_blocks_recovered",  # dropped below a window threshold
    "consecutive_missed",  # N blocks missed in a row
    "signing_again",  # a streak of missed blocks ended
    "jailed",
    "unjailed",
    "tombstoned",
    "left_active_set",
    "joined_active_set",
    "commission_changed",
    "moniker_changed",
    "chain_stalled",
    "chain_resumed",
    "proposal_new",
    "proposal_voting",  # a proposal left its deposit period: voting is open
    "proposal_ending",  # a reminder before voting ends
    "not_voted",  # a reminder to a watched voter who has not voted
    "vote_cast",  # a watched voter voted
    "proposal_result",
]


class Alert(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A change of state worth telling, with what a program needs to act on it.

    `key` is unique among one block's alerts for one subscription and becomes part of the
    notification's derived id, so the same block applied again yields the same notification.
    `details` holds the figures as strings (missed, window, percent, threshold, old and new
    values, the tally), keyed by stable names documented in docs/MONITORING.md.
    """

    kind: AlertKind
    key: str
    validator: str | None = None  # the operator address
    moniker: str | None = None
    voter: str | None = None
    proposal_id: int | None = None
    title: str | None = None
    url: str | None = None
    details: dict[str, str] = {}


class MissedRun(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Heights `start..end` (inclusive) missed in a row: a validator that is down for a day is one
    run, not 14,000 heights."""

    start: int
    end: int


class ValidatorState(msgspec.Struct, kw_only=True, gc=False):
    """One watched validator of one chain, as the blocks so far have shown it."""

    chain_id: str
    consensus_hex: str
    operator: str = ""
    moniker: str = ""
    commission_rate: str = ""
    runs: list[MissedRun] = []  # missed heights inside the slashing window, oldest first
    consecutive: int = 0
    counted_from: int = 0  # the first height whose signatures were counted for it
    last_height: int = 0  # the last height counted (signed, missed or not in the set)
    active: bool = True  # in the validator set at `last_height`
    jailed: bool = False
    tombstoned: bool = False


class ChainMonitorState(msgspec.Struct, kw_only=True, gc=False):
    """Per chain: the validator set membership last seen, the slashing window, and the stall flag."""

    chain_id: str
    members: tuple[str, ...] = ()  # hex addresses of the set that signed the last counted height
    window: int = 0  # signed_blocks_window of x/slashing (0: not known yet)
    min_signed: str = ""  # min_signed_per_window, as the chain gives it
    stall_told: list[int] = []  # stall thresholds (minutes) told since the last block


class ProposalState(msgspec.Struct, kw_only=True, gc=False):
    """One proposal that is (or was) in its voting period, with the watched voters' votes."""

    chain_id: str
    proposal_id: int
    title: str = ""
    status: str = "voting"
    voting_end: datetime | None = None
    reminders_sent: list[int] = []  # `remind_before` offsets (seconds) already told
    votes: dict[str, str] = {}  # watched voter -> what they voted ("yes", "no", ...)
    ended: bool = False
    # False for a proposal found already open when watching began: if catching up then reaches
    # the block that submitted it, it is told as new there, as live watching would have told it.
    announced: bool = True


class MonitorGap(msgspec.Struct, kw_only=True):
    """A height whose validator data could not be had (a query failed, history pruned): its
    signatures were not counted, so the state stays consistent and the gap is visible."""

    chain_id: str
    height: int
    reason: str
    recorded_at: datetime

"""What a block's monitoring needs from the chain beyond the block itself, fetched before staging.

Staging a block is synchronous (it only reads the store and fills the block's batch), so every
query a block's alerts depend on is made first, while the block is fetched: the validator set
when the last one known does not explain the block's signatures, a proposal that was submitted,
started voting or ended in the block, a validator that edited itself, the vote of a watched
address whose reminder is due. Their answers are this block's `BlockFacts`.

A query that fails is retried a few times, then given up for this block and said once per
incident, naming the query (`ChainQueryFailed`): the block is still matched and delivered, and
what the answer would have told is marked unknown (a monitoring gap for the signatures), so the
state stays consistent.

`ChainQueries` is the seam to the chain: the RPC pool's `/validators` and the Cosmos REST API
(core/chain/rest.py) behind one object, so the monitor does not know about endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import msgspec


class ValidatorInfo(Protocol):
    """A validator as x/staking shows it (`core.chain.rest.StakingValidator` fits)."""

    @property
    def operator_address(self) -> str: ...
    @property
    def consensus_hex(self) -> str: ...
    @property
    def moniker(self) -> str: ...
    @property
    def commission_rate(self) -> str: ...
    @property
    def jailed(self) -> bool: ...
    @property
    def status(self) -> str: ...


class TallyInfo(Protocol):
    @property
    def yes(self) -> int: ...
    @property
    def no(self) -> int: ...
    @property
    def abstain(self) -> int: ...
    @property
    def no_with_veto(self) -> int: ...


class ProposalInfo(Protocol):
    """A proposal as x/gov shows it, v1 or v1beta1 (`core.chain.rest.Proposal` fits)."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def voting_end(self) -> datetime | None: ...
    @property
    def final_tally(self) -> TallyInfo | None: ...


class ChoiceInfo(Protocol):
    @property
    def option(self) -> str: ...
    @property
    def weight(self) -> str: ...


class VoteInfo(Protocol):
    @property
    def choices(self) -> tuple[ChoiceInfo, ...]: ...


class SlashingWindow(msgspec.Struct, frozen=True):
    signed_blocks_window: int
    min_signed_per_window: str


class ChainQueries(Protocol):
    """Everything monitoring asks a chain. Each method raises `ChainQueryFailed` naming the query."""

    async def members(self, height: int) -> tuple[str, ...]:
        """Hex addresses of the validator set of `height` (`/validators?height=`), in its order."""
        ...

    async def slashing_window(self) -> SlashingWindow: ...

    async def validator(self, operator: str, height: int | None = None) -> ValidatorInfo | None: ...

    async def validators(self) -> Sequence[ValidatorInfo]: ...

    async def proposal(self, proposal_id: int, height: int | None = None) -> ProposalInfo | None: ...

    async def proposals_in_voting(self) -> Sequence[ProposalInfo]: ...

    async def vote(self, proposal_id: int, voter: str, height: int | None = None) -> VoteInfo | None: ...


class BlockFacts(msgspec.Struct, kw_only=True):
    """The answers gathered for one block (see the module docstring); empty for most blocks."""

    height: int
    members: tuple[str, ...] | None = None  # the set of height - 1, when it had to be fetched
    members_height: int = 0  # the height `members` is the set of (another prepare's fetch may serve)
    members_failed: str | None = None  # why that set could not be had
    validators: dict[str, ValidatorInfo | None] = {}  # operator -> what x/staking says now
    proposals: dict[int, ProposalInfo | None] = {}
    votes: dict[tuple[int, str], str | None] = {}  # (proposal, voter) -> option voted, None: no vote


def vote_option(vote: VoteInfo) -> str:
    """ "yes", or for a split vote "yes 70%, no 30%"."""
    return describe_choices(vote.choices)


def describe_choices(choices: Sequence[ChoiceInfo]) -> str:
    """A vote's options as told and kept, whether read from x/gov or from a `proposal_vote` event."""
    if len(choices) == 1:
        return choices[0].option
    parts = []
    for choice in choices:
        try:
            share = float(choice.weight) * 100
        except ValueError:
            share = 0.0
        parts.append(f"{choice.option} {share:.0f}%")
    return ", ".join(parts) or "unknown"

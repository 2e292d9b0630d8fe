"""What the chain's Cosmos REST API says about validators and governance, normalised.

These are the shapes the monitor (core/monitor/) works with, independent of SDK version: gov v1
and v1beta1 proposals both become `Proposal`, `BOND_STATUS_BONDED` becomes "bonded", the zero
time `0001-01-01T00:00:00Z` becomes None. Amounts stay ints (chains use 18-decimal tokens, far
beyond float precision) and decimal rates stay strings as the chain gives them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from msgspec import Struct


class StakingValidator(Struct, frozen=True):
    operator_address: str  # cosmosvaloper1...
    consensus_pub_key_type: str  # "ed25519" | "secp256k1" | ...
    consensus_pub_key: str  # base64
    consensus_hex: str  # upper-case hex, derived from the key (the commit signatures' address)
    moniker: str
    jailed: bool
    status: str  # "bonded" | "unbonding" | "unbonded" (| "unspecified")
    tokens: int
    commission_rate: str  # e.g. "0.050000000000000000"


class SlashingParams(Struct, frozen=True):
    signed_blocks_window: int
    min_signed_per_window: str  # decimal string, e.g. "0.050000000000000000"


class SigningInfo(Struct, frozen=True):
    address: str  # <prefix>valcons1...
    tombstoned: bool
    jailed_until: datetime | None  # None for "never" (the 1970 / year-1 zero times)
    missed_blocks_counter: int


class Tally(Struct, frozen=True):
    yes: int
    no: int
    abstain: int
    no_with_veto: int

    @property
    def total(self) -> int:
        return self.yes + self.no + self.abstain + self.no_with_veto


class Proposal(Struct, frozen=True):
    id: int
    title: str
    status: str  # "deposit" | "voting" | "passed" | "rejected" | "failed" | other lower-case
    voting_start: datetime | None
    voting_end: datetime | None
    final_tally: Tally | None  # as the chain gives it (all zero while voting on SDK 0.47+); None if absent
    gov: Literal["v1", "v1beta1"]


class VoteChoice(Struct, frozen=True):
    option: str  # "yes" | "no" | "abstain" | "no_with_veto"
    weight: str  # decimal string, "1.000000000000000000" for a plain vote


class Vote(Struct, frozen=True):
    proposal_id: int
    voter: str
    choices: tuple[VoteChoice, ...]

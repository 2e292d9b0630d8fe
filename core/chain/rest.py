"""PLACEHOLDER until the formats branch lands."""

from __future__ import annotations

from datetime import datetime

from msgspec import Struct

from core.chain.errors import ChainQueryError


class StakingValidator(Struct, frozen=True):
    operator_address: str
    consensus_hex: str
    moniker: str
    commission_rate: str
    jailed: bool
    status: str


class SlashingParams(Struct, frozen=True):
    signed_blocks_window: int
    min_signed_per_window: str


class Tally(Struct, frozen=True):
    yes: int
    no: int
    abstain: int
    no_with_veto: int


class Proposal(Struct, frozen=True):
    id: int
    title: str
    status: str
    voting_end: datetime | None
    final_tally: Tally | None


class VoteChoice(Struct, frozen=True):
    option: str
    weight: str


class Vote(Struct, frozen=True):
    proposal_id: int
    voter: str
    choices: tuple[VoteChoice, ...]


class ChainRestClient:
    def __init__(self, urls: list[str]) -> None:
        self.urls = urls

    def _no(self, query: str) -> ChainQueryError:
        return ChainQueryError(query=query, reason="not implemented yet")

    async def validators(self) -> list[StakingValidator]:
        raise self._no("/cosmos/staking/v1beta1/validators")

    async def validator(self, valoper: str, height: int | None = None) -> StakingValidator | None:
        raise self._no("/cosmos/staking/v1beta1/validators/" + valoper)

    async def slashing_params(self) -> SlashingParams:
        raise self._no("/cosmos/slashing/v1beta1/params")

    async def proposal(self, pid: int, height: int | None = None) -> Proposal | None:
        raise self._no(f"/cosmos/gov/v1/proposals/{pid}")

    async def proposals_in_voting(self) -> list[Proposal]:
        raise self._no("/cosmos/gov/v1/proposals")

    async def vote(self, pid: int, voter: str, height: int | None = None) -> Vote | None:
        raise self._no(f"/cosmos/gov/v1/proposals/{pid}/votes/{voter}")

    async def aclose(self) -> None:
        return None

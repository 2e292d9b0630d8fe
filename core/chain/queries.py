"""One chain's answers for monitoring: `/validators` from its RPC pool, the rest from its REST API.

This is the `ChainQueries` seam of core/monitor/facts.py made of the two clients a chain has, so
the monitor and the validator directory never know about endpoints, fail-over or gov versions.
A chain configured without a REST endpoint still answers `members` (the RPC has it); every other
question fails with a `ChainQueryError` that says the endpoint is missing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.chain.errors import ChainQueryError
from core.chain.rest import ChainRestClient, Proposal, StakingValidator, Vote
from core.chain.validators import ValidatorSet
from core.monitor.facts import SlashingWindow


class NodeQueries:
    def __init__(
        self,
        chain_id: str,
        validator_set: Callable[[int], Awaitable[ValidatorSet]],
        rest: ChainRestClient | None,
    ) -> None:
        self.chain_id = chain_id
        self._validator_set = validator_set
        self.rest = rest

    def _rest(self, query: str) -> ChainRestClient:
        if self.rest is None:
            raise ChainQueryError(
                query=query, reason=f"no REST endpoint is configured for {self.chain_id} (chains[].rest)"
            )
        return self.rest

    async def members(self, height: int) -> tuple[str, ...]:
        found = await self._validator_set(height)
        return tuple(m.address for m in found.members)

    async def slashing_window(self) -> SlashingWindow:
        params = await self._rest("/cosmos/slashing/v1beta1/params").slashing_params()
        return SlashingWindow(params.signed_blocks_window, params.min_signed_per_window)

    async def validator(self, operator: str, height: int | None = None) -> StakingValidator | None:
        return await self._rest(f"/cosmos/staking/v1beta1/validators/{operator}").validator(operator, height)

    async def validators(self) -> list[StakingValidator]:
        return await self._rest("/cosmos/staking/v1beta1/validators").validators()

    async def proposal(self, proposal_id: int, height: int | None = None) -> Proposal | None:
        return await self._rest(f"/cosmos/gov/v1/proposals/{proposal_id}").proposal(proposal_id, height)

    async def proposals_in_voting(self) -> list[Proposal]:
        return await self._rest("/cosmos/gov/v1/proposals").proposals_in_voting()

    async def vote(self, proposal_id: int, voter: str, height: int | None = None) -> Vote | None:
        return await self._rest(f"/cosmos/gov/v1/proposals/{proposal_id}/votes/{voter}").vote(
            proposal_id, voter, height
        )

    async def aclose(self) -> None:
        if self.rest is not None:
            await self.rest.aclose()

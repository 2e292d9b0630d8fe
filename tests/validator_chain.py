"""A chain whose x/staking knows a few validators, for the /validator and /voter tests of both bots.

`ScriptedChain` (tests/monitorkit.py) answers what the monitor asks per block; this adds what the
subscription service asks when a validator watch is made: one validator by operator address and
the list (for consensus-address lookups). A REST path starting with one in `failing` fails as
the real client (core/chain/rest.py) fails on a node's 500: `ChainQueryError` naming the path.
"""

from __future__ import annotations

from core.chain.errors import ChainQueryError
from tests.monitorkit import ScriptedChain, StakingInfo, bech

VALIDATORS_PATH = "/cosmos/staking/v1beta1/validators"


#: What `core.monitor.facts.ValidatorInfo` reads, as x/staking gives it.
StakingValidator = StakingInfo


def validator(index: int, moniker: str, prefix: str = "cosmos") -> StakingValidator:
    return StakingValidator(
        operator_address=bech(prefix + "valoper", f"{0xA0 + index:040X}"),
        consensus_hex=f"{0xC0 + index:040X}",
        moniker=moniker,
    )


NODEFLUX = validator(1, "Nodeflux")
#: A moniker as hostile as chains allow: markup, a mention and invisible characters.
HOSTILE = validator(2, "<b>@everyone</b>\u200b\u202e**Evil**")


def consensus_of(v: StakingValidator, prefix: str = "cosmos") -> str:
    return bech(prefix + "valcons", v.consensus_hex)


class DirectoryChain(ScriptedChain):
    def __init__(self, validators: tuple[StakingValidator, ...] = (NODEFLUX, HOSTILE)) -> None:
        super().__init__()
        self.known = list(validators)

    def _rest(self, path: str) -> None:
        self.asked.append(path)
        if any(path.startswith(prefix) for prefix in self.failing):
            raise ChainQueryError(query=path, reason="HTTP 500")

    async def validator(self, operator: str, height: int | None = None) -> StakingValidator | None:
        self._rest(f"{VALIDATORS_PATH}/{operator}")
        return next((v for v in self.known if v.operator_address == operator), None)

    async def validators(self) -> list[StakingValidator]:  # type: ignore[override]
        self._rest(VALIDATORS_PATH)
        return list(self.known)

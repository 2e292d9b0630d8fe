"""Validators by the address people know: operator or consensus address in, the validator out.

People paste what their explorer shows: Mintscan's "Operator address" (`cosmosvaloper1…`) far
more often than the consensus address (`cosmosvalcons1…`) that slashing events and commit
signatures use. The directory asks the chain's x/staking for the validator (by operator address
directly, by consensus address through the list of validators and their consensus keys) and
gives back both forms, the hex address commit signatures name, and the moniker, so every
validator preset accepts either address and shows the name.

An address that is no validator of the chain is refused (a subscription on it could never fire);
when the chain cannot be asked (no REST endpoint configured, or it does not answer), the
refusal says so and names the query that failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from core.chain.validators import hex_to_valcons
from core.errors import UpstreamError, ValidationError
from core.models import Chain
from core.monitor.facts import ChainQueries, ValidatorInfo
from core.monitor.index import address_bytes
from core.monitor.models import ValidatorWatch
from core.query.addresses import validate_address
from core.query.presets import ParamSpec, get_preset, refuse_operator_address

#: How long the list of a chain's validators is trusted for consensus-address lookups.
LIST_TTL_S = 600.0


class ValidatorIdentity(msgspec.Struct, frozen=True, kw_only=True):
    operator: str
    consensus: str
    consensus_hex: str
    moniker: str
    jailed: bool = False
    status: str = ""


def identity_of(info: ValidatorInfo, prefix: str) -> ValidatorIdentity:
    return ValidatorIdentity(
        operator=info.operator_address,
        consensus=hex_to_valcons(info.consensus_hex, prefix),
        consensus_hex=info.consensus_hex,
        moniker=info.moniker,
        jailed=info.jailed,
        status=info.status,
    )


class ValidatorDirectory:
    """Resolves validator addresses through each chain's `ChainQueries` (None: not configured)."""

    def __init__(
        self, queries_for: Callable[[str], ChainQueries | None], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._queries_for = queries_for
        self._clock = clock
        self._lists: dict[str, tuple[float, list[ValidatorInfo]]] = {}

    def available(self, chain_id: str) -> bool:
        return self._queries_for(chain_id) is not None

    async def resolve(self, chain: Chain, address: str, *, field: str = "validator") -> ValidatorIdentity:
        """The validator `address` (operator or consensus, already checksum-checked) names on `chain`."""
        queries = self._queries_for(chain.id)
        if queries is None:
            raise ValidationError(
                f"{field}: {chain.name} has no REST endpoint configured (chains[].rest), so its validators "
                "cannot be looked up; ask the operator of this Mempools to add one"
            )
        hrp = address.rpartition("1")[0]
        try:
            if hrp == chain.bech32_prefix + "valoper":
                info = await queries.validator(address)
            else:
                info = await self._by_consensus(chain.id, queries, address_bytes(address) or "")
        except UpstreamError as exc:
            raise UpstreamError(f"{field}: cannot look the validator up on {chain.name}: {exc}") from None
        if info is None:
            raise ValidationError(
                f"{field}: {chain.name} has no validator {address} (check the address on an explorer; "
                "a new validator is known once its create-validator transaction is in a block)"
            )
        return identity_of(info, chain.bech32_prefix)

    async def _by_consensus(self, chain_id: str, queries: ChainQueries, consensus_hex: str) -> ValidatorInfo | None:
        for fresh in (False, True):
            cached = self._lists.get(chain_id)
            if fresh or cached is None or self._clock() - cached[0] > LIST_TTL_S:
                cached = (self._clock(), list(await queries.validators()))
                self._lists[chain_id] = cached
            found = next((v for v in cached[1] if v.consensus_hex == consensus_hex), None)
            if found is not None or fresh:
                return found
        return None

    async def normalise_params(
        self, preset: str, params: Mapping[str, Any], chain: Chain
    ) -> tuple[dict[str, str], ValidatorIdentity | None]:
        """`params` with a validator given in the other form than the preset needs turned into the
        needed one (a valoper for a valcons parameter and back), and the validator found, if any.

        Unknown addresses are refused. Without a way to ask the chain, the params are returned
        as they are: the preset's own checks then refuse an operator address where a consensus
        address is needed, with how to find it."""
        out = {str(k): str(v) for k, v in params.items()}
        found: ValidatorIdentity | None = None
        for spec in get_preset(preset).params:
            value = out.get(spec.name, "").strip()
            if spec.type not in ("valoper", "valcons", "validator") or not value:
                continue
            hrp = value.lower().rpartition("1")[0]
            if not hrp.startswith(chain.bech32_prefix) or not hrp.endswith(("valoper", "valcons")):
                continue  # the preset's check says what is wrong with it
            validate_address(value, field=spec.name)  # a bad checksum is the caller's, not the chain's
            if not self.available(chain.id):
                if spec.type == "valcons":
                    refuse_operator_address(spec.name, value)
                continue
            found = await self.resolve(chain, value.lower(), field=spec.name)
            out[spec.name] = _form(spec, found, value.lower())
        return out, found


def _form(spec: ParamSpec, found: ValidatorIdentity, given: str) -> str:
    if spec.type == "valcons":
        return found.consensus
    if spec.type == "valoper":
        return found.operator
    return given


def resolved_watch(watch: ValidatorWatch, found: ValidatorIdentity) -> ValidatorWatch:
    return msgspec.structs.replace(
        watch,
        operator=found.operator,
        consensus=found.consensus,
        consensus_hex=found.consensus_hex,
        moniker=found.moniker,
    )

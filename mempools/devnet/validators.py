"""The devnet's validators: stable identities, their mutable staking/slashing state, and sets.

Identities are a pure function of (seed, index): an ed25519-shaped 32-byte public key, its
consensus address (sha256(pub)[:20], as CometBFT derives it), and one 20-byte operator address
shown three ways (`<p>valoper`, `<p>` account, moniker). A `ValidatorSet` is the immutable
snapshot CometBFT would have at a height, ordered as CometBFT orders it (voting power
descending, then address ascending), so commit signatures can be laid out in the same order.
"""

from __future__ import annotations

import base64
import hashlib

from msgspec import Struct, field

from mempools.devnet.addresses import bech32_address, consensus_bytes, derive, validator_pub_key

#: Cosmos SDK's default power reduction: 1 unit of consensus power per 10^6 base tokens.
POWER_REDUCTION = 1_000_000
#: SDK's `DoubleSignJailEndTime` as the REST API renders it.
FOREVER = "9999-12-31T23:59:59.999999999Z"

_MONIKERS = (
    "Alpha Stake",
    "Bravo Nodes",
    "Charlie Validator",
    "Delta Labs",
    "Echo Staking",
    "Foxtrot Infra",
    "Golf Capital",
    "Hotel Node",
)


def moniker_for(index: int) -> str:
    base = _MONIKERS[index % len(_MONIKERS)]
    return base if index < len(_MONIKERS) else f"{base} {index // len(_MONIKERS) + 1}"


class DevnetValidator(Struct, kw_only=True):
    """One validator; the chain mutates `jailed`, `tombstoned`, `bonded`, `tokens`, ... as blocks happen."""

    index: int
    moniker: str
    operator: str  # <p>valoper1...
    account: str  # <p>1... (same 20 bytes as the operator)
    consensus: str  # <p>valcons1... (the 20 bytes of `hex`)
    hex: str  # consensus address, upper-case hex, as in commit signatures
    pub_key: str  # base64 of the 32-byte ed25519 key
    tokens: int
    commission_rate: str = "0.100000000000000000"
    min_self_delegation: str = "1"
    jailed: bool = False
    tombstoned: bool = False
    bonded: bool = True
    missing: bool = False
    """`set_missing`: its signature is ABSENT from the next block on."""
    jailed_until: str = "1970-01-01T00:00:00Z"
    start_height: int = 0
    missed: list[int] = field(default_factory=list)
    """Heights (of the signed block) this validator missed, oldest first; pruned to the window."""

    @property
    def power(self) -> int:
        return self.tokens // POWER_REDUCTION

    @property
    def status(self) -> str:
        return "BOND_STATUS_BONDED" if self.bonded else "BOND_STATUS_UNBONDING"


def make_validator(seed: int, prefix: str, index: int, count: int) -> DevnetValidator:
    pub = validator_pub_key(seed, index)
    cons = consensus_bytes(pub)
    op = derive(seed, "val", index)
    return DevnetValidator(
        index=index,
        moniker=moniker_for(index),
        operator=bech32_address(f"{prefix}valoper", op),
        account=bech32_address(prefix, op),
        consensus=bech32_address(f"{prefix}valcons", cons),
        hex=cons.hex().upper(),
        pub_key=base64.b64encode(pub).decode(),
        tokens=(100 * (count - index) + 50) * POWER_REDUCTION,
    )


class SetMember(Struct, frozen=True, gc=False):
    hex: str
    pub_key: str
    power: int


class ValidatorSet(Struct, frozen=True):
    """The active set at some heights, in CometBFT order, with its hash (header `validators_hash`)."""

    members: tuple[SetMember, ...]
    hash: str

    @staticmethod
    def of(validators: list[DevnetValidator]) -> ValidatorSet:
        active = [v for v in validators if v.bonded and not v.jailed and v.power > 0]
        active.sort(key=lambda v: (-v.power, v.hex))
        members = tuple(SetMember(v.hex, v.pub_key, v.power) for v in active)
        digest = hashlib.sha256("|".join(f"{m.hex}:{m.power}" for m in members).encode()).hexdigest()
        return ValidatorSet(members, digest.upper())

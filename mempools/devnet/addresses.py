"""Deterministic, valid bech32 addresses for the devnet's accounts, validators and contracts."""

from __future__ import annotations

import hashlib

import bech32


def bech32_address(hrp: str, payload: bytes) -> str:
    """Encode raw address bytes with a human-readable prefix (`cosmos`, `cosmosvaloper`, ...)."""
    data = bech32.convertbits(payload, 8, 5)
    if data is None:  # pragma: no cover - convertbits only fails on out-of-range input
        raise ValueError("cannot convert address bytes")
    return bech32.bech32_encode(hrp, data)


def derive(seed: int, label: str, index: int, size: int = 20) -> bytes:
    """Stable pseudo-random address bytes: same seed, label and index give the same address."""
    return hashlib.sha256(f"{seed}:{label}:{index}".encode()).digest()[:size]


def validator_pub_key(seed: int, index: int) -> bytes:
    """Validator `index`'s 32-byte ed25519-shaped consensus public key."""
    return hashlib.sha256(f"{seed}:valkey:{index}".encode()).digest()


def consensus_bytes(pub_key: bytes) -> bytes:
    """CometBFT's ed25519 address: the first 20 bytes of sha256(pub_key)."""
    return hashlib.sha256(pub_key).digest()[:20]


def is_valid(address: str, hrp: str) -> bool:
    """True if `address` is bech32 with exactly this prefix (used to validate injected transfers)."""
    got_hrp, data = bech32.bech32_decode(address)
    return got_hrp == hrp and data is not None


class AddressBook:
    """The fixed cast of a devnet: accounts, validators (operator + consensus addresses, the same
    as `mempools.devnet.validators.make_validator` gives), contracts."""

    def __init__(self, prefix: str, seed: int, accounts: int = 20, validators: int = 4, contracts: int = 3):
        self.prefix = prefix
        self.accounts = [bech32_address(prefix, derive(seed, "acct", i)) for i in range(accounts)]
        self.validators = [bech32_address(f"{prefix}valoper", derive(seed, "val", i)) for i in range(validators)]
        self.consensus = [
            bech32_address(f"{prefix}valcons", consensus_bytes(validator_pub_key(seed, i))) for i in range(validators)
        ]
        self.contracts = [bech32_address(prefix, derive(seed, "wasm", i, 32)) for i in range(contracts)]
        self.fee_collector = bech32_address(prefix, derive(0, "module", 0))
        self.distribution = bech32_address(prefix, derive(0, "module", 1))
        self.bonded_pool = bech32_address(prefix, derive(0, "module", 2))
        self.gov_module = bech32_address(prefix, derive(0, "module", 3))

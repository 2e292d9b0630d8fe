"""Bech32 address checks for preset parameters.

A typo in an address would make a subscription that silently never fires, so addresses are
verified (charset, checksum, 5-to-8-bit padding, payload size) and, when the chain is known, the
human-readable prefix (`osmo`, `osmovaloper`, `osmovalcons`). Addresses are returned lower-case,
the form in which chains emit them in events.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import bech32

from core.errors import ValidationError
from core.models import Chain

#: The Cosmos SDK accepts address payloads of 1 to 255 bytes (20 for keys, 32 for contracts).
_MAX_PAYLOAD = 255

#: Things people paste instead of a Cosmos address, each with the hint that says what it is.
_ETHEREUM = re.compile(r"0x[0-9a-f]{40}")
_TX_HASH = re.compile(r"(0x)?[0-9a-f]{64}")
ETHEREUM_HINT = (
    "that looks like an Ethereum address; Mempools watches Cosmos chains: use a bech32 address such as cosmos1…"
)
TX_HASH_HINT = "that looks like a transaction hash, not an address; an address looks like cosmos1…"


def mistake_hint(text: str) -> str | None:
    """What `text` is when it is a common mistake (an Ethereum address, a tx hash), else None.

    Said instead of "bad checksum" because a checksum error tells the person nothing about why
    their (perfectly valid) Ethereum address or transaction hash is refused.
    """
    text = text.strip().lower()
    if _ETHEREUM.fullmatch(text):
        return ETHEREUM_HINT
    if _TX_HASH.fullmatch(text):
        return TX_HASH_HINT
    return None


def validate_address(value: object, *, prefix: str | None = None, field: str = "address") -> str:
    """Return the normalised address or raise `ValidationError` naming `field`."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field}: a bech32 address is required")
    text = value.strip()
    hint = mistake_hint(text)  # first: an Ethereum address is mixed case (EIP-55)
    if hint is not None:
        raise ValidationError(f"{field}: {hint}")
    if text != text.lower() and text != text.upper():
        raise ValidationError(f"{field}: {text!r} mixes upper and lower case")
    text = text.lower()
    hrp, data = bech32.bech32_decode(text)
    if hrp is None or data is None:
        raise ValidationError(f"{field}: {text!r} is not a valid bech32 address (bad characters or checksum)")
    payload = bech32.convertbits(data, 5, 8, False)
    if payload is None or not 1 <= len(payload) <= _MAX_PAYLOAD:
        raise ValidationError(f"{field}: {text!r} is not a valid bech32 address (bad payload)")
    if prefix is not None and hrp != prefix:
        if hrp == prefix + "valoper":
            raise ValidationError(
                f"{field}: that is a validator operator address ({hrp}1…); use an account address ({prefix}1…)"
            )
        raise ValidationError(f"{field}: expected an address starting with {prefix}1, got {text!r}")
    return text


def module_address(module: str, prefix: str) -> str:
    """The account address of an SDK module, e.g. `fee_collector`: sha256(name)[:20] in bech32.

    This is `authtypes.NewModuleAddress` of the Cosmos SDK, so it holds on every chain once the
    prefix is known (`cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta` for the Hub's fee collector).
    """
    data = bech32.convertbits(hashlib.sha256(module.encode()).digest()[:20], 8, 5)
    assert data is not None
    return str(bech32.bech32_encode(prefix, data))


#: Prefixes of chains people often paste addresses of, to name the chain when it is not configured.
WELL_KNOWN_PREFIXES = {
    "cosmos": "Cosmos Hub",
    "osmo": "Osmosis",
    "juno": "Juno",
    "stars": "Stargaze",
    "akash": "Akash",
    "celestia": "Celestia",
    "neutron": "Neutron",
    "inj": "Injective",
    "sei": "Sei",
    "dydx": "dYdX",
    "axelar": "Axelar",
    "kava": "Kava",
    "stride": "Stride",
    "terra": "Terra",
    "secret": "Secret Network",
    "noble": "Noble",
}


def unwatched_prefix(base: str, hrp: str, chains: Sequence[Chain]) -> str:
    """Why an address whose prefix no configured chain uses cannot be watched or labelled, in the
    user's words: which chain it belongs to when that is a well-known one, and what is watched
    here, with the prefixes to look for. `base` is `hrp` without a valoper/valcons suffix."""
    watched = ", ".join(dict.fromkeys(f"{c.name} ({c.bech32_prefix}1…)" for c in chains)) or "no chains"
    name = WELL_KNOWN_PREFIXES.get(base)
    if name is not None:
        article = "an" if name[:1].lower() in "aeiou" else "a"
        return f"{hrp}1… is {article} {name} address; this service watches {watched}"
    return f"no chain watched here uses the prefix {hrp}1…; this service watches {watched}"

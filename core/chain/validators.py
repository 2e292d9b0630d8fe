"""CometBFT validator sets (`/validators`) and the consensus keys and addresses that name them.

A block's commit lists signatures in the order of the validator set of the committed height, and
an ABSENT signature carries no address at all, so the set (in the node's order) is the only way
to say who missed a block. The set is fetched by height and paged (`per_page` at most 100 on
CometBFT); `RpcClient.validators` joins the pages.

The same validator has three names: its operator address (`cosmosvaloper1...`, staking), its
consensus public key, and the consensus address derived from the key, written upper-case hex by
CometBFT (`/validators`, commit signatures) and bech32 `<prefix>valcons1...` by the SDK
(slashing signing infos). The helpers here convert between them:

- ed25519: address = sha256(pubkey)[:20]
- secp256k1: address = ripemd160(sha256(compressed pubkey))  (CometBFT crypto/secp256k1)

Key types are normalised to lower-case short names ("ed25519", "secp256k1") from every spelling
the chains use: amino JSON (`tendermint/PubKeyEd25519`), protobuf `Sum` oneofs
(`tendermint.crypto.PublicKey_Ed25519`), SDK Any type URLs (`/cosmos.crypto.ed25519.PubKey`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import bech32
import msgspec
from msgspec import Struct

from core.chain.errors import BlockDecodeError
from core.chain.jsonrpc import JsonRpcErrorBody, classify_error


class SetMember(Struct, frozen=True, gc=False):
    address: str  # hex upper
    pub_key_type: str  # normalised, see module doc
    pub_key: str  # base64
    power: int


class ValidatorSet(Struct, frozen=True):
    """The set at `height`, in the node's order (= the order of that height's commit signatures)."""

    height: int
    members: tuple[SetMember, ...]

    def index_of(self, address_hex: str) -> int | None:
        """Position of a consensus address (hex, any case) in the set, or None."""
        wanted = address_hex.upper()
        for i, member in enumerate(self.members):
            if member.address == wanted:
                return i
        return None

    @property
    def total_power(self) -> int:
        return sum(m.power for m in self.members)


# --- key types ------------------------------------------------------------------------------

_KNOWN_KEY_TYPES = ("ed25519", "secp256k1", "secp256r1", "sr25519", "bls12_381", "bn254")


def normalise_key_type(raw: str) -> str:
    """`tendermint/PubKeyEd25519`, `/cosmos.crypto.ed25519.PubKey`, `PublicKey_Ed25519` -> `ed25519`."""
    text = raw.lower().replace("-", "_")
    for known in _KNOWN_KEY_TYPES:
        if known in text or known.replace("_", "") in text:
            return known
    return text.rsplit("/", 1)[-1].rsplit(".", 1)[-1] or "unknown"


def pub_key_of(raw: Any) -> tuple[str, str]:
    """(type, base64 key) of a public key in any JSON form chains emit, or raise ValueError.

    Forms: `{"type": "tendermint/PubKeyEd25519", "value": "<b64>"}` (amino JSON, `/validators`),
    `{"Sum": {"type": "tendermint.crypto.PublicKey_Ed25519", "value": {"ed25519": "<b64>"}}}`
    (v0.34..v0.38 `validator_updates`), `{"ed25519": "<b64>"}` (protobuf JSON),
    `{"@type": "/cosmos.crypto.ed25519.PubKey", "key": "<b64>"}` (SDK REST).
    """
    if not isinstance(raw, dict):
        raise ValueError(f"not a public key object: {type(raw).__name__}")
    if "Sum" in raw:
        return pub_key_of(raw["Sum"])
    if "@type" in raw and isinstance(raw.get("key"), str):
        return normalise_key_type(str(raw["@type"])), raw["key"]
    if "type" in raw and "value" in raw:
        value = raw["value"]
        if isinstance(value, dict):  # the Sum oneof: {"ed25519": "<b64>"}
            return pub_key_of(value)
        if isinstance(value, str):
            return normalise_key_type(str(raw["type"])), value
    if len(raw) == 1:
        ((name, value),) = raw.items()
        if isinstance(value, str) and normalise_key_type(str(name)) in _KNOWN_KEY_TYPES:
            return normalise_key_type(str(name)), value
    raise ValueError(f"unrecognised public key shape with keys {sorted(raw)}")


# --- consensus addresses --------------------------------------------------------------------


def consensus_address_hex(pub_key_type: str, pub_key_b64: str) -> str:
    """The upper-case hex consensus address CometBFT derives from a validator's public key."""
    try:
        key = base64.b64decode(pub_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"public key is not base64: {pub_key_b64[:60]!r}") from None
    kind = normalise_key_type(pub_key_type)
    if kind == "secp256k1":
        if len(key) != 33:
            raise ValueError(f"a secp256k1 consensus key has 33 bytes, this one {len(key)}")
        return hashlib.new("ripemd160", hashlib.sha256(key).digest()).hexdigest().upper()
    if kind == "ed25519" and len(key) != 32:
        raise ValueError(f"an ed25519 consensus key has 32 bytes, this one {len(key)}")
    # ed25519, and the CometBFT default (tmhash truncated) for the other key types
    return hashlib.sha256(key).digest()[:20].hex().upper()


def hex_to_valcons(address_hex: str, prefix: str) -> str:
    """`AC2D...` + `cosmos` -> `cosmosvalcons1...` (`prefix` is the chain's account prefix)."""
    try:
        raw = bytes.fromhex(address_hex)
    except ValueError:
        raise ValueError(f"{address_hex!r} is not a hex consensus address") from None
    if len(raw) != 20:
        raise ValueError(f"a consensus address has 20 bytes, {address_hex!r} has {len(raw)}")
    data = bech32.convertbits(raw, 8, 5)
    assert data is not None
    return str(bech32.bech32_encode(f"{prefix}valcons", data))


def valcons_to_hex(valcons: str) -> str:
    """`cosmosvalcons1...` -> upper-case hex; raises ValueError on a bad or non-valcons address."""
    text = valcons.strip().lower()
    hrp, data = bech32.bech32_decode(text)
    if hrp is None or data is None:
        raise ValueError(f"{valcons!r} is not a valid bech32 address")
    if not hrp.endswith("valcons"):
        raise ValueError(f"{valcons!r} is not a consensus address (<prefix>valcons1...)")
    raw = bech32.convertbits(data, 5, 8, False)
    if raw is None or len(raw) != 20:
        raise ValueError(f"{valcons!r} does not hold a 20-byte consensus address")
    return bytes(raw).hex().upper()


# --- /validators ----------------------------------------------------------------------------


class _RawPubKey(Struct):
    type: str = ""
    value: str = ""


class _RawMember(Struct):
    address: str
    pub_key: _RawPubKey
    voting_power: int


class _RawValidators(Struct):
    block_height: int
    validators: list[_RawMember]
    total: int | None = None
    count: int | None = None


class _ValidatorsDoc(Struct):
    result: _RawValidators | None = None
    error: JsonRpcErrorBody | None = None
    block_height: int | None = None
    validators: list[_RawMember] | None = None
    total: int | None = None


def decode_validators_page(raw: bytes | str) -> tuple[int, list[SetMember], int]:
    """One `/validators` page (envelope or bare result) -> (block_height, members, total)."""
    try:
        doc = msgspec.json.decode(raw, type=_ValidatorsDoc, strict=False)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BlockDecodeError(f"malformed /validators response: {exc}") from None
    if doc.error is not None:
        raise classify_error(doc.error)
    if doc.result is not None:
        height, members, total = doc.result.block_height, doc.result.validators, doc.result.total
    elif doc.block_height is not None and doc.validators is not None:
        height, members, total = doc.block_height, doc.validators, doc.total
    else:
        raise BlockDecodeError("not a /validators response (no block_height/validators)")
    out = [
        SetMember(
            address=m.address.upper(),
            pub_key_type=normalise_key_type(m.pub_key.type),
            pub_key=m.pub_key.value,
            power=m.voting_power,
        )
        for m in members
    ]
    return height, out, len(out) if total is None else total

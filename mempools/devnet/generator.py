"""Deterministic content for generated devnet blocks, in the v0.38 / Cosmos SDK 0.50 shape.

Every height's txs are a pure function of (seed, height), plus whatever was injected for that
height, so two devnets with the same seed serve byte-identical blocks (apart from times when no
genesis time is fixed). Events follow what the SDK emits: fee events then message events per tx
(bank transfer, CosmWasm execute, staking delegate, failed txs that still pay fees; gov,
unjail and edit-validator txs carry the events their module decided), and
`finalize_block_events` with the SDK's `mode` attribute (mint, distribution, then the
slashing and gov modules' events passed in by the chain).
"""

from __future__ import annotations

import random
from typing import Any, Literal

import msgspec
from msgspec import Struct

from mempools.devnet.addresses import AddressBook

TxKind = Literal[
    "transfer", "failed_transfer", "wasm", "delegate", "gov_submit", "gov_vote", "unjail", "edit_validator"
]
#: Randomly generated kinds. Governance and slashing are not random: they come from the chain's
#: consistent modules (mempools/devnet/gov.py, staking.py) through `TxSpec.events`.
_KINDS: tuple[TxKind, ...] = ("transfer", "failed_transfer", "wasm", "delegate")
_WEIGHTS = (55, 8, 15, 10)

JsonDict = dict[str, Any]


class TxSpec(Struct, frozen=True):
    """What one tx does; rendering it into events is `render_tx`'s job."""

    kind: TxKind
    sender: str
    recipient: str = ""
    amount: int = 0
    denom: str = ""
    contract: str = ""
    proposal_id: int = 0
    option: str = ""
    memo: str = ""
    nonce: int = 0  # makes otherwise identical txs hash differently
    events: list[JsonDict] | None = None
    """Message events decided by a chain module (gov, slashing, staking); rendered as given."""


def attr(key: str, value: str) -> JsonDict:
    return {"key": key, "value": value, "index": True}


def event(type_: str, *pairs: tuple[str, str]) -> JsonDict:
    return {"type": type_, "attributes": [attr(k, v) for k, v in pairs]}


def random_specs(rng: random.Random, book: AddressBook, denom: str, count: int, height: int) -> list[TxSpec]:
    """The generated txs of one height (before injections)."""
    specs: list[TxSpec] = []
    for i in range(count):
        kind = rng.choices(_KINDS, _WEIGHTS)[0]
        sender, recipient = rng.sample(book.accounts, 2)
        amount = rng.randrange(1, 5_000) * 1000
        if kind == "transfer":
            specs.append(TxSpec(kind, sender, recipient, amount, denom, nonce=i))
        elif kind == "failed_transfer":
            specs.append(TxSpec(kind, sender, recipient, amount * 1_000_000, denom, nonce=i))
        elif kind == "wasm":
            specs.append(TxSpec(kind, sender, recipient, amount, "", contract=rng.choice(book.contracts), nonce=i))
        else:
            specs.append(TxSpec(kind, sender, rng.choice(book.validators), amount, denom, nonce=i))
    return specs


def tx_bytes(chain_id: str, height: int, index: int, spec: TxSpec) -> bytes:
    """The raw tx: stable bytes, so its hash (SHA-256) is stable too."""
    return b"devnet-tx:" + msgspec.json.encode([chain_id, height, index, spec])


def _fee_events(spec: TxSpec, book: AddressBook, fee: str, sequence: int) -> list[JsonDict]:
    return [
        event("coin_spent", ("spender", spec.sender), ("amount", fee)),
        event("coin_received", ("receiver", book.fee_collector), ("amount", fee)),
        event("transfer", ("recipient", book.fee_collector), ("sender", spec.sender), ("amount", fee)),
        event("message", ("sender", spec.sender)),
        event("tx", ("fee", fee), ("fee_payer", spec.sender)),
        event("tx", ("acc_seq", f"{spec.sender}/{sequence}")),
        event("tx", ("signature", "ZGV2bmV0LXNpZ25hdHVyZQ==")),
    ]


def _message_events(spec: TxSpec, book: AddressBook) -> list[JsonDict]:
    m = ("msg_index", "0")
    coins = f"{spec.amount}{spec.denom}"
    if spec.kind == "transfer":
        return [
            event(
                "message", ("action", "/cosmos.bank.v1beta1.MsgSend"), ("sender", spec.sender), ("module", "bank"), m
            ),
            event("coin_spent", ("spender", spec.sender), ("amount", coins), m),
            event("coin_received", ("receiver", spec.recipient), ("amount", coins), m),
            event("transfer", ("recipient", spec.recipient), ("sender", spec.sender), ("amount", coins), m),
            event("message", ("sender", spec.sender), m),
        ]
    if spec.kind == "wasm":
        c = ("_contract_address", spec.contract)
        return [
            event(
                "message",
                ("action", "/cosmwasm.wasm.v1.MsgExecuteContract"),
                ("sender", spec.sender),
                ("module", "wasm"),
                m,
            ),
            event("execute", c, m),
            event(
                "wasm",
                c,
                ("action", "transfer"),
                ("from", spec.sender),
                ("to", spec.recipient),
                ("amount", str(spec.amount)),
                m,
            ),
            event("wasm-transfer", c, ("from", spec.sender), ("to", spec.recipient), ("amount", str(spec.amount)), m),
        ]
    if spec.kind == "delegate":
        return [
            event(
                "message",
                ("action", "/cosmos.staking.v1beta1.MsgDelegate"),
                ("sender", spec.sender),
                ("module", "staking"),
                m,
            ),
            event("coin_spent", ("spender", spec.sender), ("amount", coins), m),
            event("coin_received", ("receiver", book.bonded_pool), ("amount", coins), m),
            event(
                "delegate",
                ("validator", spec.recipient),
                ("delegator", spec.sender),
                ("amount", coins),
                ("new_shares", f"{spec.amount}.000000000000000000"),
                m,
            ),
        ]
    return []  # failed_transfer: no message events, the fee is still paid


def render_tx(rng: random.Random, spec: TxSpec, book: AddressBook, fee_denom: str, height: int) -> JsonDict:
    """One `txs_results` entry (v0.38 JSON shape)."""
    fee = f"{rng.randrange(2, 50) * 100}{fee_denom}"
    gas_wanted = rng.randrange(100, 400) * 1000
    events = _fee_events(spec, book, fee, sequence=height)
    code, codespace, log = 0, "", ""
    if spec.kind == "failed_transfer":
        code, codespace = 5, "sdk"
        log = (
            f"failed to execute message; message index: 0: spendable balance is smaller than "
            f"{spec.amount}{spec.denom}: insufficient funds"
        )
        gas_used = gas_wanted // 2
    else:
        events += spec.events if spec.events is not None else _message_events(spec, book)
        gas_used = gas_wanted - rng.randrange(1, 50_000)
    return {
        "code": code,
        "data": "",
        "log": log,
        "info": "",
        "gas_wanted": str(gas_wanted),
        "gas_used": str(gas_used),
        "events": events,
        "codespace": codespace,
    }


def _mode(evs: list[JsonDict], mode: str) -> list[JsonDict]:
    for ev in evs:
        ev["attributes"].append(attr("mode", mode))
    return evs


def block_events(
    rng: random.Random,
    book: AddressBook,
    denom: str,
    proposer: str,
    rewarded: list[str],
    begin_extra: list[JsonDict],
    end_extra: list[JsonDict],
) -> list[JsonDict]:
    """`finalize_block_events`: BeginBlock (mint, distribution, then the slashing module's events)
    then EndBlock (the gov module's). `rewarded`: the validators given distribution events."""
    minted = rng.randrange(1_000_000, 9_000_000)
    coins = f"{minted}{denom}"
    begin = [
        event("coin_received", ("receiver", book.fee_collector), ("amount", coins)),
        event("coinbase", ("minter", book.fee_collector), ("amount", coins)),
        event(
            "mint",
            ("bonded_ratio", "0.650000000000000000"),
            ("inflation", "0.100000000000000000"),
            ("annual_provisions", "1000000000000.000000000000000000"),
            ("amount", str(minted)),
        ),
        event("coin_spent", ("spender", book.fee_collector), ("amount", coins)),
        event("coin_received", ("receiver", book.distribution), ("amount", coins)),
        event("transfer", ("recipient", book.distribution), ("sender", book.fee_collector), ("amount", coins)),
        event("proposer_reward", ("amount", f"{minted // 100}.000000000000000000{denom}"), ("validator", proposer)),
    ]
    for val in rewarded:
        share = minted // (max(1, len(rewarded)) * 10)
        begin.append(event("commission", ("amount", f"{share}.000000000000000000{denom}"), ("validator", val)))
        begin.append(event("rewards", ("amount", f"{share * 9}.000000000000000000{denom}"), ("validator", val)))
    begin += [{"type": e["type"], "attributes": list(e["attributes"])} for e in begin_extra]
    end = [{"type": e["type"], "attributes": list(e["attributes"])} for e in end_extra]
    return _mode(begin, "BeginBlock") + _mode(end, "EndBlock")

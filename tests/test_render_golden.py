"""Golden files: the exact text people read, per notification kind and per channel (#15.10).

Each kind (funds in, funds out, failed tx, contract event, governance proposal, validator jailed,
and the one message a chat gets for several matches of one block) is rendered from fixed
notifications, through the real channel formatters (the plain summary
webhooks carry, Telegram HTML, the Discord embed JSON), and compared with tests/golden/<kind>.txt.
So a change of wording is a visible diff in review, not a surprise in someone's chat.

Events come from the recorded CometBFT fixtures where a recorded block has the kind (an Osmosis
swap and contract call, Sei's failed txs); the rest are built in the SDK's event shapes.

After an intended wording change, rewrite the files and review the diff:

    MEMPOOLS_UPDATE_GOLDEN=1 .venv/bin/pytest -q tests/test_render_golden.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from core.chain.blocks import Attribute, Event, Scope, TxMessage
from core.chain.decoder import BlockDecoder
from core.dispatch.bundle import render_bundle
from core.dispatch.discord import discord_embed
from core.dispatch.render import summarize
from core.dispatch.telegram import format_telegram
from core.models import Chain, Denom, Notification
from core.query.addresses import module_address
from tests.fakes.cosmos_tx import msg_send, tx_b64
from tests.fakes.records import ALICE, BOB, COSMOS, transfer_events

GOLDEN = Path(__file__).parent / "golden"
FIX = Path(__file__).parent / "fixtures" / "cometbft" / "tendermint-rs"
UPDATE = os.environ.get("MEMPOOLS_UPDATE_GOLDEN") == "1"
T = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

OSMOSIS = Chain(
    id="osmosis-1",
    name="Osmosis",
    bech32_prefix="osmo",
    explorer_tx_url="https://explorer.example/osmosis/tx/{hash}",
    denoms=(Denom(base="uosmo", display="OSMO", exponent=6),),
)
SEI = Chain(id="pacific-1", name="Sei", bech32_prefix="sei", denoms=(Denom(base="usei", display="SEI", exponent=6),))
WLFZ = "cosmos1wlfzcw5j8unqy0x0ra5y7zps7rwrwkqcsmd4cx"
SWAPPER = "osmo1ddl9hnacgqfls5xgm7jy30uvc3lll4jdrdk35n"
VALCONS = "cosmosvalcons1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lkhtdn"


def ev(type_: str, **attrs: str) -> Event:
    return Event(type=type_, attributes=tuple(Attribute(k, v) for k, v in attrs.items()))


def scope(path: str, index: int) -> Scope:
    return BlockDecoder().decode((FIX / path).read_bytes()).txs[index]


def notification(
    name: str,
    chain: Chain,
    events: tuple[Event, ...],
    *,
    focus: str | None = None,
    code: int | None = 0,
    codespace: str | None = None,
    log: str | None = None,
    messages: tuple[TxMessage, ...] = (),
    tx: bool = True,
    labels: dict[str, str] | None = None,
) -> Notification:
    """A notification as the watcher builds it (summary included), with fixed ids and times."""
    return Notification(
        id="ntf_golden",
        owner_id="acc_golden",
        subscription_id="sub_golden",
        subscription_name=name,
        chain_id=chain.id,
        height=1234567,
        time=T,
        tx_hash="AB" * 32 if tx else None,
        tx_index=0 if tx else None,
        tx_code=code,
        tx_codespace=codespace,
        tx_log=log,
        tx_messages=messages,
        events=events,
        destination_ids=("dst_golden",),
        summary=summarize(
            events, chain, tx_code=code, codespace=codespace, log=log, messages=messages, focus=focus, labels=labels
        ),
        focus=focus,
        labels=labels or {},
        created_at=T,
    )


def failed_send() -> Notification:
    """The issue's case: a 9,000 ATOM send that failed; only the 0.0019 ATOM fee payment is left.

    Decoded from CometBFT 0.38-shaped /block_results and a /block holding the tx's body."""
    fee_collector = module_address("fee_collector", "cosmos")
    events = [
        {"type": type_, "attributes": [{"key": k, "value": v} for k, v in attrs.items()]}
        for type_, attrs in (
            ("coin_spent", {"spender": ALICE, "amount": "1900uatom"}),
            ("coin_received", {"receiver": fee_collector, "amount": "1900uatom"}),
            ("transfer", {"recipient": fee_collector, "sender": ALICE, "amount": "1900uatom"}),
            ("message", {"sender": ALICE}),
            ("tx", {"fee": "1900uatom", "fee_payer": ALICE}),
            ("tx", {"acc_seq": f"{ALICE}/7"}),
        )
    ]
    log = "spendable balance 12uatom is smaller than 9000000000uatom: insufficient funds"
    results = {"height": "1234567", "txs_results": [{"code": 5, "codespace": "sdk", "log": log, "events": events}]}
    tx = tx_b64(msg_send(ALICE, WLFZ, ("9000000000", "uatom")))
    block = {"block": {"header": {"height": "1234567", "chain_id": COSMOS.id}, "data": {"txs": [tx]}}}
    s = BlockDecoder().decode(results, block).txs[0]
    return notification(
        "Alice's wallet", COSMOS, s.events, focus=ALICE, code=s.code, codespace=s.codespace, log=s.log,
        messages=s.messages,
    )  # fmt: skip


def failed_sei() -> Notification:
    """A recorded Sei failed tx (code 32): no events at all, only the result's log."""
    s = scope("sei_fixtures/block_results_with_failed_txs.json", 0)
    return notification("Sei wallet", SEI, s.events, code=s.code, codespace=s.codespace, log=s.log)


def funds_out() -> Notification:
    """A recorded Osmosis swap, watched from the swapper's side (its fee payment is skipped)."""
    s = scope("osmosis_fixtures/block_results_at_height_10499831.json", 0)
    return notification("Swapper wallet", OSMOSIS, s.events, focus=SWAPPER)


def contract_event() -> Notification:
    s = scope("osmosis_fixtures/block_results_at_height_10499831.json", 6)
    return notification("Vault contract", OSMOSIS, s.events)


def failed_ibc_transfer() -> Notification:
    """An IBC transfer over a channel that does not exist (ibc-go 04-channel ErrChannelNotFound)."""
    log = "failed to execute message; message index: 0: port ID (transfer) channel ID (channel-9999): channel not found"
    fee_collector = module_address("fee_collector", "osmo")
    events = (
        ev("transfer", recipient=fee_collector, sender=SWAPPER, amount="2500uosmo"),
        ev("message", sender=SWAPPER),
        ev("tx", fee="2500uosmo", fee_payer=SWAPPER),
    )
    messages = (TxMessage(type_url="/ibc.applications.transfer.v1.MsgTransfer"),)
    return notification(
        "Swapper wallet", OSMOSIS, events, focus=SWAPPER, code=3, codespace="channel", log=log, messages=messages
    )


def long_contract_event() -> Notification:
    """A contract that logs a 5,000-character value and 60 attributes: one message, cut visibly."""
    contract = "osmo1zacxlu90sl6j2zf90uctpddhfmux84ryrw794ywnlcwx2zeh5a4q67qtc9"
    attrs = {"_contract_address": contract, "action": "update_price_feeds", "payload": "0x" + "ab" * 2500}
    attrs |= {f"price_{i:02}": f"{1000 + i}.25" for i in range(60)}
    return notification("Oracle contract", OSMOSIS, (ev("wasm", **attrs),))


def one_tx_two_subscriptions() -> list[Notification]:
    """One transfer that two subscriptions of one chat match, each watching one side of it."""
    events = transfer_events("1500000uatom", BOB, ALICE)
    sent = notification("Alice's wallet", COSMOS, events, focus=ALICE)
    received = msgspec.structs.replace(
        notification("Bob's income", COSMOS, events, focus=BOB), id="ntf_golden_2", subscription_id="sub_golden_2"
    )
    return [sent, received]


def five_transfers() -> list[Notification]:
    """Five transfers of one watched address in one block: one message, with a line each."""
    first = notification("Alice's wallet", COSMOS, transfer_events("1500000uatom", BOB, ALICE), focus=ALICE)
    return [msgspec.structs.replace(first, id=f"ntf_golden_{i}", tx_index=i, tx_hash=f"{i:02X}" * 32) for i in range(5)]


KINDS: dict[str, Callable[[], Notification | list[Notification]]] = {
    "bundle_one_tx_two_subscriptions": one_tx_two_subscriptions,
    "bundle_five_transfers": five_transfers,
    "funds_in_labelled": lambda: notification(
        "Incoming ATOM",
        COSMOS,
        transfer_events("1500000uatom", BOB, ALICE),
        focus=BOB,
        labels={ALICE: "Treasury", BOB: "My hot wallet"},
    ),
    "failed_ibc_transfer": failed_ibc_transfer,
    "contract_event_long": long_contract_event,
    "governance_proposal_titled": lambda: notification(
        "Hub governance",
        COSMOS,
        (
            ev(
                "submit_proposal",
                proposal_id="987",
                title="Signalling: raise the <min> deposit & *halve* the voting period",
                voting_period_start="987",
            ),
        ),
    ),
    "funds_in": lambda: notification("Incoming ATOM", COSMOS, transfer_events("1500000uatom", BOB, ALICE), focus=BOB),
    "funds_out": funds_out,
    "failed_tx": failed_send,
    "failed_tx_sei": failed_sei,
    "contract_event": contract_event,
    "governance_proposal": lambda: notification(
        "Hub governance",
        COSMOS,
        (ev("active_proposal", proposal_id="42", proposal_result="proposal_passed"),),
        code=None,
        tx=False,
    ),
    "validator_jailed": lambda: notification(
        "My validator",
        COSMOS,
        (
            ev("slash", address=VALCONS, power="100", reason="missing_signature", jailed=VALCONS),
            ev("liveness", address=VALCONS, missed_blocks="500", height="1234567"),
        ),
        code=None,
        tx=False,
    ),
}


def golden_text(notifications: Sequence[Notification], chain: Chain) -> str:
    rendered = render_bundle(notifications, chain)
    parts = [
        "== summary (webhooks, history) ==",
        rendered.summary,
        "== telegram (HTML) ==",
        format_telegram(rendered),
        "== discord (embed JSON) ==",
        json.dumps(discord_embed(rendered), indent=2, ensure_ascii=False, sort_keys=True),
    ]
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rendered_text_matches_the_golden_file(kind: str) -> None:
    made = KINDS[kind]()
    notifications = made if isinstance(made, list) else [made]
    chain = {c.id: c for c in (COSMOS, OSMOSIS, SEI)}[notifications[0].chain_id]
    text = golden_text(notifications, chain)
    path = GOLDEN / f"{kind}.txt"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with MEMPOOLS_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{kind}: wording changed; see the module docstring"

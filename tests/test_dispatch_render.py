"""The one renderer: the wording people read in Telegram, Discord and webhook summaries."""

from __future__ import annotations

from core.chain.blocks import Attribute, Event
from core.dispatch.render import format_amount, module_address, render, short_denom, summarize
from tests.fakes.records import ALICE, BOB, COSMOS, make_notification, transfer_events

IBC = "ibc/27394FB092D2ECCD56123C74F36E4C1F926001CEADA9CA97EA622B25F41E5EB2"


def ev(type_: str, **attrs: str) -> Event:
    return Event(type=type_, attributes=tuple(Attribute(k, v) for k, v in attrs.items()))


def test_amounts_use_display_denoms() -> None:
    assert format_amount("1500000uatom", COSMOS) == "1.5 ATOM"
    assert format_amount("1000000uatom", COSMOS) == "1 ATOM"
    assert format_amount("1234567890000uatom", COSMOS) == "1,234,567.89 ATOM"
    assert format_amount("100uatom,5uosmo", COSMOS) == "0.0001 ATOM, 5 uosmo"
    assert format_amount(f"42{IBC}", COSMOS) == "42 ibc/27394F…"
    factory = format_amount("7factory/osmo1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu/uion", None)
    assert factory == "7 factory/osmo1qypq…v7xu/uion"
    assert format_amount("not an amount", COSMOS) == "not an amount"
    assert short_denom("uatom") == "uatom"


def test_transfer_wording_skips_the_fee() -> None:
    fee_collector = module_address("cosmos", "fee_collector")
    assert fee_collector == "cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta"
    events = (
        ev("tx", fee="5000uatom"),
        ev("transfer", recipient=fee_collector, sender=ALICE, amount="5000uatom"),
        *transfer_events("1500000uatom", BOB, ALICE),
    )
    assert summarize(events, COSMOS) == "1.5 ATOM received by cosmos1xv9t…xxe5 from cosmos1qypq…v7xu"


def test_transfer_wording_takes_the_watched_address_side() -> None:
    carol = "cosmos1carolcarolcarolcarolcarolcarol0000"
    events = (*transfer_events("2000000uatom", carol, BOB), *transfer_events("1500000uatom", BOB, ALICE))
    # Without a focus: the first transfer, as received.
    assert summarize(events, COSMOS).startswith("2 ATOM received by cosmos1caro")
    # Watching ALICE: her transfer, told from her side.
    expected = "1.5 ATOM sent by cosmos1qypq…v7xu to cosmos1xv9t…xxe5 (+1 more transfer)"
    assert summarize(events, COSMOS, focus=ALICE) == expected
    # Watching BOB, who receives from ALICE and sends to carol: his first transfer (as sender) first.
    assert summarize(events, COSMOS, focus=BOB).startswith("2 ATOM sent by cosmos1xv9t…xxe5 to cosmos1caro")


def test_governance_validator_and_contract_wording() -> None:
    passed = (ev("active_proposal", proposal_id="42", proposal_result="proposal_passed"),)
    assert summarize(passed, COSMOS) == "Proposal #42 passed"
    rejected = (ev("active_proposal", proposal_id="7", proposal_result="proposal_rejected"),)
    assert summarize(rejected, COSMOS) == "Proposal #7 rejected"
    assert summarize((ev("submit_proposal", proposal_id="43"),), COSMOS) == "Proposal #43 submitted"
    slash = (ev("slash", address="cosmosvalcons1abcdefghijklmnopqrstu", reason="missing_signature", jailed="x"),)
    assert summarize(slash, COSMOS) == "Validator cosmosvalcons1abcd…rstu jailed and slashed (missing signature)"
    delegate = (ev("delegate", validator="cosmosvaloper1abcdefghijklmnopqrstu", amount="2000000uatom"),)
    assert summarize(delegate, COSMOS) == "2 ATOM delegated to cosmosvaloper1abcd…rstu"
    wasm = (ev("wasm", _contract_address="cosmos1contractcontractcontract0000", action="swap"),)
    assert summarize(wasm, COSMOS) == "Contract cosmos1cont…0000 executed: swap"
    assert summarize((ev("message", action="/cosmos.gov.v1.MsgVote"),), COSMOS) == "MsgVote"
    assert summarize((), COSMOS) == "New block"
    assert summarize(transfer_events(), COSMOS, tx_code=5).startswith("Failed tx (code 5): 1.5 ATOM")


def test_render_gives_fields_and_explorer_link() -> None:
    notification = make_notification("acc_a", ("dst_1",))
    rendered = render(notification, COSMOS)
    assert rendered.title == "Incoming ATOM"
    assert rendered.headline.startswith("1.5 ATOM received by")
    assert rendered.url == f"https://explorer.example/cosmos/tx/{notification.tx_hash}"
    names = [f.name for f in rendered.fields]
    assert names == ["Amount", "From", "To", "Chain", "Height", "Time", "Tx"]
    tx = rendered.fields[-1]
    assert tx.url == rendered.url and "…" in tx.value
    assert rendered.chain_name == "Cosmos Hub"
    # Unknown chain: still renders, raw denoms.
    unknown = render(notification, None)
    assert unknown.chain_name == "cosmoshub-4" and unknown.headline.startswith("1,500,000 uatom received")

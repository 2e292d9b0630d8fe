"""The one renderer: the wording people read in Telegram, Discord and webhook summaries."""

from __future__ import annotations

import msgspec

from core.chain.blocks import Attribute, Event
from core.dispatch.render import format_amount, render, short_denom, summarize
from core.query.addresses import module_address
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
    fee_collector = module_address("fee_collector", "cosmos")
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
    assert summarize(transfer_events(), COSMOS, tx_code=5) == "❌ MsgSend failed: insufficient funds"


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


FEE_COLLECTOR = "cosmos17xpfvakm2amg962yls6f84z3kell8c5lserqta"


def failed_send_events() -> tuple[Event, ...]:
    """A failed 9,000 ATOM send as CometBFT 0.38 reports it: only the fee payment and `tx` events are left."""
    return (
        ev("coin_spent", spender=ALICE, amount="1900uatom"),
        ev("coin_received", receiver=FEE_COLLECTOR, amount="1900uatom"),
        ev("transfer", recipient=FEE_COLLECTOR, sender=ALICE, amount="1900uatom"),
        ev("message", sender=ALICE),
        ev("tx", fee="1900uatom", fee_payer=ALICE),
        ev("tx", acc_seq=f"{ALICE}/7"),
    )


def test_failed_tx_says_why_and_shows_the_fee_as_a_fee() -> None:
    log = "spendable balance 12uatom is smaller than 9000000000uatom: insufficient funds"
    summary = summarize(failed_send_events(), COSMOS, tx_code=5, codespace="sdk", log=log, focus=ALICE)
    assert summary == f"❌ Transaction failed (code 5: insufficient funds): {log}; fee 0.0019 ATOM"
    assert "sent by" not in summary and "received by" not in summary
    rendered = render(
        msgspec.structs.replace(
            make_notification("acc_a", ("dst_1",), events=failed_send_events()),
            tx_code=5,
            tx_codespace="sdk",
            tx_log=log,
            focus=ALICE,
            summary=summary,
        ),
        COSMOS,
    )
    assert rendered.failed and rendered.headline == summary
    fields = {f.name: f.value for f in rendered.fields}
    assert fields["Error"] == "code 5 (sdk)" and fields["Reason"] == "insufficient funds"
    assert fields["Fee"] == "0.0019 ATOM" and fields["Log"] == log
    assert "Amount" not in fields and "To" not in fields


def test_failed_tx_log_is_cut_and_unknown_codes_keep_their_codespace() -> None:
    long_log = "out of gas in location: WriteFlat; gasWanted: 200000, gasUsed: 200417 " * 10
    summary = summarize(failed_send_events(), COSMOS, tx_code=11, codespace="sdk", log=long_log)
    assert summary.startswith("❌ Transaction failed (code 11: out of gas): out of gas in location")
    assert summary.endswith("…; fee 0.0019 ATOM")
    assert len(summary) < 200 + 80
    wasm = summarize((), COSMOS, tx_code=5, codespace="wasm", log="Error parsing into type cw20::msg::ExecuteMsg")
    assert wasm == "❌ Transaction failed (code wasm 5): Error parsing into type cw20::msg::ExecuteMsg"


def test_module_accounts_are_named_where_an_address_is_shown() -> None:
    distribution = module_address("distribution", "cosmos")
    rewards = transfer_events("250000uatom", ALICE, distribution)
    assert summarize(rewards, COSMOS) == "0.25 ATOM received by cosmos1qypq…v7xu from the distribution module"
    bonded = module_address("bonded_tokens_pool", "cosmos")
    stake = transfer_events("3000000uatom", bonded, ALICE)
    assert summarize(stake, COSMOS, focus=ALICE) == "3 ATOM sent by cosmos1qypq…v7xu to the staking pool (bonded)"
    rendered = render(make_notification("acc_a", ("dst_1",), events=stake), COSMOS)
    to = next(f for f in rendered.fields if f.name == "To")
    assert to.value == f"the staking pool (bonded) ({bonded})"
    # Derived per chain prefix: the same module on Osmosis is named too, an unknown chain is not.
    osmo = msgspec.structs.replace(COSMOS, bech32_prefix="osmo")
    gov = module_address("gov", "osmo")
    assert summarize(transfer_events("1uatom", gov, "osmo1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"), osmo).startswith(
        "0.000001 ATOM received by the governance module"
    )
    assert "governance" not in summarize(transfer_events("1uatom", gov), None)

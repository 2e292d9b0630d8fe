"""The one renderer: the wording people read in Telegram, Discord and webhook summaries."""

from __future__ import annotations

import msgspec

from core.chain.blocks import Attribute, Event, TxMessage
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
    assert summarize(events, COSMOS) == "💸 1.5 ATOM from cosmos1qypq…v7xu to cosmos1xv9t…xxe5"


def test_transfer_wording_takes_the_watched_address_side() -> None:
    carol = "cosmos1carolcarolcarolcarolcarolcarol0000"
    events = (*transfer_events("2000000uatom", carol, BOB), *transfer_events("1500000uatom", BOB, ALICE))
    # Without a focus: the first transfer, both parties.
    assert summarize(events, COSMOS) == "💸 2 ATOM from cosmos1xv9t…xxe5 to cosmos1caro…0000 (+1 more transfer)"
    # Watching ALICE: her transfer, told from her side (out: 📤 and a minus sign).
    assert summarize(events, COSMOS, focus=ALICE) == "📤 \u22121.5 ATOM to cosmos1xv9t…xxe5 (+1 more transfer)"
    # Watching BOB, who receives from ALICE and sends to carol: his first transfer (as sender) first.
    assert summarize(events, COSMOS, focus=BOB) == "📤 \u22122 ATOM to cosmos1caro…0000 (+1 more transfer)"
    # Watching carol: money in (📥 and a plus sign), from whom.
    assert summarize(events, COSMOS, focus=carol) == "📥 +2 ATOM from cosmos1xv9t…xxe5 (+1 more transfer)"


def test_governance_validator_and_contract_wording() -> None:
    passed = (ev("active_proposal", proposal_id="42", proposal_result="proposal_passed"),)
    assert summarize(passed, COSMOS) == "🏛 Proposal #42 passed"
    rejected = (ev("active_proposal", proposal_id="7", proposal_result="proposal_rejected"),)
    assert summarize(rejected, COSMOS) == "🏛 Proposal #7 rejected"
    assert summarize((ev("submit_proposal", proposal_id="43"),), COSMOS) == "🏛 Proposal #43 submitted"
    voting = (ev("proposal_deposit", proposal_id="44", voting_period_start="44", title="Raise the gas cap"),)
    assert summarize(voting, COSMOS) == "🏛 Proposal #44 voting started: Raise the gas cap"
    slash = (ev("slash", address="cosmosvalcons1abcdefghijklmnopqrstu", reason="missing_signature", jailed="x"),)
    assert summarize(slash, COSMOS) == "⛓ cosmosvalcons1abcd…rstu jailed and slashed: missing signature"
    delegate = (ev("delegate", validator="cosmosvaloper1abcdefghijklmnopqrstu", amount="2000000uatom"),)
    assert summarize(delegate, COSMOS) == "🥩 2 ATOM delegated to cosmosvaloper1abcd…rstu"
    wasm = (ev("wasm", _contract_address="cosmos1contractcontractcontract0000", action="swap"),)
    assert summarize(wasm, COSMOS) == "📜 cosmos1cont…0000: swap"
    assert summarize((ev("message", action="/cosmos.gov.v1.MsgVote"),), COSMOS) == "🔔 Vote"
    assert summarize((ev("message", action="/my.chain.v1.MsgFrobnicate"),), COSMOS) == "🔔 MsgFrobnicate"
    assert summarize((ev("custom_thing", a="1"), ev("other")), COSMOS) == "🔔 Events: custom_thing, other"
    assert summarize((), COSMOS) == "🔔 New block"
    assert summarize(transfer_events(), COSMOS, tx_code=5) == "❌ Send failed: insufficient funds"


def test_render_gives_compact_fields_and_explorer_link() -> None:
    notification = make_notification("acc_a", ("dst_1",))
    rendered = render(notification, COSMOS)
    assert rendered.title == "Incoming ATOM"
    assert rendered.headline == "💸 1.5 ATOM from cosmos1qypq…v7xu to cosmos1xv9t…xxe5"
    assert rendered.url == f"https://explorer.example/cosmos/tx/{notification.tx_hash}"
    # Only what the headline does not say: the whole addresses, to copy. Chain, height, time and
    # tx are the channels' one line, not fields, and the amount is not repeated.
    assert [(f.name, f.value, f.code) for f in rendered.fields] == [("From", ALICE, True), ("To", BOB, True)]
    assert (rendered.chain_name, rendered.height, rendered.tx_hash) == ("Cosmos Hub", 100, notification.tx_hash)
    # Unknown chain: still renders, raw denoms.
    unknown = render(notification, None)
    assert unknown.chain_name == "cosmoshub-4" and unknown.headline.startswith("💸 1,500,000 uatom from")


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
    assert summary == "❌ Transaction failed: insufficient funds (fee 0.0019 ATOM paid)"
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
    assert rendered.failed and rendered.headline == "❌ Transaction failed: insufficient funds"
    assert rendered.summary == summary
    assert [(f.name, f.value, f.block) for f in rendered.fields] == [
        ("Log", log, True),  # the chain's own words, in a code block
        ("Fee", "0.0019 ATOM (paid)", False),  # a fee, not a transfer to the fee collector
    ]


def test_failed_tx_log_is_cut_and_unknown_codes_keep_their_codespace() -> None:
    long_log = "out of gas in location: WriteFlat; gasWanted: 200000, gasUsed: 200417 " * 10
    summary = summarize(failed_send_events(), COSMOS, tx_code=11, codespace="sdk", log=long_log)
    assert summary == "❌ Transaction failed: out of gas (fee 0.0019 ATOM paid)"
    rendered = render(
        msgspec.structs.replace(
            make_notification("acc_a", ("dst_1",), events=failed_send_events()), tx_code=11, tx_log=long_log * 2
        ),
        COSMOS,
    )
    [shown] = [f.value for f in rendered.fields if f.name == "Log"]
    assert shown.startswith("out of gas in location") and shown.endswith(
        f"… ({len((long_log * 2).strip())} characters)"
    )
    assert len(shown) == 1000  # a long log is cut, its length noted
    # An unknown code keeps its codespace; a log that ends in plain words gives the reason.
    wasm = summarize((), COSMOS, tx_code=5, codespace="wasm", log="Error parsing into type cw20::msg::ExecuteMsg")
    assert wasm == "❌ Transaction failed (code wasm 5): Error parsing into type cw20::msg::ExecuteMsg"
    ibc = "failed to execute message; message index: 0: channel-9: channel not found"
    transfer = (TxMessage(type_url="/ibc.applications.transfer.v1.MsgTransfer"),)
    failed_ibc = summarize((), COSMOS, tx_code=3, codespace="channel", log=ibc, messages=transfer)
    assert failed_ibc == "❌ IBC transfer failed: channel not found"


def test_module_accounts_are_named_where_an_address_is_shown() -> None:
    distribution = module_address("distribution", "cosmos")
    rewards = transfer_events("250000uatom", ALICE, distribution)
    assert summarize(rewards, COSMOS, focus=ALICE) == "📥 +0.25 ATOM from the distribution module"
    bonded = module_address("bonded_tokens_pool", "cosmos")
    stake = transfer_events("3000000uatom", bonded, ALICE)
    assert summarize(stake, COSMOS, focus=ALICE) == "📤 \u22123 ATOM to the staking pool (bonded)"
    rendered = render(make_notification("acc_a", ("dst_1",), events=stake), COSMOS)
    to = next(f for f in rendered.fields if f.name == "To")
    assert (to.label, to.value) == ("the staking pool (bonded)", bonded)
    # Derived per chain prefix: the same module on Osmosis is named too, an unknown chain is not.
    osmo = msgspec.structs.replace(COSMOS, bech32_prefix="osmo")
    gov = module_address("gov", "osmo")
    assert summarize(transfer_events("1uatom", gov, "osmo1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"), osmo).endswith(
        "to the governance module"
    )
    assert "governance" not in summarize(transfer_events("1uatom", gov), None)


def test_labels_show_wherever_their_address_is() -> None:
    """The owner's address-book labels (`Notification.labels`) name addresses in the headline, the
    summary and the fields; the whole address stays beside the label, to copy."""
    labels = {
        ALICE: "Treasury",
        "cosmosvalcons1abcdefghijklmnopqrstu": "My node",
        "cosmos1contractcontractcontract0000": "Vault",
    }
    assert summarize(transfer_events("1500000uatom", BOB, ALICE), COSMOS, focus=BOB, labels=labels) == (
        "📥 +1.5 ATOM from Treasury (cosmos1qypq…v7xu)"
    )
    slash = (ev("slash", address="cosmosvalcons1abcdefghijklmnopqrstu", reason="double_sign"),)
    assert summarize(slash, COSMOS, labels=labels) == "⛓ My node (cosmosvalcons1abcd…rstu) slashed: double sign"
    wasm = (ev("wasm", _contract_address="cosmos1contractcontractcontract0000", action="swap"),)
    assert summarize(wasm, COSMOS, labels=labels) == "📜 Vault (cosmos1cont…0000): swap"
    # A failed send to a labelled address; a label the owner gave a module account wins over its name.
    fee_collector = module_address("fee_collector", "cosmos")
    failed = msgspec.structs.replace(
        make_notification("acc_a", ("dst_1",), events=failed_send_events()),
        tx_code=5,
        tx_messages=(TxMessage(type_url="/cosmos.bank.v1beta1.MsgSend", recipient=ALICE, amount="5uatom"),),
        labels={**labels, fee_collector: "Fees"},
    )
    rendered = render(failed, COSMOS)
    to = rendered.fields[0]
    assert (to.name, to.label, to.value) == ("To", "Treasury", ALICE)
    stake = transfer_events("3000000uatom", fee_collector, ALICE)
    assert summarize(stake, COSMOS, focus=ALICE, labels={fee_collector: "Fees"}) == (
        "📤 \u22123 ATOM to Fees (cosmos17xpf…rqta)"
    )
    # Without labels nothing changes; an unlabelled address is shown short.
    assert summarize(wasm, COSMOS) == "📜 cosmos1cont…0000: swap"

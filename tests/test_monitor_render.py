"""Every alert kind told in every channel: Telegram HTML, a Discord embed, the webhook body (valid
against the published schema), and the console's page of the notification, with hostile monikers
and titles escaped and nothing lost or crashing."""

from __future__ import annotations

import json

import msgspec
import pytest

from core.dispatch.discord import discord_embed, embed_size
from core.dispatch.payload import webhook_body
from core.dispatch.render import render
from core.dispatch.telegram import format_telegram, telegram_length
from core.ids import notification_id
from core.models import Notification
from core.monitor.models import Alert
from core.store.base import WriteBatch
from tests.apikit import Env
from tests.consolekit import ConsoleUser
from tests.fakes.records import COSMOS, T0
from tests.test_dispatch_webhook import SCHEMA_DOC, _check_schema

HOSTILE = "<b>Evil</b> & \u202eNode" + "x" * 300
OPERATOR = "cosmosvaloper1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5a3kdqq"

DETAILS = {
    "missed": "512", "window": "10000", "percent": "5.12", "threshold": "5", "consecutive": "12",
    "jail_percent": "95", "streak": "12", "old": "0.05", "new": "0.10", "height": "100",
    "voting_end": "2026-12-03T14:00:00+00:00", "left": "50 min", "option": "no_with_veto", "result": "passed",
    "yes": "700", "no": "200", "abstain": "50", "no_with_veto": "50", "voted": "yes", "minutes": "12",
    "last_block_time": "2026-12-01T10:02:00+00:00", "set_size": "180", "reason": "missing_signature",
}  # fmt: skip

KINDS = [
    "missed_blocks", "missed_blocks_recovered", "consecutive_missed", "signing_again", "jailed", "unjailed",
    "tombstoned", "left_active_set", "joined_active_set", "commission_changed", "moniker_changed", "chain_stalled",
    "chain_resumed", "proposal_new", "proposal_voting", "proposal_ending", "not_voted", "vote_cast", "proposal_result",
]  # fmt: skip


def alert_notification(kind: str, owner_id: str = "acc_1") -> Notification:
    gov = kind.startswith(("proposal", "not_voted", "vote_cast"))
    alert = Alert(
        kind=kind,  # type: ignore[arg-type]
        key=f"{kind}:x",
        validator=None if gov else OPERATOR,
        moniker=None if gov else HOSTILE,
        voter="cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu" if kind in ("not_voted", "vote_cast") else None,
        proposal_id=7 if gov else None,
        title=HOSTILE[:200] if gov else None,
        url="https://explorer.example/proposals/7" if gov else None,
        details={**DETAILS, "new": HOSTILE} if kind == "moniker_changed" else DETAILS,
    )
    from core.dispatch.alerts import alert_summary

    return Notification(
        id=notification_id(COSMOS.id, 100, f"alert:{kind}", "sub_1"),
        owner_id=owner_id,
        subscription_id="sub_1",
        subscription_name="My validator",
        chain_id=COSMOS.id,
        height=100,
        time=T0,
        tx_hash=None,
        tx_index=None,
        tx_code=None,
        events=(),
        destination_ids=("dst_1",),
        summary=alert_summary(alert, COSMOS),
        created_at=T0,
        alert=alert,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_reads_in_every_channel(kind: str) -> None:
    n = alert_notification(kind)
    rendered = render(n, COSMOS)
    assert rendered.headline and "\u202e" not in rendered.headline
    html = format_telegram(rendered)
    assert "<b>Evil</b>" not in html and telegram_length(html) <= 4096
    if "Evil" in rendered.headline or any("Evil" in f.value for f in rendered.fields):
        assert "&lt;b&gt;Evil&lt;/b&gt; &amp;" in html
    embed = discord_embed(rendered)
    assert embed_size(embed) <= 6000 and embed["title"]
    body = json.loads(webhook_body(n, COSMOS))
    assert body["type"] == "monitor.alert" and body["data"]["alert"]["kind"] == kind and body["data"]["events"] == []
    _check_schema(SCHEMA_DOC, body)
    assert len(n.summary) <= 280


def test_the_headlines_people_read() -> None:
    heads = {k: render(alert_notification(k), COSMOS).headline for k in KINDS}
    name = "<b>Evil</b> & �Node" + "x" * 40 + "…"  # monikers are cut to 60 characters
    assert heads["missed_blocks"] == f"🟠 {name} is missing blocks: over 5% of the window (512 of 10,000)"
    assert heads["consecutive_missed"] == f"🔴 {name} missed 5 blocks in a row"
    assert heads["commission_changed"] == f"💼 {name} changed its commission: 5% → 10%"
    assert (
        heads["chain_stalled"]
        == "🧊 Cosmos Hub has made no new block for 12 min (last: height 100 at Dec 1, 10:02 UTC)"
    )
    assert heads["proposal_result"].endswith("✅ passed")
    result = render(alert_notification("proposal_result"), COSMOS)
    assert ("Tally", "Yes 70.0% · No 20.0% · Veto 5.0% · Abstain 5.0%") in [(f.name, f.value) for f in result.fields]
    assert heads["vote_cast"].startswith("🗳 cosmos1qypq…v7xu voted No with veto on proposal #7")


async def test_the_console_shows_an_alert_and_another_account_cannot(
    env: Env, alice: ConsoleUser, bob: ConsoleUser
) -> None:
    n = msgspec.structs.replace(alert_notification("jailed", owner_id=alice.account_id))
    batch = WriteBatch()
    env.repos.notifications.add(n, batch)
    await env.repos.store.commit(batch)
    page = await alice.get(f"/console/history/{n.id}")
    assert page.status_code == 200, page.text
    assert "was jailed (missing signature)" in page.text and "&lt;b&gt;Evil&lt;/b&gt;" in page.text
    assert "<b>Evil</b>" not in page.text
    assert (await bob.get(f"/console/history/{n.id}")).status_code == 404
    listing = (await alice.get("/console/history")).text
    assert "was jailed" in listing

"""The console's history, a notification's page and its redelivery, over the real app and store:
what a signed-in user sees, filters and cursor pages, the exact webhook payload, attempts and
the next attempt's time; another account's ids are the same 404 as unknown ones, bad filters a
422 beside the field, and names and event values written by others are escaped everywhere."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from core.chain.blocks import Attribute, Event
from core.dispatch.http import HttpClient
from core.dispatch.webhook import WebhookChannel
from core.ids import notification_id
from core.models import DeliveryAttempt, Notification, OutboxEntry
from core.store.base import WriteBatch
from tests.apikit import CHAIN, OTHER_CHAIN, Env, api_client, make_config, seed_notifications
from tests.consolekit import ConsoleUser, console_signup
from tests.fakes.webhook_receiver import WebhookReceiver

T0 = datetime(2024, 5, 1, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"


def _rows(page: str) -> list[str]:
    """The notification ids of the table rows, in order."""
    return re.findall(r'<tr id="n-([^"]+)" data-testid="notification-row"', page)


def _ids(made: list[Notification]) -> list[str]:
    return [n.id for n in made]


def hostile_notification(owner_id: str, destination_ids: tuple[str, ...], *, height: int = 7) -> Notification:
    """A notification whose subscription name and event values are markup."""
    return Notification(
        id=notification_id(CHAIN, height, "tx:0", "sub_evil"),
        owner_id=owner_id,
        subscription_id="sub_evil",
        subscription_name=f"evil {SCRIPT}",
        chain_id=CHAIN,
        height=height,
        time=T0,
        tx_hash="AB" * 32,
        tx_index=0,
        tx_code=0,
        events=(Event(type="wasm", attributes=(Attribute("memo", f'"><img src=x onerror=alert(2)>{SCRIPT}'),)),),
        destination_ids=destination_ids,
        summary=f"summary {SCRIPT}",
        created_at=T0,
    )


def _put(env: Env, *records: Notification | DeliveryAttempt) -> None:
    batch = WriteBatch()
    for r in records:
        if isinstance(r, Notification):
            env.repos.notifications.put(r, batch)
        else:
            env.repos.attempts.put(r, batch)
    env.store.write(batch)


async def test_history_pages_newest_first_with_an_older_link_that_does_not_overlap(
    env: Env, alice: ConsoleUser
) -> None:
    made = seed_notifications(env.repos, alice.account_id, "sub_a", 120, start=T0)
    newest_first = _ids(made)[::-1]
    first = await alice.client.get("/console/history")
    assert first.status_code == 200
    assert _rows(first.text) == newest_first[:50]
    assert 'sse-connect="/console/stream"' in first.text  # the first unfiltered page is live
    older = re.search(r'<a href="([^"]+)" id="history-older"', first.text)
    assert older is not None
    second = await alice.client.get(html.unescape(older.group(1)))
    assert _rows(second.text) == newest_first[50:100]
    assert "sse-connect" not in second.text  # an older page does not move under the reader
    third_link = re.search(r'<a href="([^"]+)" id="history-older"', second.text)
    assert third_link is not None
    third = await alice.client.get(html.unescape(third_link.group(1)))
    assert _rows(third.text) == newest_first[100:] and 'id="history-older"' not in third.text


async def test_history_filters_combine_and_make_a_shareable_url(env: Env, alice: ConsoleUser) -> None:
    mine = seed_notifications(env.repos, alice.account_id, "sub_a", 30, start=T0)
    other_chain = seed_notifications(env.repos, alice.account_id, "sub_o", 5, start=T0, chain_id=OTHER_CHAIN)
    get = alice.client.get

    r = await get("/console/history", params={"height_from": "10", "height_to": "12", "chain_id": CHAIN})
    assert r.status_code == 200 and _rows(r.text) == [n.id for n in mine[11:8:-1]]
    assert 'value="10"' in r.text and 'value="12"' in r.text  # the form shows the filter it applied
    assert "sse-connect" not in r.text  # a filtered view is not live

    r = await get("/console/history", params={"tx_hash": (mine[20].tx_hash or "").lower()})  # either case
    assert _rows(r.text) == [mine[20].id]
    r = await get("/console/history", params={"chain_id": OTHER_CHAIN})
    assert _rows(r.text) == _ids(other_chain)[::-1]
    r = await get("/console/history", params={"subscription_id": "sub_o"})  # no such subscription now: deleted
    assert _rows(r.text) == _ids(other_chain)[::-1]
    assert "seeded (deleted)" in r.text  # the select names it by the name the history kept
    r = await get("/console/history", params={"since": "2024-05-01T00:00", "until": "2024-05-01T00:00:30"})
    assert len(_rows(r.text)) == 10  # 5 of each chain, 6 s apart, until exclusive
    r = await get("/console/history", params={"last": "24h"})  # seeded in 2024
    assert _rows(r.text) == [] and "No notification matches these filters." in r.text
    r = await get("/console/history", params={"outcome": "dead"})
    assert r.status_code == 200 and _rows(r.text) == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"height_from": "ten"}, "height_from", "height_from: a block height"),
        ({"height_from": "9", "height_to": "3"}, "height_from", "must not be greater than height_to"),
        ({"tx_hash": "<b>zz</b>"}, "tx_hash", "tx_hash: 64 hex digits"),
        ({"outcome": "lost"}, "outcome", "outcome: one of delivered, retrying, dead"),
        ({"since": "yesterday"}, "since", "since: not a time"),
        ({"last": "1y"}, "last", "last: one of 1h, 24h, 7d, 30d or custom"),
        ({"chain_id": "x" * 500}, "chain_id", "at most 128 characters"),
    ],
)
async def test_a_bad_filter_is_said_beside_its_field(
    env: Env, alice: ConsoleUser, params: dict[str, str], field: str, message: str
) -> None:
    seed_notifications(env.repos, alice.account_id, "sub_a", 3, start=T0)
    r = await alice.client.get("/console/history", params=params)
    assert r.status_code == 422, r.text
    error = re.search(rf'data-testid="error-{field}">([^<]*)<', r.text)
    assert error is not None and message in html.unescape(error.group(1))
    assert "<b>zz</b>" not in r.text and _rows(r.text) == []


async def test_a_bad_cursor_is_a_422_page_not_a_500(alice: ConsoleUser) -> None:
    r = await alice.client.get("/console/history", params={"cursor": "!!not-a-cursor"})
    assert r.status_code == 422 and "cursor" in r.text


async def test_another_accounts_subscription_filter_shows_what_an_unknown_one_shows(
    env: Env, alice: ConsoleUser, bob: ConsoleUser
) -> None:
    await env.services.destinations.create_webhook(bob.account_id, "http://127.0.0.1:9/h", name="b")
    sub = await env.services.subscriptions.create(
        bob.account_id, chain_id=CHAIN, name="bob's", queries=["transfer.recipient='x'"]
    )
    seed_notifications(env.repos, bob.account_id, sub.id, 3, start=T0)
    theirs = await alice.client.get("/console/history", params={"subscription_id": sub.id})
    unknown = await alice.client.get("/console/history", params={"subscription_id": "sub_nope"})
    assert theirs.status_code == unknown.status_code == 200  # an unknown id may be one of hers, deleted
    assert _rows(theirs.text) == [] and "bob" not in theirs.text.replace("bob@", "")
    assert theirs.text.replace(sub.id, "X") == unknown.text.replace("sub_nope", "X")
    mine = await bob.client.get("/console/history", params={"subscription_id": sub.id})
    assert len(_rows(mine.text)) == 3 and "bob&#39;s" in mine.text


async def test_a_notification_page_shows_the_exact_webhook_payload_attempts_and_the_next_attempt(
    env: Env, alice: ConsoleUser
) -> None:
    async with WebhookReceiver() as receiver:
        hook = await env.services.destinations.create_webhook(alice.account_id, receiver.url("/in"), name="My hook")
        n = hostile_notification(alice.account_id, (hook.id,))
        due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
        attempt = DeliveryAttempt(
            notification_id=n.id, destination_id=hook.id, attempt=1, at=T0 + timedelta(seconds=3),
            outcome="failed", http_status=502, error="HTTP 502: upstream <b>down</b>", latency_ms=41.7,
        )  # fmt: skip
        _put(env, n, attempt)
        batch = WriteBatch()
        env.outbox.enqueue(
            [OutboxEntry(notification_id=n.id, destination_id=hook.id, owner_id=alice.account_id, due_at=due,
                         attempts=1, last_error="HTTP 502")], batch
        )  # fmt: skip
        env.store.write(batch)
        channel = WebhookChannel(HttpClient(allow_private_networks=True))
        result = await channel.deliver(n, hook, env.services.chains.find(CHAIN))
        assert result.ok and len(receiver.received) == 1

    r = await alice.client.get(f"/console/history/{n.id}")
    assert r.status_code == 200
    shown = re.search(r'<pre id="payload-json" data-testid="payload">(.*?)</pre>', r.text, re.S)
    assert shown is not None
    assert json.loads(html.unescape(shown.group(1))) == json.loads(receiver.received[0].body)
    page = r.text
    assert "<script>" not in page.split("</head>", 1)[1].replace('<script src="', "")  # no script of theirs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<img src=x" not in page
    assert "upstream &lt;b&gt;down&lt;/b&gt;" in page and "<b>down</b>" not in page
    attempt_row = re.search(r'data-testid="attempt-row">(.*?)</tr>', page, re.S)
    assert attempt_row is not None
    for seen in ("My hook", "failed", "502", "42 ms", "2024-05-01 00:00:03 UTC"):
        assert seen in attempt_row.group(1)
    pending = re.search(r'data-testid="pending-row">(.*?)</tr>', page, re.S)
    assert pending is not None and "2030-01-02 03:04:05 UTC" in pending.group(1)
    assert 'id="explorer-link"' not in page  # the test chain has no explorer


async def test_the_transaction_links_to_the_chains_explorer(tmp_path: Path) -> None:
    config = make_config()
    config.chains[0] = msgspec.structs.replace(config.chains[0], explorer_tx_url="https://explorer.example/tx/{hash}")
    env = Env(tmp_path, config=config)
    try:
        async with api_client(env.app) as c:
            user = await console_signup(c, "carol@example.com")
            n = hostile_notification(user.account_id, ())
            _put(env, n)
            r = await c.get(f"/console/history/{n.id}")
            assert f'href="https://explorer.example/tx/{n.tx_hash}" id="explorer-link"' in r.text
    finally:
        env.close()


async def test_redeliver_now_is_answered_inline_and_works_without_htmx(env: Env, alice: ConsoleUser) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="Hook A")
    n, m = seed_notifications(env.repos, alice.account_id, "sub_a", 2, start=T0, destination_ids=(hook.id,))
    r = await alice.post(f"/console/history/{n.id}/redeliver", htmx=True)
    assert r.status_code == 200, r.text
    assert 'data-testid="redelivered"' in r.text and "Queued to 1 destination: Hook A." in r.text
    assert env.outbox.get(n.id, hook.id) is not None
    page = await alice.client.get(f"/console/history/{n.id}")
    assert 'data-testid="pending-row"' in page.text  # the queued delivery shows with its next attempt
    again = await alice.post(f"/console/history/{n.id}/redeliver", htmx=True)
    assert "already waiting" in again.text  # due now already: not queued twice

    plain = await alice.post(f"/console/history/{m.id}/redeliver")
    assert plain.status_code == 303 and plain.headers["location"] == f"/console/history/{m.id}?queued=1"
    after = await alice.client.get(plain.headers["location"])
    assert "Queued to 1 destination." in after.text


async def test_another_accounts_notification_is_the_same_404_as_an_unknown_one(
    env: Env, alice: ConsoleUser, bob: ConsoleUser
) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="h")
    n = hostile_notification(alice.account_id, (hook.id,))
    _put(env, n)
    own = await alice.client.get(f"/console/history/{n.id}")
    assert own.status_code == 200 and "summary &lt;script&gt;" in own.text
    theirs = await bob.client.get(f"/console/history/{n.id}")
    unknown = await bob.client.get("/console/history/ntf_nope")
    assert theirs.status_code == unknown.status_code == 404
    assert "evil" not in theirs.text and "summary" not in theirs.text
    assert theirs.text.replace(n.id, "X") == unknown.text.replace("ntf_nope", "X")
    r = await bob.post(f"/console/history/{n.id}/redeliver", htmx=True)
    assert r.status_code == 404 and r.headers["hx-retarget"] == "#flash"
    assert env.outbox.depth() == 0
    assert "evil" not in (await bob.client.get("/console/history")).text


async def test_a_post_without_the_token_is_refused(env: Env, alice: ConsoleUser) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="h")
    (n,) = seed_notifications(env.repos, alice.account_id, "sub_a", 1, start=T0, destination_ids=(hook.id,))
    headers = {"Origin": str(alice.client.base_url).rstrip("/")}
    r = await alice.client.post(f"/console/history/{n.id}/redeliver", data={}, headers=headers)
    assert r.status_code == 403 and "expired" in r.text
    r = await alice.client.post(f"/console/history/{n.id}/redeliver", data={"_csrf": "0" * 64}, headers=headers)
    assert r.status_code == 403
    assert env.outbox.depth() == 0


async def test_script_in_names_and_event_values_is_escaped_on_the_list_and_the_overview(
    env: Env, alice: ConsoleUser
) -> None:
    _put(env, hostile_notification(alice.account_id, ()))
    for path in ("/console/history", "/console", "/console/history?subscription_id=sub_evil"):
        r = await alice.client.get(path)
        assert r.status_code == 200, path
        body = r.text.split("</head>", 1)[1]
        assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path

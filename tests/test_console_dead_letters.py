"""The console's dead letters: the list (when, which destination, why), redelivering one inline,
and recovering every dead letter of one destination since a time; another account's ids are
404s that change nothing, bad times are said on the form, and a post without the token is refused."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest

from core.models import DeadLetter, DeliveryAttempt, Notification, OutboxEntry
from core.store.base import WriteBatch
from tests.apikit import Env, seed_notifications
from tests.consolekit import ConsoleUser
from tests.test_console_history import SCRIPT, T0, hostile_notification


def _bury(env: Env, owner_id: str, made: list[Notification], destination_id: str, error: str = "HTTP 502") -> None:
    batch = WriteBatch()
    for n in made:
        env.repos.dead_letters.put(
            DeadLetter(
                notification_id=n.id, destination_id=destination_id, owner_id=owner_id,
                attempts=8, last_error=error, dead_at=n.time,
            ),
            batch,
        )  # fmt: skip
    env.store.write(batch)


def _dead_rows(page: str) -> list[str]:
    return re.findall(r'<tr id="dead-([^"]+)" data-testid="dead-letter-row"', page)


def _queued(env: Env) -> set[tuple[str, str]]:
    return {(e.notification_id, e.destination_id) for e in env.outbox.entries.scan()}


async def test_the_list_says_when_where_and_why_and_redelivers_one_inline(env: Env, alice: ConsoleUser) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="Prod hook")
    made = seed_notifications(env.repos, alice.account_id, "sub_a", 3, start=T0, destination_ids=(hook.id,))
    _bury(env, alice.account_id, made, hook.id, error="HTTP 502: <b>bad gateway</b>")
    page = await alice.client.get("/console/dead-letters")
    assert page.status_code == 200
    assert _dead_rows(page.text) == [f"{n.id}-{hook.id}" for n in reversed(made)]  # newest first
    row = re.search(rf'<tr id="dead-{made[1].id}-{hook.id}".*?</tr>', page.text, re.S)
    assert row is not None
    for seen in ("Prod hook", "1.5 ATOM at 2", "2024-05-01 00:00:06 UTC", "HTTP 502: &lt;b&gt;bad gateway&lt;/b&gt;"):
        assert seen in row.group(0)
    assert f'href="/console/history/{made[1].id}"' in row.group(0)

    r = await alice.post(
        "/console/dead-letters/redeliver", {"notification_id": made[1].id, "destination_id": hook.id}, htmx=True
    )
    assert r.status_code == 200 and 'data-testid="dead-letter-requeued"' in r.text and "Prod hook" in r.text
    assert f'id="dead-{made[1].id}-{hook.id}"' in r.text  # it replaces its own row
    assert _queued(env) == {(made[1].id, hook.id)}
    after = await alice.client.get("/console/dead-letters")
    assert _dead_rows(after.text) == [f"{made[2].id}-{hook.id}", f"{made[0].id}-{hook.id}"]

    plain = await alice.post(
        "/console/dead-letters/redeliver", {"notification_id": made[0].id, "destination_id": hook.id}
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/console/dead-letters"
    assert (made[0].id, hook.id) in _queued(env)


async def test_recover_queues_one_destinations_dead_letters_since_a_time(env: Env, alice: ConsoleUser) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="Hook")
    other = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/o", name="Other")
    made = seed_notifications(env.repos, alice.account_id, "sub_a", 10, start=T0, destination_ids=(hook.id, other.id))
    _bury(env, alice.account_id, made, hook.id)
    _bury(env, alice.account_id, made, other.id)
    page = await alice.client.get("/console/dead-letters")
    default = re.search(r'name="since" value="([^"]+)"', page.text)
    assert default is not None  # a day ago, to the minute, as the datetime-local input shows it
    shown = datetime.fromisoformat(default.group(1)).replace(tzinfo=UTC)
    assert abs(shown - (datetime.now(UTC) - timedelta(hours=24))) < timedelta(minutes=2)

    since = made[4].time.strftime("%Y-%m-%dT%H:%M:%S")
    r = await alice.post("/console/dead-letters/recover", {"destination_id": hook.id, "since": since}, htmx=True)
    assert r.status_code == 200, r.text
    assert "Queued 6 dead letters of Hook again." in r.text and 'id="recover-form"' in r.text
    assert _queued(env) == {(n.id, hook.id) for n in made[4:]}
    again = await alice.post("/console/dead-letters/recover", {"destination_id": hook.id, "since": since})
    assert again.status_code == 303 and again.headers["location"] == "/console/dead-letters?recovered=0"
    shown_after = await alice.client.get(again.headers["location"])
    assert "Queued 0 dead letters again." in shown_after.text
    assert len(_dead_rows(shown_after.text)) == 4 + 10


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ("", "since: required"),
        ("yesterday", "since: not a time"),
        (SCRIPT, "since: not a time"),
        ((datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"), "since: must not be in the future"),
    ],
)
async def test_a_bad_time_is_said_on_the_form(env: Env, alice: ConsoleUser, since: str, message: str) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="Hook")
    made = seed_notifications(env.repos, alice.account_id, "sub_a", 2, start=T0, destination_ids=(hook.id,))
    _bury(env, alice.account_id, made, hook.id)
    for htmx in (True, False):
        r = await alice.post("/console/dead-letters/recover", {"destination_id": hook.id, "since": since}, htmx=htmx)
        assert r.status_code == 422, r.text
        error = re.search(r'data-testid="recover-error">([^<]*)<', r.text)
        assert error is not None and message in html.unescape(error.group(1))
        assert "<script>alert" not in r.text.split("</head>", 1)[-1]
    assert env.outbox.depth() == 0


async def test_another_accounts_ids_are_404s_that_change_nothing(
    env: Env, alice: ConsoleUser, bob: ConsoleUser
) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="Alice hook")
    n = hostile_notification(alice.account_id, (hook.id,))
    batch = WriteBatch()
    env.repos.notifications.put(n, batch)
    env.store.write(batch)
    _bury(env, alice.account_id, [n], hook.id)

    page = await bob.client.get("/console/dead-letters")
    assert _dead_rows(page.text) == [] and "Alice hook" not in page.text and "evil" not in page.text
    since = T0.strftime("%Y-%m-%dT%H:%M")
    theirs = await bob.post("/console/dead-letters/recover", {"destination_id": hook.id, "since": since})
    unknown = await bob.post("/console/dead-letters/recover", {"destination_id": "dst_nope", "since": since})
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.text.replace(hook.id, "X") == unknown.text.replace("dst_nope", "X")
    r = await bob.post(
        "/console/dead-letters/redeliver", {"notification_id": n.id, "destination_id": hook.id}, htmx=True
    )
    assert r.status_code == 404 and "evil" not in r.text
    assert env.outbox.depth() == 0
    assert len(_dead_rows((await alice.client.get("/console/dead-letters")).text)) == 1

    # Alice's own list escapes the markup of the notification's summary and subscription name.
    mine = (await alice.client.get("/console/dead-letters")).text.split("</head>", 1)[1]
    assert "<script>alert" not in mine and "summary &lt;script&gt;alert(1)&lt;/script&gt;" in mine


async def test_a_post_without_the_token_is_refused(env: Env, alice: ConsoleUser) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="Hook")
    made = seed_notifications(env.repos, alice.account_id, "sub_a", 2, start=T0, destination_ids=(hook.id,))
    _bury(env, alice.account_id, made, hook.id)
    origin = {"Origin": str(alice.client.base_url).rstrip("/")}
    body = {"destination_id": hook.id, "since": T0.strftime("%Y-%m-%dT%H:%M")}
    r = await alice.client.post("/console/dead-letters/recover", data=body, headers=origin)
    assert r.status_code == 403
    forged = await alice.client.post(
        "/console/dead-letters/recover", data=body | {"_csrf": alice.csrf}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert env.outbox.depth() == 0


async def test_history_and_overview_rows_show_each_notifications_outcome(env: Env, alice: ConsoleUser) -> None:
    hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="Prod hook")
    dead, delivered, waiting = seed_notifications(
        env.repos, alice.account_id, "sub_a", 3, start=T0, destination_ids=(hook.id,)
    )
    _bury(env, alice.account_id, [dead], hook.id)
    batch = WriteBatch()
    env.repos.attempts.put(
        DeliveryAttempt(
            notification_id=delivered.id, destination_id=hook.id, attempt=1, at=T0,
            outcome="delivered", http_status=200, latency_ms=3,
        ),
        batch,
    )  # fmt: skip
    env.outbox.enqueue(
        [
            OutboxEntry(
                notification_id=waiting.id, destination_id=hook.id, owner_id=alice.account_id, due_at=T0, attempts=2
            )
        ],
        batch,
    )
    env.store.write(batch)

    def badge(page: str, n: Notification) -> str | None:
        row = re.search(rf'<tr id="n-{n.id}".*?</tr>', page, re.S)
        assert row is not None, n.id
        found = re.search(r'class="badge state-(\w+)"', row.group(0))
        return found.group(1) if found else None

    for path in ("/console/history", "/console"):
        page = (await alice.client.get(path)).text
        assert [badge(page, n) for n in (dead, delivered, waiting)] == ["dead", "delivered", "retrying"], path

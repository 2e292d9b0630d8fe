"""The console's destinations pages: webhooks made through forms (the SSRF guard on their URL),
the signing secret shown once, rotation, a signed test event sent to a real loopback receiver
and verified with the reference `standardwebhooks` package, recent attempts, cross-account 404s."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from core.dispatch.http import HttpClient
from core.dispatch.webhook import WebhookChannel
from core.models import DeliveryAttempt
from core.store import WriteBatch
from tests.apikit import Env, api_client, seed_notifications
from tests.consolekit import ConsoleUser, console_signup, texts_by_testid
from tests.fakes.webhook_receiver import Reply, WebhookReceiver

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as r:
        yield r


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    http = HttpClient(allow_private_networks=True, total_timeout=5)
    e = Env(tmp_path, tester=WebhookChannel(http).send_test_event)
    yield e
    e.close()
    await http.close()


async def _create(user: ConsoleUser, url: str, name: str = "") -> str:
    r = await user.post("/console/destinations/new", {"url": url, "name": name})
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


async def test_a_webhook_secret_is_shown_once_and_a_test_event_verifies(
    alice: ConsoleUser, receiver: WebhookReceiver
) -> None:
    path = await _create(alice, receiver.url("/hook"), name=f"hook {SCRIPT}")
    first = (await alice.get(path)).text
    (secret,) = texts_by_testid(first, "secret")
    assert secret.startswith("whsec_")
    assert f'Webhook("{secret}")' in html.unescape(first)  # the snippets carry the real secret this once
    assert "webhook-signature" in first and "timingSafeEqual" in first
    assert SCRIPT not in first and "hook &lt;script&gt;" in first
    again = (await alice.get(path)).text
    assert texts_by_testid(again, "secret") == [] and secret not in again  # not on a reload

    r = await alice.post(f"{path}/test", htmx=True)
    assert r.status_code == 200
    assert texts_by_testid(r.text, "test-verdict")[0].startswith("Delivered: the endpoint answered 200 in ")
    (got,) = receiver.received
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.test"

    receiver.script(Reply(status=500, body=b"<b>boom</b>"))
    r = await alice.post(f"{path}/test", htmx=True)
    assert texts_by_testid(r.text, "test-verdict")[0].startswith("Not delivered: the endpoint answered 500")
    assert texts_by_testid(r.text, "test-body") == ["<b>boom</b>"] and "<b>boom" not in r.text  # escaped
    r = await alice.post(f"{path}/test")  # a plain post: the whole page with the answer in it
    assert r.status_code == 200 and 'id="destination-attempts"' in r.text and texts_by_testid(r.text, "test-verdict")


async def test_rotation_shows_the_new_secret_once_and_the_overlap(alice: ConsoleUser) -> None:
    path = await _create(alice, "https://127.0.0.1:9/hook")
    (old,) = texts_by_testid((await alice.get(path)).text, "secret")
    before = datetime.now(UTC)
    r = await alice.post(f"{path}/rotate", htmx=True)
    assert r.status_code == 200 and r.text.startswith('<div id="webhook-secret">')
    (new,) = texts_by_testid(r.text, "secret")
    assert new.startswith("whsec_") and new != old
    overlap = re.search(r'data-testid="rotation-overlap".*?until <time datetime="([^"]+)"', r.text, re.S)
    assert overlap is not None, r.text
    until = datetime.fromisoformat(overlap.group(1))
    assert timedelta(hours=23, minutes=59) < until - before < timedelta(hours=24, minutes=1)
    page = (await alice.get(path)).text
    assert texts_by_testid(page, "secret") == [] and texts_by_testid(page, "rotation-overlap")
    r = await alice.post(f"{path}/rotate")  # plain: redirect, then the secret on that one view
    assert r.status_code == 303
    (third,) = texts_by_testid((await alice.get(path)).text, "secret")
    assert third not in (new, old)
    assert texts_by_testid((await alice.get(path)).text, "secret") == []


async def test_ssrf_refusal_is_the_url_fields_error(alice: ConsoleUser) -> None:
    r = await alice.post("/console/destinations/new", {"url": "http://169.254.169.254/latest/meta-data", "name": "x"})
    assert r.status_code == 422
    (error,) = texts_by_testid(r.text, "error-url")
    assert "metadata" in error and 'value="http://169.254.169.254/latest/meta-data"' in r.text
    r = await alice.post("/console/destinations/new", {"url": "ftp://example.com/x"})
    assert r.status_code == 422 and "http or https" in texts_by_testid(r.text, "error-url")[0]
    assert "No destination yet" in (await alice.get("/console/destinations")).text
    path = await _create(alice, f"https://127.0.0.1:9/{SCRIPT}")
    for page in ((await alice.get(path)).text, (await alice.get("/console/destinations")).text):
        assert SCRIPT not in page and "/&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_enable_disable_delete_and_the_bots_howto(alice: ConsoleUser, env: Env) -> None:
    path = await _create(alice, "https://127.0.0.1:9/hook", name="main")
    r = await alice.post(f"{path}/disable", htmx=True)
    assert r.status_code == 200 and texts_by_testid(r.text, "destination-state") == ["disabled"]
    assert "disabled by its owner" in r.text and 'data-testid="enable"' in r.text
    listing = (await alice.get("/console/destinations")).text
    assert "disabled" in listing and "main" in listing
    r = await alice.post(f"{path}/enable")
    assert r.status_code == 303
    assert texts_by_testid((await alice.get(path)).text, "destination-state") == ["enabled"]

    await env.services.destinations.ensure_telegram_chat(alice.account_id, 4242, chat_title=f"group {SCRIPT}")
    listing = (await alice.get("/console/destinations")).text
    assert "Telegram group &lt;script&gt;" in listing and SCRIPT not in listing
    assert "<code>/link CODE</code>" in listing and "<code>/start</code>" in listing
    assert "Discord channels and DMs are added from Discord" in listing

    r = await alice.post(f"{path}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/console/destinations"
    assert (await alice.get(path)).status_code == 404


async def test_recent_attempts_of_a_destination(alice: ConsoleUser, env: Env) -> None:
    path = await _create(alice, "https://127.0.0.1:9/hook")
    dest_id = path.rsplit("/", 1)[1]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = seed_notifications(env.repos, alice.account_id, "sub_x", 3, start=start, destination_ids=(dest_id,))
    batch = WriteBatch()
    for i, n in enumerate(made):
        env.repos.attempts.put(
            DeliveryAttempt(
                notification_id=n.id,
                destination_id=dest_id,
                attempt=1,
                at=start + timedelta(minutes=i),
                outcome="failed" if i == 2 else "delivered",
                http_status=503 if i == 2 else 200,
                error=f"HTTP 503 {SCRIPT}" if i == 2 else None,
                latency_ms=12.0,
            ),
            batch,
        )
    env.store.write(batch)
    page = (await alice.get(path)).text
    rows = re.findall(r'<tr data-testid="attempt-row">(.*?)</tr>', page, re.S)
    assert len(rows) == 3
    assert "failed" in rows[0] and "503" in rows[0] and "&lt;script&gt;" in rows[0]  # newest first
    assert "delivered" in rows[2] and "12 ms" in rows[2] and SCRIPT not in page


async def test_another_accounts_destination_is_not_found(alice: ConsoleUser, mallory: ConsoleUser) -> None:
    path = await _create(alice, "https://127.0.0.1:9/hook", name="alice hook")
    unknown = await mallory.get("/console/destinations/dst_01AAAAAAAAAAAAAAAAAAAAAAAA")
    r = await mallory.get(path)
    assert r.status_code == 404 and r.text == unknown.text
    for action in ("enable", "disable", "rotate", "test", "delete"):
        r = await mallory.post(f"{path}/{action}")
        assert r.status_code == 404, action
        assert "alice" not in r.text and "whsec_" not in r.text
    assert "alice" not in (await mallory.get("/console/destinations")).text
    assert "alice hook" in (await alice.get(path)).text  # still there


async def test_destination_posts_without_the_token_are_refused(alice: ConsoleUser) -> None:
    path = await _create(alice, "https://127.0.0.1:9/hook")
    for target in ("/console/destinations/new", f"{path}/rotate", f"{path}/delete", f"{path}/disable"):
        r = await alice.post(target, {"url": "https://127.0.0.1:9/other"}, token=False)
        assert r.status_code == 403, target
    r = await alice.client.post(f"{path}/delete", data={"_csrf": "0" * 64})
    assert r.status_code == 403
    assert (await alice.get(path)).status_code == 200


async def test_without_a_tester_the_test_button_says_so_in_place(tmp_path: Path) -> None:
    env = Env(tmp_path / "n")
    try:
        async with api_client(env.app) as c:
            user = await console_signup(c, "alice@example.com")
            path = await _create(user, "https://127.0.0.1:9/hook")
            r = await user.post(f"{path}/test", htmx=True)
            assert r.status_code == 503 and "not available" in texts_by_testid(r.text, "test-verdict")[0]
    finally:
        env.close()

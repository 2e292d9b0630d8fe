"""`/console/stream` over real HTTP (the app on uvicorn, loopback): a new notification of the
viewer arrives as the same table row the pages render, escaped; an attempt arrives as that row
again, for the row itself to swap in; another account's notifications never; a closed
connection frees its listener, and an idle one gets heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from api.app import create_app
from api.readiness import Readiness
from core.models import DeliveryAttempt, OutboxEntry
from core.services.activity import ActivityFeed
from core.store.base import WriteBatch
from tests.apikit import Env, api_client, seed_notifications
from tests.consolekit import ConsoleUser, console_signup
from tests.loopback_api import serve_api
from tests.polling import until
from tests.test_console_history import T0, hostile_notification


class RowReader:
    """Reads `/console/stream` with `user`'s session, keeping each event and comment."""

    def __init__(self, user: ConsoleUser) -> None:
        self.events: list[tuple[str, str]] = []  # (event, data)
        self.comments: list[str] = []
        self.status: int | None = None
        self._client = user.client
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(httpx.ReadError, httpx.RemoteProtocolError):
            async with self._client.stream("GET", "/console/stream") as r:
                self.status = r.status_code
                fields: dict[str, list[str]] = {}
                async for line in r.aiter_lines():
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                    elif line == "":
                        if "event" in fields:
                            self.events.append((fields["event"][0], "\n".join(fields.get("data", []))))
                        fields = {}
                    else:
                        name, _, value = line.partition(":")
                        fields.setdefault(name, []).append(value.removeprefix(" "))

    @property
    def ended(self) -> bool:
        return self._task.done()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_the_stream_sends_the_viewers_rows_only_and_frees_its_listener(tmp_path: Path) -> None:
    env = Env(tmp_path)
    app = create_app(
        lambda: Readiness(ready=True, checks={}), env.services, api_config=env.config.api, stream_heartbeat=0.05
    )
    feed = env.services.activity
    try:
        async with serve_api(app) as url, httpx.AsyncClient(base_url=url) as ca, httpx.AsyncClient(base_url=url) as cb:
            alice, bob = await console_signup(ca, "alice@example.com"), await console_signup(cb, "bob@example.com")
            hook = await env.services.destinations.create_webhook(alice.account_id, "http://127.0.0.1:9/h", name="h")
            reader = RowReader(alice)
            await until(lambda: feed.listeners(alice.account_id) == 1 and reader.comments)
            assert reader.status == 200

            (theirs,) = seed_notifications(env.repos, bob.account_id, "sub_b", 1, start=T0)
            mine = hostile_notification(alice.account_id, (hook.id,))
            batch = WriteBatch()
            env.repos.notifications.put(mine, batch)
            env.store.write(batch)
            await until(lambda: any(e == "notification" for e, _ in reader.events))
            (kind, row), *_ = reader.events
            assert kind == "notification"
            assert row.startswith(f'<tr id="n-{mine.id}" data-testid="notification-row" sse-swap="attempt-{mine.id}"')
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row and "<script>" not in row
            assert f'href="/console/history/{mine.id}"' in row

            due = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
            batch = WriteBatch()
            env.repos.attempts.put(
                DeliveryAttempt(notification_id=mine.id, destination_id=hook.id, attempt=1, at=T0,
                                outcome="failed", http_status=502, error="HTTP 502", latency_ms=12.0),
                batch,
            )  # fmt: skip
            env.outbox.enqueue(
                [OutboxEntry(notification_id=mine.id, destination_id=hook.id, owner_id=alice.account_id, due_at=due)],
                batch,
            )
            env.store.write(batch)
            await until(lambda: any(e == f"attempt-{mine.id}" for e, _ in reader.events))
            attempt_row = next(d for e, d in reader.events if e == f"attempt-{mine.id}")
            assert attempt_row.startswith(f'<tr id="n-{mine.id}"')
            assert "failed" in attempt_row and "HTTP 502" in attempt_row and "2030-01-02 03:04:05 UTC" in attempt_row

            await until(lambda: reader.comments.count("heartbeat") >= 2)
            assert all(theirs.id not in data for _, data in reader.events)
            await reader.close()
            await until(lambda: feed.listeners(alice.account_id) == 0)
    finally:
        env.close()


async def test_a_reader_that_fell_behind_gets_one_reload_row_and_the_stream_ends(tmp_path: Path) -> None:
    env = Env(tmp_path)
    feed = ActivityFeed(env.repos, env.outbox, max_queued=2)
    services = dataclasses.replace(env.services, activity=feed)
    app = create_app(lambda: Readiness(ready=True, checks={}), services, api_config=env.config.api)
    try:
        async with serve_api(app) as url, httpx.AsyncClient(base_url=url) as c:
            alice = await console_signup(c, "alice@example.com")
            reader = RowReader(alice)
            await until(lambda: feed.listeners(alice.account_id) == 1 and reader.comments)
            seed_notifications(env.repos, alice.account_id, "sub_a", 5, start=T0)  # one write: 5 events at once
            await until(lambda: reader.events and reader.events[-1][0] == "lagged")
            assert "reload the page" in reader.events[-1][1]
            await until(lambda: reader.ended)  # the stream ended; the browser reconnects
            assert feed.listeners(alice.account_id) == 0
    finally:
        env.close()


async def test_the_stream_needs_a_session(env: Env) -> None:
    async with api_client(env.app) as c:
        r = await c.get("/console/stream")
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
        assert env.services.activity.listeners() == 0


async def test_only_the_first_unfiltered_pages_are_live(env: Env) -> None:
    async with api_client(env.app) as c:
        await console_signup(c, "alice@example.com")
        overview = (await c.get("/console")).text
        live = re.search(r'<tbody id="recent-notifications"([^>]*)>', overview)
        assert live is not None
        assert 'hx-ext="sse" sse-connect="/console/stream" sse-swap="notification,lagged"' in live.group(1)
        history = (await c.get("/console/history")).text
        assert re.search(r'<tbody id="history-rows" hx-ext="sse" sse-connect="/console/stream"', history)
        since = (T0 - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        assert "sse-connect" not in (await c.get("/console/history", params={"since": since})).text

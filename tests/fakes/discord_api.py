"""A local Discord REST API (the part discord.py's HTTPClient uses to send), on 127.0.0.1.

    async with FakeDiscordApi() as api:
        with api.patched_route_base():          # discord.http.Route.BASE -> this server, restored after
            http = discord.http.HTTPClient(asyncio.get_running_loop(), max_ratelimit_timeout=30)
            await http.static_login("token")    # GET /users/@me
            api.fail_next("messages", status=429, retry_after=60, channel_id=123)
            api.fail_next("messages", status=403, channel_id=123)
            ...
        api.messages      # [PostedMessage(channel_id, payload)]  (channel and DM messages)
        api.webhook_posts # [PostedMessage(channel_id=webhook id, payload)]
        api.dm_channels   # {user_id: channel_id}
        api.webhook_url(id, token)   # a plain Discord webhook URL served here

Replies carry `Content-Type: application/json` exactly (discord.py insists), and a 429 carries
a `Via` header (without it discord.py takes the 429 for a Cloudflare ban).
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import discord.http
import msgspec
from aiohttp import web

from mempools.web import serve_app

_USER = {"id": "100000000000000001", "username": "mempools", "discriminator": "0", "avatar": None, "bot": True,
         "global_name": "Mempools", "flags": 0}  # fmt: skip


class PostedMessage(msgspec.Struct, kw_only=True):
    channel_id: int
    payload: dict[str, Any]
    message_id: int = 0

    def as_message(self) -> dict[str, Any]:
        """The message object Discord returns for it (and embeds in a button press)."""
        return message_object(self.message_id, self.channel_id, self.payload)

    def custom_ids(self) -> dict[str, str]:
        """Button label -> custom_id, over every row (link buttons have none)."""
        return {
            str(b.get("label")): str(b["custom_id"])
            for row in self.payload.get("components") or []
            for b in row.get("components") or []
            if "custom_id" in b
        }

    @property
    def flags(self) -> int:
        """The message flags as posted (SUPPRESS_NOTIFICATIONS is 1 << 12); 0 when none were sent."""
        return int(self.payload.get("flags") or 0)


def message_object(message_id: int, channel_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(message_id), "channel_id": str(channel_id), "content": payload.get("content", ""),
            "embeds": payload.get("embeds", []), "author": _USER, "type": 0, "attachments": [],
            "mentions": [], "mention_roles": [], "pinned": False, "mention_everyone": False, "tts": False,
            "timestamp": "2024-01-01T00:00:00+00:00", "edited_timestamp": None, "flags": payload.get("flags", 0),
            "components": payload.get("components", [])}  # fmt: skip


class _Failure(msgspec.Struct, kw_only=True):
    kind: str  # "messages", "dm", "webhook"
    status: int
    retry_after: float | None
    channel_id: int | None
    times: int


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )


class FakeDiscordApi:
    def __init__(self) -> None:
        self.messages: list[PostedMessage] = []
        self.webhook_posts: list[PostedMessage] = []
        self.dm_channels: dict[int, int] = {}
        self.requests: list[tuple[str, str]] = []
        self._failures: list[_Failure] = []
        # When set, REST calls must carry `Authorization: Bot <accepted_token>` (else 401, as Discord).
        self.accepted_token: str | None = None
        self._ids = itertools.count(200000000000000000)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    def webhook_url(self, webhook_id: int = 1, token: str = "tok") -> str:
        return f"http://127.0.0.1:{self.port}/api/webhooks/{webhook_id}/{token}"

    @contextlib.contextmanager
    def patched_route_base(self) -> Iterator[None]:
        """Point discord.py's REST at this server for the duration, then restore it."""
        saved = discord.http.Route.BASE
        discord.http.Route.BASE = self.api_base
        try:
            yield
        finally:
            discord.http.Route.BASE = saved

    def fail_next(
        self, kind: str, *, status: int, retry_after: float | None = None, channel_id: int | None = None, times: int = 1
    ) -> None:
        """The next `times` requests of `kind` ("messages", "dm", "webhook"; "sync" in the gateway
        fake) answer `status`."""
        self._failures.append(
            _Failure(kind=kind, status=status, retry_after=retry_after, channel_id=channel_id, times=times)
        )

    def _failure(self, kind: str, channel_id: int | None) -> web.Response | None:
        for failure in self._failures:
            if failure.kind == kind and (failure.channel_id is None or failure.channel_id == channel_id):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                if failure.status == 429:
                    retry = failure.retry_after or 1.0
                    return _json(
                        {"message": "You are being rate limited.", "retry_after": retry, "global": False},
                        429,
                        {"Via": "1.1 google", "Retry-After": str(int(retry + 0.999)), "X-RateLimit-Scope": "user"},
                    )
                messages = {403: ("Missing Access", 50001), 404: ("Unknown Channel", 10003)}
                message, code = messages.get(failure.status, ("Server Error", 0))
                return _json({"message": message, "code": code}, failure.status)
        return None

    async def _me(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        if self.accepted_token is not None and request.headers.get("Authorization") != f"Bot {self.accepted_token}":
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        return _json(_USER)

    async def _application(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        return _json({"id": "100000000000000002", "name": "Mempools", "flags": 0, "owner": _USER,
                      "bot_public": True, "bot_require_code_grant": False, "verify_key": "", "icon": None,
                      "description": "", "team": None})  # fmt: skip

    async def _channel_message(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        channel_id = int(request.match_info["channel_id"])
        failed = self._failure("messages", channel_id)
        if failed is not None:
            return failed
        payload = await request.json()
        message = PostedMessage(channel_id=channel_id, payload=payload, message_id=next(self._ids))
        self.messages.append(message)
        return _json(message.as_message())

    async def _open_dm(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        payload = await request.json()
        user_id = int(payload["recipient_id"])
        failed = self._failure("dm", user_id)
        if failed is not None:
            return failed
        channel_id = self.dm_channels.setdefault(user_id, next(self._ids))
        recipient = {**_USER, "id": str(user_id), "username": f"user{user_id}", "bot": False}
        return _json({"id": str(channel_id), "type": 1, "recipients": [recipient], "last_message_id": None})

    async def _webhook(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        webhook_id = int(request.match_info["webhook_id"])
        failed = self._failure("webhook", webhook_id)
        if failed is not None:
            return failed
        payload = await request.json()
        self.webhook_posts.append(PostedMessage(channel_id=webhook_id, payload=payload))
        return web.Response(status=204)

    def add_routes(self, app: web.Application) -> None:
        """The routes this fake serves; a subclass adds its own (the gateway fake does) and calls this."""
        app.router.add_get("/api/v10/users/@me", self._me)
        app.router.add_get("/api/v10/oauth2/applications/@me", self._application)
        app.router.add_post("/api/v10/channels/{channel_id}/messages", self._channel_message)
        app.router.add_post("/api/v10/users/@me/channels", self._open_dm)
        app.router.add_post("/api/webhooks/{webhook_id}/{token}", self._webhook)

    async def start(self) -> FakeDiscordApi:
        app = web.Application()
        self.add_routes(app)
        self._runner, self.port = await serve_app(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeDiscordApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

"""A local Discord: the REST fake of `discord_api` plus a websocket gateway and interactions.

    async with FakeDiscord() as discord_:
        config = DiscordConfig(api_url=discord_.api_base, gateway_url=discord_.gateway_url, token=Secret("t"))
        ...start the bot; await discord_.ready.wait()...
        reply = await discord_.slash("watch", {"address": "cosmos1..."}, guild_id=1, channel_id=2, user_id=3,
                                     permissions=discord.Permissions(manage_guild=True))
        reply.content, reply.ephemeral, reply.embeds
        choices = await discord_.autocomplete("pause", {"subscription": ""}, focused="subscription", ...)

The gateway speaks discord.py 2.7's side of the protocol, nothing more: HELLO (op 10), heartbeat
ACK (op 11), IDENTIFY (op 2) answered with READY, and `dispatch()` for any event. Frames are sent
as text, so the client's zlib stream stays unused. An interaction is an INTERACTION_CREATE
dispatch; its answer is the POST to `/interactions/{id}/{token}/callback`, which `slash()` waits
for. Deferred answers and follow-ups go to `/webhooks/{app}/{token}` and are collected too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import discord
import discord.gateway
import discord.http
import msgspec
import yarl
from aiohttp import WSMsgType, web

from tests.fakes.discord_api import _USER, FakeDiscordApi, _json, message_object

APPLICATION_ID = 100000000000000002
BOT_USER_ID = int(_USER["id"])

# Discord's interaction and option types (https://discord.com/developers/docs/interactions).
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5
_BUTTON = 2
SELECT = 3  # a string select menu (a component type)
TEXT_INPUT = 4
# Callback types: 4 a new message, 5 deferred, 7 the pressed message edited in place, 9 a modal.
UPDATE_MESSAGE = 7
MODAL = 9
_SUB_COMMAND = 1
_OPTION_TYPES = {str: 3, int: 4, bool: 5}
EPHEMERAL = 64


class Reply(msgspec.Struct, kw_only=True):
    """What the bot answered to one interaction: the callback, then any edits and follow-ups."""

    type: int
    data: dict[str, Any]
    followups: list[dict[str, Any]] = []

    @property
    def content(self) -> str:
        """The text the user finally sees (a deferred answer's edit replaces the empty callback)."""
        for message in reversed(self.followups):
            if message.get("content"):
                return str(message["content"])
        return str(self.data.get("content") or "")

    @property
    def embeds(self) -> list[dict[str, Any]]:
        for message in reversed(self.followups):
            if message.get("embeds"):
                return list(message["embeds"])
        return list(self.data.get("embeds") or [])

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)

    @property
    def choices(self) -> list[dict[str, Any]]:
        return list(self.data.get("choices") or [])

    @property
    def components(self) -> list[dict[str, Any]]:
        """The component rows of the answer (an edited message's new buttons, a modal's fields)."""
        return list(self.data.get("components") or [])

    def custom_ids(self) -> dict[str, str]:
        """Button label (or select/field custom_id) -> custom_id, over every row of the answer."""
        out: dict[str, str] = {}
        for row in self.components:
            for item in row.get("components") or []:
                if "custom_id" in item:
                    out[str(item.get("label") or item["custom_id"])] = str(item["custom_id"])
        return out

    def select(self) -> dict[str, Any]:
        """The (first) select menu of the answer: its `custom_id` and `options`."""
        for row in self.components:
            for item in row.get("components") or []:
                if item.get("type") == SELECT:
                    return dict(item)
        raise AssertionError(f"no select menu in {self.components}")

    def text_inputs(self) -> dict[str, dict[str, Any]]:
        """A modal answer's text inputs by custom_id (label, placeholder, value, required)."""
        out: dict[str, dict[str, Any]] = {}

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item.get("type") == TEXT_INPUT:
                    out[str(item["custom_id"])] = item
                walk(list(item.get("components") or []))
                if isinstance(item.get("component"), dict):
                    walk([item["component"]])

        walk(self.components)
        return out

    def as_message(self, channel_id: int, message_id: int = 1) -> dict[str, Any]:
        """The message this answer shows, as a later press carries it."""
        return message_object(message_id, channel_id, self.data)

    def followup_texts(self) -> list[str]:
        return [str(m.get("content") or "") for m in self.followups]


def _option(name: str, value: object, focused: bool) -> dict[str, Any]:
    option: dict[str, Any] = {"name": name, "type": _OPTION_TYPES.get(type(value), 3), "value": value}
    if focused:
        option["focused"] = True
    return option


class FakeDiscord(FakeDiscordApi):
    """REST (messages, DMs, command sync, interaction callbacks) and a gateway on one port."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()
        self.identify: dict[str, Any] | None = None
        self.synced: dict[str, list[dict[str, Any]]] = {}  # "global" or the guild id -> commands
        self._sockets: list[web.WebSocketResponse] = []
        self.connections = 0  # gateway connections opened so far
        self.most_connected = 0  # the most gateway connections open at one time
        self._seq = itertools.count(1)
        self._snowflakes = itertools.count(300000000000000000)
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._replies: dict[str, Reply] = {}
        self._followed_up: dict[str, asyncio.Event] = {}

    @property
    def connected(self) -> int:
        """Gateway connections open now."""
        return len(self._sockets)

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        """Point discord.py's REST and gateway here for the duration, then restore both."""
        saved = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            with self.patched_route_base():
                yield
        finally:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved

    # -- routes ----------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        super().add_routes(app)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_put("/api/v10/applications/{app_id}/commands", self._sync)
        app.router.add_put("/api/v10/applications/{app_id}/guilds/{guild_id}/commands", self._sync)
        app.router.add_post("/api/v10/interactions/{interaction_id}/{token}/callback", self._callback)
        app.router.add_post("/api/v10/webhooks/{app_id}/{token}", self._followup)
        app.router.add_patch("/api/v10/webhooks/{app_id}/{token}/messages/@original", self._followup)

    async def _sync(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        failed = self._failure("sync", None)
        if failed is not None:
            return failed
        commands = await request.json()
        scope = request.match_info.get("guild_id", "global")
        answered = []
        for command in commands:
            answered.append(
                {
                    "id": str(next(self._snowflakes)),
                    "application_id": str(APPLICATION_ID),
                    "version": "1",
                    "type": 1,
                    **command,
                    **({"guild_id": scope} if scope != "global" else {}),
                }
            )
        self.synced[scope] = answered
        return _json(answered)

    async def _callback(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        interaction_id = request.match_info["interaction_id"]
        body = await request.json()
        reply = Reply(type=int(body["type"]), data=body.get("data") or {})
        self._replies[request.match_info["token"]] = reply
        waiter = self._waiting.pop(interaction_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)
        flags = int(reply.data.get("flags") or 0)
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": APPLICATION_COMMAND,
                    "response_message_loading": reply.type == 5,
                    "response_message_ephemeral": bool(flags & EPHEMERAL),
                }
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        payload = await request.json()
        reply = self._replies.get(request.match_info["token"])
        if reply is not None:
            reply.followups.append(payload)
            self._followed_up.setdefault(request.match_info["token"], asyncio.Event()).set()
        return _json(
            {
                "id": str(next(self._snowflakes)),
                "channel_id": "1",
                "content": payload.get("content", ""),
                "embeds": payload.get("embeds", []),
                "author": _USER,
                "type": 0,
                "attachments": [],
                "mentions": [],
                "mention_roles": [],
                "pinned": False,
                "mention_everyone": False,
                "tts": False,
                "timestamp": "2024-01-01T00:00:00+00:00",
                "edited_timestamp": None,
                "flags": payload.get("flags", 0),
                "components": [],
            }
        )

    # -- gateway ---------------------------------------------------------------------------------
    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections += 1
        self.most_connected = max(self.most_connected, len(self._sockets))
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None}))
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                if frame["op"] == 1:
                    await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif frame["op"] == 2:
                    self.identify = frame["d"]
                    await self._send(ws, "READY", self._ready_payload())
                    self.ready.set()
        finally:
            self._sockets.remove(ws)
        return ws

    def _ready_payload(self) -> dict[str, Any]:
        return {
            "v": 10,
            "user": _USER,
            "guilds": [],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APPLICATION_ID), "flags": 0},
            "shard": [0, 1],
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: Mapping[str, Any]) -> None:
        await ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> None:
        """Send one gateway event to every connected client."""
        if not self._sockets:
            raise RuntimeError("no client is connected to the fake gateway")
        for ws in list(self._sockets):
            await self._send(ws, event, data)

    # -- interactions ----------------------------------------------------------------------------
    def interaction(
        self,
        subcommand: str,
        options: Mapping[str, object] | None = None,
        *,
        kind: int = APPLICATION_COMMAND,
        focused: str | None = None,
        guild_id: int | None = None,
        channel_id: int = 500,
        user_id: int = 700,
        permissions: discord.Permissions | None = None,
        username: str = "alice",
        command: str = "mempools",
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE payload for `/command subcommand options...` as Discord sends it.

        With `guild_id` it comes from a server text channel, from a member with `permissions`;
        without, from a DM with the user.
        """
        interaction_id = str(next(self._snowflakes))
        user = {"id": str(user_id), "username": username, "discriminator": "0", "avatar": None, "global_name": None}
        opts = [_option(k, v, k == focused) for k, v in (options or {}).items()]
        data: dict[str, Any] = {
            "id": "400000000000000001",
            "name": command,
            "type": 1,
            "options": [{"name": subcommand, "type": _SUB_COMMAND, "options": opts}],
        }
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "data": data,
            "token": f"tok-{interaction_id}",
            "version": 1,
            "attachment_size_limit": 8 * 1024 * 1024,
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)} if guild_id else {"1": str(user_id)},
        }
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            perms = str((permissions or discord.Permissions.none()).value)
            payload["guild_id"] = str(guild_id)
            payload["guild_locale"] = "en-US"
            payload["context"] = 0
            payload["channel"] = {
                "id": str(channel_id),
                "type": 0,
                "guild_id": str(guild_id),
                "name": "alerts",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
            payload["channel_id"] = str(channel_id)
            payload["member"] = {
                "user": user,
                "roles": [],
                "joined_at": "2024-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": perms,
                "nick": None,
            }
            payload["app_permissions"] = str(discord.Permissions.all().value)
        else:
            payload["context"] = 1
            payload["channel"] = {"id": str(channel_id), "type": 1, "recipients": [user], "last_message_id": None}
            payload["channel_id"] = str(channel_id)
            payload["user"] = user
            payload["app_permissions"] = str(discord.Permissions.all().value)
        return payload

    def component(
        self,
        message: Mapping[str, Any],
        custom_id: str,
        *,
        values: list[str] | None = None,
        component_type: int = _BUTTON,
        **where: Any,
    ) -> dict[str, Any]:
        """A press of a button (or a choice in a select menu, with `values`) on `message`, as Discord
        sends it: type 3 with `data.custom_id`, `data.component_type` and the whole message."""
        payload = self.interaction("", **where)
        payload["type"] = MESSAGE_COMPONENT
        payload["data"] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            payload["data"]["values"] = values
        payload["message"] = dict(message)
        return payload

    def modal_submit(
        self, custom_id: str, fields: Mapping[str, str], *, message: Mapping[str, Any] | None = None, **where: Any
    ) -> dict[str, Any]:
        """A submitted modal: type 5 with each text input in its own action row, as Discord sends it;
        with `message` when the modal was opened from a component of that message."""
        payload = self.interaction("", **where)
        payload["type"] = MODAL_SUBMIT
        rows = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in fields.items()]
        payload["data"] = {"custom_id": custom_id, "components": rows}
        if message is not None:
            payload["message"] = dict(message)
        return payload

    async def press(self, message: Mapping[str, Any], custom_id: str, **where: Any) -> Reply:
        return await self.send_interaction(self.component(message, custom_id, **where))

    async def choose(self, message: Mapping[str, Any], custom_id: str, values: list[str], **where: Any) -> Reply:
        """A choice in a select menu of `message`."""
        payload = self.component(message, custom_id, values=values, component_type=SELECT, **where)
        return await self.send_interaction(payload)

    async def submit(
        self, custom_id: str, fields: Mapping[str, str], *, message: Mapping[str, Any] | None = None, **where: Any
    ) -> Reply:
        return await self.send_interaction(self.modal_submit(custom_id, fields, message=message, **where))

    async def send_interaction(self, payload: Mapping[str, Any], *, timeout: float = 10.0) -> Reply:
        """Dispatch INTERACTION_CREATE and wait for the bot's callback (and its quick follow-ups)."""
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[str(payload["id"])] = waiter
        await self.dispatch("INTERACTION_CREATE", payload)
        reply = await asyncio.wait_for(waiter, timeout)
        if reply.type == 5:  # deferred: the answer comes as an edit of the original message
            followed = self._followed_up.setdefault(str(payload["token"]), asyncio.Event())
            await asyncio.wait_for(followed.wait(), timeout)
        return reply

    async def slash(self, subcommand: str, options: Mapping[str, object] | None = None, **where: Any) -> Reply:
        return await self.send_interaction(self.interaction(subcommand, options, **where))

    async def autocomplete(
        self, subcommand: str, options: Mapping[str, object], *, focused: str, **where: Any
    ) -> Reply:
        payload = self.interaction(subcommand, options, kind=AUTOCOMPLETE, focused=focused, **where)
        return await self.send_interaction(payload)

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

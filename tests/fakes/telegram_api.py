"""A local Telegram Bot API: the wire protocol python-telegram-bot speaks, on 127.0.0.1.

    async with FakeTelegramApi() as api:
        bot = telegram.Bot(token=api.token, base_url=api.base_url)
        api.fail_next("sendMessage", status=429, retry_after=3)          # flood control once
        api.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user",
                      chat_id=42)                                          # only for chat 42
        api.push_update(api.message_update(chat_id=42, user_id=42, text="/start"))
        ...
        api.sent           # [SentMessage(chat_id, text, parse_mode, at)] in order
        api.calls          # [(method, params)] for every call

    For bots (group admins, inline buttons):
        api.set_member(chat_id=-100, user_id=7, status="administrator")   # getChatMember answers
        api.push_update(api.message_update(chat_id=-100, user_id=7, text="/list"))  # a group
        api.push_update(api.callback_update(chat_id=42, user_id=42, data="...", message_id=m))
        api.edits          # [SentMessage] of editMessageText / editMessageReplyMarkup
        api.deleted        # [(chat_id, message_id)] of every deleteMessage that succeeded
        api.fail_next("deleteMessage", status=400, description="Bad Request: message can't be deleted")
        api.set_member(chat_id=-100, user_id=api.bot_id, status="administrator", can_delete_messages=False)
        api.push_update(api.my_chat_member_update(chat_id=-100, user_id=7, old="left", new="member"))
        api.command_scopes # {"all_private_chats": [{"command", "description"}], ...} from setMyCommands
        api.descriptions   # {"description": ..., "short_description": ...}
        await api.wait_sent(3)                                            # until 3 were sent
        api.conflicts      # [monotonic time] of every getUpdates that came while another was open
        api.pollers        # how many getUpdates are open now (connected clients only)

Requests are `POST /bot{token}/{method}` with form fields (strings raw, everything else JSON) or
a JSON body; replies are `{"ok": true, "result": ...}`. `getUpdates` holds an empty answer for its
`timeout` unless an update is pushed meanwhile. Commands get a `bot_command` entity.
Like Telegram, a getUpdates that arrives while another one is still open (its client connected)
terminates the older one with 409 Conflict ("terminated by other getUpdates request"), and the
fake records it in `conflicts`: two pollers of one bot are a bug a test can assert away.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from typing import Any

import msgspec
from aiohttp import web

from mempools.web import serve_app


class SentMessage(msgspec.Struct, kw_only=True):
    chat_id: int | str
    text: str
    parse_mode: str | None
    at: float  # time.monotonic()
    params: dict[str, Any]
    message_thread_id: int | None = None  # the forum topic it was sent to
    disable_notification: bool = False  # sent without a sound (silent subscription, quiet hours)


class _Failure(msgspec.Struct, kw_only=True):
    method: str
    status: int
    description: str
    retry_after: int | None
    chat_id: int | None
    times: int
    migrate_to_chat_id: int | None = None


def _decode_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _connected(request: web.BaseRequest) -> bool:
    """The client of `request` has not gone away (an abandoned long poll does not count)."""
    transport = request.transport
    return transport is not None and not transport.is_closing()


class FakeTelegramApi:
    def __init__(self, token: str = "123456:TEST", username: str = "mempools_test_bot") -> None:
        self.token = token
        self.username = username
        self.bot_id = int(token.split(":", 1)[0])
        self.sent: list[SentMessage] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        #: The commands a private chat sees (setMyCommands without a scope, or for all private chats).
        self.commands: list[dict[str, Any]] = []
        self.command_scopes: dict[str, list[dict[str, Any]]] = {}
        self.descriptions: dict[str, str] = {}
        self.edits: list[SentMessage] = []
        self.members: dict[tuple[int, int], str] = {}
        #: (chat, user) administrators without the right to delete others' messages.
        self.cannot_delete: set[tuple[int, int]] = set()
        self.deleted: list[tuple[int, int]] = []
        #: While an Event is here, sendMessage requests wait for it before the message counts as
        #: sent (a crash test kills the sender while its request is held; it never completes).
        self.hold_sends: asyncio.Event | None = None
        self._sent_changed = asyncio.Event()
        self._failures: list[_Failure] = []
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._update_arrived = asyncio.Event()
        self.conflicts: list[float] = []
        self._open_polls: dict[int, tuple[web.BaseRequest, asyncio.Event]] = {}  # open getUpdates: "terminate it"
        self._poll_ids = itertools.count()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- programming ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """The next `times` calls of `method` (for `chat_id` if given) fail with `status`.

        `migrate_to_chat_id`: answer as Telegram does for a group that became a supergroup."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after}",
                403: "Forbidden: bot was blocked by the user",
                400: "Bad Request: chat not found",
            }.get(status, "Internal Server Error")
        self._failures.append(
            _Failure(
                method=method, status=status, description=description, retry_after=retry_after,
                chat_id=chat_id, times=times, migrate_to_chat_id=migrate_to_chat_id,
            )
        )  # fmt: skip

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (an `update_id` is assigned if missing)."""
        update.setdefault("update_id", next(self._update_ids))
        self._updates.append(update)
        self._update_arrived.set()

    def message_update(
        self,
        *,
        chat_id: int,
        user_id: int,
        text: str,
        username: str = "alice",
        chat_type: str | None = None,
        title: str | None = None,
        reply_to: int | None = None,
        message_thread_id: int | None = None,
    ) -> dict[str, Any]:
        """A text message update (private chat for a positive id, else a group); a leading /command
        gets its `bot_command` entity. `reply_to`: the id of a bot message this one answers.
        `message_thread_id`: sent in that topic of a forum supergroup (as Telegram marks it)."""
        kind = chat_type or ("private" if chat_id > 0 else "group")
        chat: dict[str, Any] = {"id": chat_id, "type": kind, "username": username}
        if kind != "private":
            chat = {"id": chat_id, "type": kind, "title": title or "Test group"}
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": username, "username": username},
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if reply_to is not None:
            message["reply_to_message"] = self._bot_message(chat, reply_to, "")
        if message_thread_id is not None:
            chat["is_forum"] = True
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        return {"update_id": next(self._update_ids), "message": message}

    def callback_update(
        self,
        *,
        chat_id: int,
        user_id: int,
        data: str,
        message_id: int,
        username: str = "alice",
        chat_type: str | None = None,
    ) -> dict[str, Any]:
        """A press on an inline button of the bot's message `message_id` in `chat_id`."""
        kind = chat_type or ("private" if chat_id > 0 else "group")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind != "private":
            chat["title"] = "Test group"
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": {"id": user_id, "is_bot": False, "first_name": username, "username": username},
                "chat_instance": str(chat_id),
                "data": data,
                "message": {**self._bot_message(chat, message_id, ""), **self._markup_of(message_id)},
            },
        }

    def _markup_of(self, message_id: int) -> dict[str, Any]:
        """The pressed message's buttons as last sent or edited: Telegram hands them back with a press."""
        markup = None
        for message in (*self.sent, *self.edits):
            if message.params.get("message_id") == message_id and "reply_markup" in message.params:
                markup = message.params["reply_markup"]
        return {"reply_markup": markup} if isinstance(markup, dict) else {}

    def my_chat_member_update(
        self, *, chat_id: int, user_id: int, old: str, new: str, chat_type: str = "group"
    ) -> dict[str, Any]:
        """The bot's own status in `chat_id` changed from `old` to `new` (user `user_id` did it)."""
        bot = {"id": self.bot_id, "is_bot": True, "first_name": "Mempools", "username": self.username}

        def member(status: str) -> dict[str, Any]:
            extra: dict[str, Any] = {"until_date": 0} if status == "kicked" else {}
            if status == "administrator":
                extra = {
                    "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                    "can_delete_messages": True, "can_manage_video_chats": True, "can_restrict_members": True,
                    "can_promote_members": False, "can_change_info": True, "can_invite_users": True,
                    "can_post_stories": False, "can_edit_stories": False, "can_delete_stories": False,
                }  # fmt: skip
            return {"status": status, "user": bot, **extra}

        return {
            "update_id": next(self._update_ids),
            "my_chat_member": {
                "chat": {"id": chat_id, "type": chat_type, "title": "Test group"},
                "from": {"id": user_id, "is_bot": False, "first_name": "alice", "username": "alice"},
                "date": int(time.time()),
                "old_chat_member": member(old),
                "new_chat_member": member(new),
            },
        }

    def set_member(self, *, chat_id: int, user_id: int, status: str, can_delete_messages: bool = True) -> None:
        """What getChatMember answers for (chat, user): creator, administrator, member, left, ...
        (`can_delete_messages`: an administrator's right to delete other members' messages)."""
        self.members[(chat_id, user_id)] = status
        if can_delete_messages:
            self.cannot_delete.discard((chat_id, user_id))
        else:
            self.cannot_delete.add((chat_id, user_id))

    async def wait_sent(self, count: int, timeout: float = 5.0) -> list[SentMessage]:
        """Wait until at least `count` messages were sent; returns `sent`."""
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self._sent_changed.clear()
                await self._sent_changed.wait()
        return self.sent

    def _bot_message(self, chat: dict[str, Any], message_id: int, text: str) -> dict[str, Any]:
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Mempools", "username": self.username},
            "text": text,
        }

    # -- server ---------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body) if isinstance(body, dict) else {}
        form = await request.post()
        return {k: _decode_value(v) if isinstance(v, str) else v for k, v in form.items()}

    def _failure_for(self, method: str, params: dict[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.method == method and (failure.chat_id is None or params.get("chat_id") == failure.chat_id):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        params = await self._params(request)
        if method == "sendMessage" and "text" in params and not isinstance(params["text"], str):
            params["text"] = json.dumps(params["text"])  # a numeric text was JSON-decoded: keep it text
        self.calls.append((method, params))
        failure = self._failure_for(method, params)
        if failure is not None:
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            if failure.migrate_to_chat_id is not None:
                body["parameters"] = {"migrate_to_chat_id": failure.migrate_to_chat_id}
            return web.json_response(body, status=failure.status)
        if method == "getMe":
            return self._ok(
                {
                    "id": self.bot_id, "is_bot": True, "first_name": "Mempools", "username": self.username,
                    "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
                }
            )  # fmt: skip
        if method in ("deleteWebhook", "setMyCommands", "answerCallbackQuery"):
            if method == "setMyCommands":
                scope = (params.get("scope") or {}).get("type", "default")
                self.command_scopes[scope] = list(params.get("commands", []))
                if scope in ("default", "all_private_chats"):
                    self.commands = self.command_scopes[scope]
            return self._ok(True)
        if method in ("setMyDescription", "setMyShortDescription"):
            key = "description" if method == "setMyDescription" else "short_description"
            self.descriptions[key] = str(params.get(key, ""))
            return self._ok(True)
        if method == "getMyCommands":
            return self._ok(self.commands)
        if method == "getUpdates":
            return await self._get_updates(request, params)
        if method == "sendMessage":
            gate = self.hold_sends
            if gate is not None:  # held: the request arrived, Telegram has not taken the message yet
                await gate.wait()
            return self._ok(self._send_message(params))
        if method in ("editMessageText", "editMessageReplyMarkup"):
            return self._ok(self._edit_message(params))
        if method == "getChatMember":
            return self._ok(self._chat_member(params))
        if method == "deleteMessage":
            self.deleted.append((int(params.get("chat_id") or 0), int(params.get("message_id") or 0)))
            return self._ok(True)
        if method == "getChatAdministrators":
            chat_id = params.get("chat_id")
            admins = [
                self._chat_member({"chat_id": c, "user_id": u})
                for (c, u), status in self.members.items()
                if c == chat_id and status in ("creator", "administrator")
            ]
            return self._ok(admins)
        return web.json_response(
            {"ok": False, "error_code": 404, "description": f"Not Found: method {method} not implemented"}, status=404
        )

    @property
    def pollers(self) -> int:
        """getUpdates requests open now whose client is still connected."""
        return sum(1 for request, _ in self._open_polls.values() if _connected(request))

    async def _get_updates(self, request: web.BaseRequest, params: dict[str, Any]) -> web.Response:
        others = [terminate for other, terminate in self._open_polls.values() if _connected(other)]
        if others:
            self.conflicts.append(time.monotonic())
            for terminate in others:
                terminate.set()
        terminated = asyncio.Event()
        poll = next(self._poll_ids)
        self._open_polls[poll] = (request, terminated)
        try:
            offset = int(params.get("offset") or 0)
            while self._updates and self._updates[0]["update_id"] < offset:
                self._updates.popleft()
            if not self._updates:
                self._update_arrived.clear()
                timeout = float(params.get("timeout") or 0)
                if timeout > 0:
                    waits = {
                        asyncio.ensure_future(self._update_arrived.wait()),
                        asyncio.ensure_future(terminated.wait()),
                    }
                    _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    for wait in pending:
                        wait.cancel()
            if terminated.is_set():
                description = (
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
                )
                return web.json_response({"ok": False, "error_code": 409, "description": description}, status=409)
            limit = int(params.get("limit") or 100)
            return self._ok([u for u in self._updates if u["update_id"] >= offset][:limit])
        finally:
            del self._open_polls[poll]

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        text = str(params.get("text", ""))
        message_id = next(self._message_ids)
        params["message_id"] = message_id
        topic = params.get("message_thread_id")
        topic = int(topic) if topic is not None else None
        self.sent.append(
            SentMessage(
                chat_id=chat_id,
                text=text,
                parse_mode=params.get("parse_mode"),
                at=time.monotonic(),
                params=params,
                message_thread_id=topic,
                disable_notification=params.get("disable_notification") is True,
            )
        )
        self._sent_changed.set()
        sent: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Mempools", "username": self.username},
            "text": text,
        }
        if topic is not None:
            sent.update(message_thread_id=topic, is_topic_message=True)
        return sent

    def _edit_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        text = str(params.get("text", ""))
        self.edits.append(
            SentMessage(
                chat_id=chat_id, text=text, parse_mode=params.get("parse_mode"), at=time.monotonic(), params=params
            )
        )
        return self._bot_message({"id": chat_id, "type": "private"}, int(params.get("message_id") or 0), text)

    def _chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, user_id = params.get("chat_id"), int(params.get("user_id") or 0)
        status = self.members.get((chat_id, user_id), "member")  # type: ignore[arg-type]
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
        }
        if status == "administrator":
            member |= {
                "can_be_edited": False, "is_anonymous": False, "can_manage_chat": True,
                "can_manage_video_chats": True, "can_restrict_members": True, "can_promote_members": False,
                "can_delete_messages": (chat_id, user_id) not in self.cannot_delete,
                "can_change_info": True, "can_invite_users": True, "can_post_stories": False,
                "can_edit_stories": False, "can_delete_stories": False,
            }  # fmt: skip
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "restricted":
            member |= {"is_member": True, "until_date": 0}
        elif status == "kicked":
            member["until_date"] = 0
        return member

    async def start(self) -> FakeTelegramApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner, self.port = await serve_app(app)
        return self

    async def stop(self) -> None:
        self._update_arrived.set()
        for _, terminate in self._open_polls.values():
            terminate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeTelegramApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

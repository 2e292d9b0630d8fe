"""Set-up for the Telegram bot tests: the real Application polling the local fake Bot API.

`BotRig` = fake Bot API + a real RocksDB store with the real services + the `TelegramFrontDoor`.
`say()` pushes a message as a user would and returns the bot's new messages; `press()` presses an
inline button of a message the bot sent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bot.telegram import TelegramFrontDoor
from core.config import Config, Secret, TelegramConfig
from core.dispatch.ratelimit import RateLimiter
from core.monitor.facts import ChainQueries
from core.services.clock import Clock, utcnow
from tests.apikit import Env
from tests.fakes.telegram_api import FakeTelegramApi, SentMessage
from tests.polling import until


def buttons(message: SentMessage) -> list[tuple[str, str]]:
    """(label, callback_data) of every inline button of a sent or edited message."""
    markup = message.params.get("reply_markup") or {}
    return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]


def button(message: SentMessage, label_part: str) -> str:
    found = [data for label, data in buttons(message) if label_part in label]
    assert found, f"no button {label_part!r} in {buttons(message)}"
    return found[0]


class BotRig:
    def __init__(
        self,
        path: Path,
        api: FakeTelegramApi,
        config: Config | None = None,
        clock: Clock = utcnow,
        chain_queries: Callable[[str], ChainQueries | None] | None = None,
        **options: Any,
    ) -> None:
        self.api = api
        self.path = path
        self.env = Env(path, config=config, clock=clock, chain_queries=chain_queries)
        self.options = {"clock": clock, **options}  # the bot's flows run on the same clock
        self.door = self._door()
        #: (chat_id, message_id) of every message `say()` sent as a user, in order.
        self.said: list[tuple[int, int]] = []

    def _door(self) -> TelegramFrontDoor:
        tg = TelegramConfig(token=Secret(self.api.token), api_url=f"http://127.0.0.1:{self.api.port}")
        # Replies unthrottled unless a test passes its own limiter (tests/test_telegram_ratelimit.py):
        # Telegram's 1 s per chat would make every multi-step flow a slow test.
        unthrottled = RateLimiter(per_key_interval=0.0, global_rate=0.0)
        options = {"poll_timeout": 0.5, "limiter": unthrottled, **self.options}
        return TelegramFrontDoor(
            tg, self.env.services,
            **options,
        )  # fmt: skip

    async def restart(self) -> None:
        """Stop the Application and build a new front door over the same store."""
        await self.door.stop()
        self.door = self._door()
        await self.door.start()

    async def say(
        self, text: str, *, chat_id: int = 42, user_id: int = 42, expect: int = 1, **kw: Any
    ) -> list[SentMessage]:
        """Send `text` as a user; returns the `expect` new messages of the bot (with `expect=0`,
        whatever it sent once it has handled the update: a test asserts that this is nothing)."""
        before = len(self.api.sent)
        update = self.api.message_update(chat_id=chat_id, user_id=user_id, text=text, **kw)
        self.said.append((chat_id, int(update["message"]["message_id"])))
        self.api.push_update(update)
        if expect == 0:
            await self.settled(chat_id)
        await self.api.wait_sent(before + expect)
        return self.api.sent[before:]

    async def press(
        self, data: str, *, message: SentMessage, user_id: int | None = None, chat_type: str | None = None
    ) -> dict[str, Any]:
        """Press a button; returns the bot's answerCallbackQuery parameters (edits land in api.edits)."""
        chat_id = int(message.chat_id)
        update = self.api.callback_update(
            chat_id=chat_id,
            user_id=user_id if user_id is not None else chat_id,
            data=data,
            message_id=int(message.params["message_id"]),
            chat_type=chat_type,
        )
        self.api.push_update(update)
        answers = await self._answers(update["callback_query"]["id"])
        await self.settled(chat_id)  # the edit that follows the answer
        return answers[0]

    async def settled(self, chat_id: int = 42) -> None:
        """Wait until the bot has handled every update pushed so far.

        The front door handles updates one at a time, in order; a press on a button it did not
        make is answered with an alert and nothing else, so once that press is answered, all
        that came before it (edits, messages) is done. A positive signal instead of a sleep."""
        probe = self.api.callback_update(chat_id=chat_id, user_id=chat_id, data="settled?", message_id=1)
        self.api.push_update(probe)
        [answer] = await self._answers(probe["callback_query"]["id"])
        assert answer["text"] == "This button is not valid here.", answer

    async def _answers(self, query_id: str) -> list[dict[str, Any]]:
        answers: list[dict[str, Any]] = []

        def answered() -> bool:
            answers[:] = [
                p for m, p in self.api.calls if m == "answerCallbackQuery" and str(p["callback_query_id"]) == query_id
            ]
            return bool(answers)

        await until(answered)
        return answers

    def close(self) -> None:
        self.env.close()


@contextlib.asynccontextmanager
async def running_rig(path: Path, api: FakeTelegramApi, **kwargs: Any) -> AsyncIterator[BotRig]:
    """A started BotRig, stopped and closed afterwards (the body of every `rig` fixture)."""
    rig = BotRig(path, api, **kwargs)
    await rig.door.start()
    try:
        yield rig
    finally:
        await rig.door.stop()
        rig.close()

"""From a Telegram update to a `ChatContext`, and back to a reply.

`AdminCache` answers "is this user an administrator of this group?" with `getChatMember`,
remembered briefly (60 s) so a burst of button presses costs one request, while a demoted admin
loses the right within a minute (and, as briefly, whether the bot may delete members' messages).
`Replier` sends HTML replies within the bot's rate limits and rides out flood control once.
"""

from __future__ import annotations

import logging
import time

import telegram
from telegram import Chat, ChatMemberAdministrator, Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import Forbidden, RetryAfter, TelegramError

from bot.actions import ChatContext
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.telegram import retry_seconds

log = logging.getLogger("mempools.bot.telegram")

GROUP_TYPES = (Chat.GROUP, Chat.SUPERGROUP)
_ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
#: Longest flood-control wait a reply sits out; a longer one drops the reply (it is logged).
MAX_REPLY_WAIT = 30.0

ReplyMarkup = telegram.InlineKeyboardMarkup | telegram.ForceReply | None


class AdminCache:
    """Per (chat, user): administrator or not, for `ttl` seconds; and per group whether the bot
    itself may delete members' messages (`bot_can_delete`), for as long."""

    def __init__(self, bot: telegram.Bot, *, ttl: float = 60.0) -> None:
        self._bot = bot
        self._ttl = ttl
        self._known: dict[tuple[int, int], tuple[float, bool]] = {}
        self._can_delete: dict[int, tuple[float, bool]] = {}

    async def bot_can_delete(self, chat_id: int) -> bool:
        """Is the bot an administrator of the group with `can_delete_messages`? Asked once per
        `ttl`, so a flow's typed answers do not each cost a getChatMember; unknown means no."""
        now = time.monotonic()
        cached = self._can_delete.get(chat_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            member = await self._bot.get_chat_member(chat_id, self._bot.id)
        except TelegramError as exc:
            log.info("getChatMember (the bot itself) failed for chat %s: %s", chat_id, exc)
            return False
        allowed = isinstance(member, ChatMemberAdministrator) and bool(member.can_delete_messages)
        if len(self._can_delete) > 10_000:
            self._can_delete.clear()
        self._can_delete[chat_id] = (now, allowed)
        return allowed

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        now = time.monotonic()
        cached = self._known.get((chat_id, user_id))
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            member = await self._bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.warning("getChatMember failed for chat %s: %s", chat_id, exc)
            return False  # unknown: the safe answer; not cached, so the next try asks again
        admin = member.status in _ADMIN_STATUSES
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[(chat_id, user_id)] = (now, admin)
        return admin


async def chat_context(update: Update, admins: AdminCache, *, need_admin: bool) -> ChatContext | None:
    """Who is acting where; None for updates without a person (channel posts, service messages).

    `need_admin`: ask Telegram whether the user administers the group (only mutating commands
    pay for that request). An anonymous admin posting as the group counts as an admin.
    """
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type == Chat.CHANNEL:
        return None
    is_group = chat.type in GROUP_TYPES
    message = update.effective_message
    # Only a message in a forum topic names one: `message_thread_id` is also set on replies in
    # an ordinary group, where it is the thread of the message replied to, not a topic.
    in_topic = message is not None and bool(message.is_topic_message) and message.message_thread_id is not None
    admin = False
    if is_group and need_admin:
        sender_chat = message.sender_chat if message is not None else None
        admin = (sender_chat is not None and sender_chat.id == chat.id) or await admins.is_admin(chat.id, user.id)
    return ChatContext(
        platform="telegram",
        user_id=user.id,
        chat_id=chat.id,
        username=user.username or user.first_name,
        is_group=is_group,
        is_admin=admin,
        chat_title=chat.title if is_group else None,
        message_thread_id=message.message_thread_id if in_topic and message is not None else None,
    )


class Replier:
    """Sends the bot's answers: HTML, no link previews, one wait-and-retry on flood control.

    Every send and edit first takes its slot from `limiter`, the bot's one rate limiter that the
    dispatcher's `TelegramChannel` uses too, so replies and deliveries together stay within
    Telegram's limits (and a 429 slows both down).
    """

    def __init__(self, bot: telegram.Bot, limiter: RateLimiter, *, max_wait: float = MAX_REPLY_WAIT) -> None:
        self._bot = bot
        self._limiter = limiter
        self._max_wait = max_wait

    async def _slot(self, chat_id: int) -> bool:
        """Wait for the chat's next slot; False (and logged) if that is longer than a reply waits."""
        wait = self._limiter.delay(chat_id)
        if wait > self._max_wait:
            log.warning("reply to chat %s dropped: flood control asks for %.0f s", chat_id, wait)
            return False
        await self._limiter.acquire(chat_id)
        return True

    async def send(
        self, chat_id: int, text: str, markup: ReplyMarkup = None, *, message_thread_id: int | None = None
    ) -> telegram.Message | None:
        """Send to the chat (`message_thread_id`: into that forum topic); None if it was not sent."""
        for attempt in range(2):
            if not await self._slot(chat_id):
                return None
            try:
                return await self._bot.send_message(
                    chat_id=chat_id,
                    message_thread_id=message_thread_id,
                    text=text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
                )
            except RetryAfter as exc:
                wait = retry_seconds(exc)
                self._limiter.penalize(chat_id, wait)  # the next slot (this retry's too) waits it out
                if attempt or wait > self._max_wait:
                    log.warning("reply to chat %s dropped: flood control asks for %.0f s", chat_id, wait)
                    return None
            except Forbidden as exc:
                # Blocked or removed: nothing to answer. The dispatcher disables the chat's
                # destination on its next delivery; /start after unblocking enables it again.
                log.info("reply to chat %s refused: %s", chat_id, exc.message)
                return None
        return None

    async def delete(self, chat_id: int, message_id: int) -> bool:
        """Delete a message (a typed answer the flow's message now shows, a spent prompt); False
        when Telegram refuses (too old, no right, already gone). Never an error for the user: the
        chat just keeps one message more. No rate-limit slot: a delete posts nothing to the chat,
        and waiting for one would delay the reply that matters."""
        try:
            return await self._bot.delete_message(chat_id=chat_id, message_id=message_id)
        except TelegramError as exc:
            log.debug("deleting message %s in chat %s refused (%s)", message_id, chat_id, exc)
            return False

    async def edit_buttons(
        self, message: telegram.MaybeInaccessibleMessage | None, markup: telegram.InlineKeyboardMarkup | None
    ) -> None:
        """Replace only the buttons of a bot message (a notification's after [Pause]); its text,
        which the bot did not keep, stays. A failed edit is logged: the press was answered."""
        if message is None or not await self._slot(message.chat.id):
            return
        try:
            await self._bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup
            )
        except TelegramError as exc:
            if "message is not modified" not in str(exc).lower():
                log.info("editing the buttons in chat %s failed (%s)", message.chat.id, exc)

    async def edit(self, message: telegram.MaybeInaccessibleMessage | None, text: str, markup: ReplyMarkup) -> None:
        """Replace a bot message (a list after a button press); a failed edit sends a new one."""
        if message is None:
            return
        await self.edit_id(message.chat.id, message.message_id, text, markup)

    async def edit_id(
        self, chat_id: int, message_id: int, text: str, markup: ReplyMarkup, *, message_thread_id: int | None = None
    ) -> int | None:
        """`edit` by ids (a flow's message after a typed answer, when no message object is at
        hand); returns the id of the message now showing `text` (a new one if the edit failed)."""
        inline = markup if isinstance(markup, telegram.InlineKeyboardMarkup) else None
        if not await self._slot(chat_id):
            return None
        try:
            await self._bot.edit_message_text(
                chat_id=chat_id,
                message_id=message_id,
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=inline,
                link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
            )
        except TelegramError as exc:
            if "message is not modified" in str(exc).lower():
                return message_id
            log.info("edit in chat %s failed (%s); sending anew", chat_id, exc)
            sent = await self.send(chat_id, text, markup, message_thread_id=message_thread_id)
            return sent.message_id if sent is not None else None
        return message_id

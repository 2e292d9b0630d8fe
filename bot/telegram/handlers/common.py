"""What every handler needs: the actions, the flow store, keyboards, and a safe way to answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.actions import ChatActions, ChatContext
from bot.callbacks import CallbackSigner
from bot.telegram.chat import AdminCache, Replier, ReplyMarkup, chat_context
from bot.telegram.flows import FlowStore
from bot.telegram.format import error_text
from bot.telegram.keyboards import Keyboards
from core.errors import MempoolsError
from core.services.clock import Clock, utcnow

log = logging.getLogger("mempools.bot.telegram")

#: PTB's Application is generic in six types (bot, context, user/chat/bot data, job queue); the
#: front door uses the defaults and the handlers do not depend on them.
TelegramApp = Application[Any, Any, Any, Any, Any, Any]


@dataclass(frozen=True, slots=True)
class Toolkit:
    actions: ChatActions
    flows: FlowStore
    keyboards: Keyboards
    signer: CallbackSigner
    replier: Replier
    admins: AdminCache
    clock: Clock = utcnow  # relative times (/history, cards) and flow expiry read it

    async def context(self, update: Update, *, admin: bool = False) -> ChatContext | None:
        return await chat_context(update, self.admins, need_admin=admin)

    async def reply(self, update: Update, text: str, markup: ReplyMarkup = None) -> int | None:
        """Answer in the update's chat (and forum topic); returns the sent message's id (None if it
        was not sent)."""
        chat, message = update.effective_chat, update.effective_message
        if chat is None:
            return None
        topic = message.message_thread_id if message is not None and message.is_topic_message else None
        sent = await self.replier.send(chat.id, text, markup, message_thread_id=topic)
        return sent.message_id if sent is not None else None

    async def fail(self, update: Update, exc: MempoolsError) -> None:
        await self.reply(update, error_text(exc))


def command_argument(update: Update) -> str:
    """Everything after `/command` (or `/command@bot`), as typed; "" when there is nothing."""
    message = update.effective_message
    text = message.text if message is not None and message.text else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""

"""The bot's own membership changing (`my_chat_member`): a group that adds the bot is greeted.

Telegram sends `my_chat_member` for every change of the bot's status in a chat. Only the step
from outside the group (left / kicked) to inside it (member / administrator) gets the greeting,
so a promotion to administrator, or a re-delivered update about one, does not repeat it.
"""

from __future__ import annotations

from telegram import ChatMember, Update
from telegram.ext import ChatMemberHandler, ContextTypes

from bot.telegram.chat import GROUP_TYPES
from bot.telegram.format import group_greeting_text
from bot.telegram.handlers.common import TelegramApp, Toolkit

Ctx = ContextTypes.DEFAULT_TYPE
_OUTSIDE = (ChatMember.LEFT, ChatMember.BANNED)
_INSIDE = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR)


class MembershipHandlers:
    def __init__(self, kit: Toolkit) -> None:
        self.kit = kit

    def register(self, app: TelegramApp) -> None:
        app.add_handler(ChatMemberHandler(self.changed, ChatMemberHandler.MY_CHAT_MEMBER))

    async def changed(self, update: Update, _: Ctx) -> None:
        change = update.my_chat_member
        if change is None or change.chat.type not in GROUP_TYPES:
            return
        if change.old_chat_member.status in _OUTSIDE and change.new_chat_member.status in _INSIDE:
            await self.kit.reply(update, group_greeting_text())

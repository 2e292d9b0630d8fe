"""/start (and its `watch_<address>` deep links), /help, /chains, /history, /link, /test,
/cancel, unknown commands; a group becoming a supergroup. (/settings: handlers/settings.py.)"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from html import escape

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes, MessageHandler, filters

from bot.actions import MAX_HISTORY, ChatContext
from bot.telegram.flows import FlowExpiredError
from bot.telegram.format import (
    chains_text,
    help_text,
    history_text,
    start_problem_text,
    start_text,
)
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from core.errors import MempoolsError

Ctx = ContextTypes.DEFAULT_TYPE
log = logging.getLogger("mempools.bot.telegram")
#: `t.me/<bot>?start=watch_<address>` arrives as `/start watch_<address>`.
WATCH_LINK = "watch_"
#: Watch an address and reply; the error's text when it cannot (ManageHandlers.watch_address).
WatchAddress = Callable[[Update, ChatContext, str, str | None], Awaitable[str | None]]


class BasicHandlers:
    def __init__(self, kit: Toolkit, *, watch_address: WatchAddress) -> None:
        self.kit = kit
        self._watch_address = watch_address

    def register(self, app: TelegramApp) -> None:
        for name, callback in (
            ("start", self.start),
            ("help", self.help),
            ("chains", self.chains),
            ("history", self.history),
            ("link", self.link),
            ("test", self.test),
            ("cancel", self.cancel),
        ):
            app.add_handler(CommandHandler(name, callback))
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self.migrated))

    async def migrated(self, update: Update, _: Ctx) -> None:
        """The group became a supergroup under a new chat id; its account and deliveries follow."""
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:  # said in the old group
            old, new = message.chat.id, message.migrate_to_chat_id
        elif message.migrate_from_chat_id:  # said in the new supergroup
            old, new = message.migrate_from_chat_id, message.chat.id
        else:
            return
        await self.kit.actions.chat_moved(old, new)
        log.info("telegram chat %s is now %s", old, new)

    async def start(self, update: Update, _: Ctx) -> None:
        """Register; a deep link's payload (`watch_<address>`) then does what it says, and one
        that does not work gets a friendly word and the usual welcome instead of nothing."""
        payload = command_argument(update)
        ctx = await self.kit.context(update, admin=bool(payload))
        if ctx is None:
            return
        try:
            await self.kit.actions.start(ctx)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        chains = self.kit.actions.chains()
        example = f"{chains[0].bech32_prefix if chains else 'cosmos'}1…"
        if not payload:
            await self.kit.reply(update, start_text(example, group=ctx.is_group))
            return
        if payload.startswith(WATCH_LINK):
            problem = await self._watch_address(update, ctx, payload.removeprefix(WATCH_LINK), None)
            if problem is None:
                return
            problem = f"That link asked me to watch an address, but it did not work:\n{problem}"
        else:
            problem = "🤔 That link is not one I know, so here is the usual welcome."
        await self.kit.reply(update, start_problem_text(problem, example, group=ctx.is_group))

    async def help(self, update: Update, _: Ctx) -> None:
        await self.kit.reply(update, help_text())

    async def chains(self, update: Update, _: Ctx) -> None:
        await self.kit.reply(update, chains_text(self.kit.actions.chains()))

    async def history(self, update: Update, _: Ctx) -> None:
        ctx = await self.kit.context(update)
        if ctx is None:
            return
        arg = command_argument(update)
        if arg and not (arg.isascii() and arg.isdigit()):
            await self.kit.reply(update, f"⚠️ Usage: /history [n], n a number from 1 to {MAX_HISTORY}.")
            return
        try:
            items = await self.kit.actions.history(ctx, int(arg) if arg else 5)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        chains = {c.id: self.kit.actions.chain(c.id) for c in self.kit.actions.chains()}
        await self.kit.reply(update, history_text(items, chains, self.kit.clock()))

    async def link(self, update: Update, _: Ctx) -> None:
        ctx = await self.kit.context(update)
        if ctx is None:
            return
        try:
            account = await self.kit.actions.link(ctx, command_argument(update))
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        who = f" ({escape(account.email)})" if account.email else ""
        await self.kit.reply(
            update,
            f"🔗 Linked: this Telegram account now shares your Mempools account{who}. "
            "Your subscriptions and history are the same here and in the API.",
        )

    async def test(self, update: Update, _: Ctx) -> None:
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        try:
            await self.kit.actions.test(ctx)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        await self.kit.reply(update, "A test notification is on its way to this chat.")

    async def cancel(self, update: Update, _: Ctx) -> None:
        ctx = await self.kit.context(update)
        if ctx is None:
            return
        try:
            flow = await self.kit.flows.get(ctx.chat_id, ctx.user_id)
        except FlowExpiredError as exc:  # removed by the look; its message still shows buttons
            flow = exc.flow
        ended = await self.kit.flows.end(ctx.chat_id, ctx.user_id) or flow is not None
        if flow is not None and flow.message_id is not None:  # its buttons would only say "no longer active"
            await self.kit.replier.edit_id(ctx.chat_id, flow.message_id, "Cancelled.", None)
        if flow is not None and flow.prompt_id is not None:  # a group step's ForceReply, now moot
            await self.kit.replier.delete(ctx.chat_id, flow.prompt_id)
        await self.kit.reply(update, "Cancelled." if ended else "Nothing to cancel.")

    async def unknown(self, update: Update, _context: Ctx) -> None:
        """A command we do not have; one meant for another bot in a group is left alone."""
        message = update.effective_message
        if message is None or not message.text:
            return
        command = message.text.split(maxsplit=1)[0]
        _, at, target = command.partition("@")
        if at and target.lower() != (update.get_bot().username or "").lower():
            return
        shown = escape(command.split("@")[0][:40])
        await self.kit.reply(update, f"I don't know {shown}. Send /help for the commands.")

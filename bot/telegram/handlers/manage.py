"""/watch, /list, /pause, /resume, /unsubscribe, and the buttons under a list."""

from __future__ import annotations

from html import escape

from telegram import CallbackQuery, InlineKeyboardMarkup, Update
from telegram.ext import CommandHandler, ContextTypes

from bot.actions import ChainChoiceRequired, ChatContext
from bot.telegram.callbacks import Callback
from bot.telegram.format import created_text, error_text, list_text, plain_text
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from bot.telegram.keyboards import DELETE, DELETE_ASK, LIST, PAUSE, RESUME
from core.dispatch.telegram_buttons import (
    MUTE_FOR,
    MUTE_NOTIFIED,
    PAUSE_NOTIFIED,
    RESUME_NOTIFIED,
    notification_keyboard,
)
from core.errors import MempoolsError

Ctx = ContextTypes.DEFAULT_TYPE
LIST_VERBS = (PAUSE, RESUME, DELETE_ASK, DELETE, LIST)
NOTIFICATION_VERBS = (PAUSE_NOTIFIED, RESUME_NOTIFIED, MUTE_NOTIFIED)


class ManageHandlers:
    def __init__(self, kit: Toolkit) -> None:
        self.kit = kit

    def register(self, app: TelegramApp) -> None:
        app.add_handler(CommandHandler("watch", self.watch))
        app.add_handler(CommandHandler("list", self.list))
        app.add_handler(CommandHandler("pause", self.pause))
        app.add_handler(CommandHandler("resume", self.resume))
        app.add_handler(CommandHandler("unsubscribe", self.unsubscribe))

    def _chain_names(self) -> dict[str, str]:
        return {c.id: c.name for c in self.kit.actions.chains()}

    # -- /watch ----------------------------------------------------------------------------------
    async def watch(self, update: Update, _: Ctx) -> None:
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        args = command_argument(update).split()
        if not args or len(args) > 2:
            await self.kit.reply(
                update,
                "Usage: /watch &lt;address&gt; [chain id]\nExample: <code>/watch cosmos1…</code> — every transfer "
                "to or from the address is sent here.",
            )
            return
        problem = await self.watch_address(update, ctx, args[0], args[1] if len(args) == 2 else None)
        if problem is not None:
            await self.kit.reply(update, problem)

    async def watch_address(self, update: Update, ctx: ChatContext, address: str, chain_id: str | None) -> str | None:
        """Watch `address` and reply with the subscription (or ask which chain); the error's
        reply text when it cannot, for the caller to word around (`/watch` and `/start watch_…`)."""
        try:
            result = self.kit.actions.watch(ctx, address, chain_id)
        except ChainChoiceRequired as exc:
            flow = self.kit.flows.start(
                ctx.chat_id,
                ctx.user_id,
                "watch",
                "choose_chain",
                address=exc.address,
                choices=[c.id for c in exc.choices],
            )
            chains = [self.kit.actions.chain(c) for c in flow.choices]
            await self.kit.reply(
                update,
                f"<code>{escape(exc.address)}</code> is valid on several chains. Which one?",
                self.kit.keyboards.chains(flow, chains),
            )
            return None
        except MempoolsError as exc:
            return error_text(exc)
        await self.kit.reply(update, created_text(result.subscription, result.chain.name, existed=not result.created))
        return None

    # -- /list and its buttons ---------------------------------------------------------------------
    async def list(self, update: Update, _: Ctx) -> None:
        ctx = await self.kit.context(update)
        if ctx is None:
            return
        text, markup = self._listing(ctx)
        await self.kit.reply(update, text, markup)

    def _listing(self, ctx: ChatContext) -> tuple[str, InlineKeyboardMarkup | None]:
        subs = self.kit.actions.list(ctx)
        text = list_text(subs, self._chain_names(), group=ctx.is_group)
        return text, self.kit.keyboards.subscriptions(ctx.chat_id, subs)

    async def on_button(self, update: Update, query: CallbackQuery, callback: Callback) -> None:
        """Pause/resume/delete from a list; the list message is redrawn after each change."""
        ctx = await self.kit.context(update, admin=callback.verb != LIST)
        if ctx is None:
            await query.answer()
            return
        sub_id = callback.args[0] if callback.args else ""
        try:
            if callback.verb == PAUSE:
                sub = self.kit.actions.pause(ctx, sub_id)
                note = f"Paused {sub.name}"
            elif callback.verb == RESUME:
                sub = self.kit.actions.resume(ctx, sub_id)
                note = f"Resumed {sub.name}"
            elif callback.verb == DELETE_ASK:
                self.kit.actions.require_admin(ctx)
                sub = self.kit.actions.get(ctx, sub_id)
                await query.answer()
                await self.kit.replier.edit(
                    query.message,
                    f"Delete <b>{escape(sub.name)}</b>? Its past notifications stay in /history.",
                    self.kit.keyboards.confirm_delete(ctx.chat_id, sub),
                )
                return
            elif callback.verb == DELETE:
                sub = self.kit.actions.unsubscribe(ctx, sub_id)
                note = f"Deleted {sub.name}"
            else:
                note = ""
        except MempoolsError as exc:
            await query.answer(plain_text(error_text(exc)), show_alert=True)
            return
        await query.answer(note[:190] if note else None)
        text, markup = self._listing(ctx)
        await self.kit.replier.edit(query.message, text, markup)

    async def on_notification_button(self, update: Update, query: CallbackQuery, callback: Callback) -> None:
        """[Pause]/[Resume]/[Mute 1 h] under a notification: the same changes as /list's buttons
        (admins only in a group); after a pause or resume the message keeps its [Tx] link and
        shows the other toggle (a mute leaves the buttons as they are)."""
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            await query.answer()
            return
        sub_id = callback.args[0] if callback.args else ""
        try:
            if callback.verb == MUTE_NOTIFIED:
                sub = self.kit.actions.mute(ctx, sub_id, MUTE_FOR)
                await query.answer(f"Muted {sub.name} for 1 h"[:190])
                return
            pausing = callback.verb == PAUSE_NOTIFIED
            sub = self.kit.actions.pause(ctx, sub_id) if pausing else self.kit.actions.resume(ctx, sub_id)
        except MempoolsError as exc:
            await query.answer(plain_text(error_text(exc)), show_alert=True)
            return
        await query.answer(f"{'Paused' if pausing else 'Resumed'} {sub.name}"[:190])
        link = _url_button(query)
        markup = notification_keyboard(
            self.kit.signer, ctx.chat_id, subscription_id=sub.id, tx_url=link, paused=not sub.enabled
        )
        await self.kit.replier.edit_buttons(query.message, markup)

    # -- /pause, /resume, /unsubscribe ---------------------------------------------------------------
    async def _by_id(self, update: Update, verb: str) -> None:
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        arg = command_argument(update)
        if not arg:
            await self.kit.reply(update, f"Usage: /{verb} &lt;id&gt; — the ids are in /list.")
            return
        try:
            if verb == "pause":
                sub = self.kit.actions.pause(ctx, arg)
                text = f"⏸ Paused <b>{escape(sub.name)}</b>. /resume {escape(sub.id)} to start it again."
            elif verb == "resume":
                sub = self.kit.actions.resume(ctx, arg)
                text = f"▶️ Resumed <b>{escape(sub.name)}</b>."
            else:
                sub = self.kit.actions.unsubscribe(ctx, arg)
                text = f"🗑 Deleted <b>{escape(sub.name)}</b>. Its past notifications stay in /history."
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        await self.kit.reply(update, text)

    async def pause(self, update: Update, _: Ctx) -> None:
        await self._by_id(update, "pause")

    async def resume(self, update: Update, _: Ctx) -> None:
        await self._by_id(update, "resume")

    async def unsubscribe(self, update: Update, _: Ctx) -> None:
        await self._by_id(update, "unsubscribe")


def _url_button(query: CallbackQuery) -> str | None:
    """The [Tx] link of the pressed message's keyboard (Telegram sends it back with the message)."""
    message = query.message
    markup = getattr(message, "reply_markup", None)
    for row in markup.inline_keyboard if markup is not None else ():
        for button in row:
            if button.url:
                return button.url
    return None

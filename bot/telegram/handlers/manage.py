"""/watch, /list, /pause, /resume, /unsubscribe, and the buttons under a list.

/list shows a page of subscriptions (`format.PAGE_SIZE`, with arrows when there are more), each
a button opening its card: what it watches, when it last fired, how often, and Pause / Silence
(a silent subscription arrives without a sound; the same switch as /settings and /silent) /
Rename / Test / Delete. Every button carries its page, so the card's Back returns where the user was.
A button of a subscription deleted meanwhile says so and loses its keyboard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape

from telegram import CallbackQuery, Update
from telegram.ext import CommandHandler, ContextTypes

from bot.actions import ChainChoiceRequired, ChatContext
from bot.callbacks import Callback
from bot.telegram.cards import GONE, Screen, card_screen, list_screen
from bot.telegram.flows import Flow
from bot.telegram.format import created_text, error_text, plain_text
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from bot.telegram.keyboards import CARD, DELETE, DELETE_ASK, LIST, PAUSE, RENAME, RESUME, SILENCE, SOUND, TEST
from core.dispatch.telegram_buttons import (
    MUTE_FOR,
    MUTE_NOTIFIED,
    PAUSE_NOTIFIED,
    RESUME_NOTIFIED,
    notification_keyboard,
)
from core.errors import MempoolsError, NotFoundError

Ctx = ContextTypes.DEFAULT_TYPE
LIST_VERBS = (PAUSE, RESUME, SILENCE, SOUND, DELETE_ASK, DELETE, LIST, CARD, RENAME, TEST)
NOTIFICATION_VERBS = (PAUSE_NOTIFIED, RESUME_NOTIFIED, MUTE_NOTIFIED)


#: Shows a flow's current step on its message: the rename that a card's button starts is a flow
#: (`ConversationHandlers.show_step`), so its typed answer, Back and Cancel work like every step's.
ShowStep = Callable[[Update, Flow, ChatContext], Awaitable[None]]


class ManageHandlers:
    def __init__(self, kit: Toolkit, *, show_step: ShowStep) -> None:
        self.kit = kit
        self._show_step = show_step

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
            result = await self.kit.actions.watch(ctx, address, chain_id)
        except ChainChoiceRequired as exc:
            flow = await self.kit.flows.start(
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
        await self.kit.reply(update, *await list_screen(self.kit, ctx, 0))

    async def on_button(self, update: Update, query: CallbackQuery, callback: Callback) -> None:
        """A list page, a card, or a change from a card (the card is redrawn after it)."""
        ctx = await self.kit.context(update, admin=callback.verb not in (LIST, CARD))
        if ctx is None:
            await query.answer()
            return
        if callback.verb == LIST:
            await query.answer()
            await self.kit.replier.edit(query.message, *await list_screen(self.kit, ctx, _page(callback.args[:1])))
            return
        sub_id, page = (callback.args[0], _page(callback.args[1:])) if callback.args else ("", 0)
        try:
            note, screen = await self._change(update, query, ctx, callback.verb, sub_id, page)
        except NotFoundError:
            await query.answer(GONE, show_alert=True)
            await self.kit.replier.edit(query.message, GONE, None)
            return
        except MempoolsError as exc:
            await query.answer(plain_text(error_text(exc)), show_alert=True)
            return
        if screen is None:  # the rename flow has taken the message over
            return
        await query.answer(note[:190] if note else None)
        await self.kit.replier.edit(query.message, *screen)

    async def _change(
        self, update: Update, query: CallbackQuery, ctx: ChatContext, verb: str, sub_id: str, page: int
    ) -> tuple[str, Screen | None]:
        """Do what the button says; (the press's short answer, the screen to show next)."""
        if verb == PAUSE:
            sub = await self.kit.actions.pause(ctx, sub_id)
            return f"Paused {sub.name}", await card_screen(self.kit, ctx, sub.id, page)
        if verb == RESUME:
            sub = await self.kit.actions.resume(ctx, sub_id)
            return f"Resumed {sub.name}", await card_screen(self.kit, ctx, sub.id, page)
        if verb in (SILENCE, SOUND):
            sub = await self.kit.actions.set_silent(ctx, sub_id, verb == SILENCE)
            note = f"Silenced {sub.name}" if sub.silent else f"Sound on for {sub.name}"
            return note, await card_screen(self.kit, ctx, sub.id, page)
        if verb == TEST:
            sub = await self.kit.actions.test_subscription(ctx, sub_id)
            note = "A test notification is on its way to this chat."
            return note, await card_screen(self.kit, ctx, sub.id, page, f"🧪 {note}")
        if verb == DELETE_ASK:
            self.kit.actions.require_admin(ctx)
            sub = await self.kit.actions.get(ctx, sub_id)
            text = f"Delete <b>{escape(sub.name)}</b>? Its past notifications stay in /history."
            return "", Screen(text, self.kit.keyboards.confirm_delete(ctx.chat_id, sub, page))
        if verb == DELETE:
            sub = await self.kit.actions.unsubscribe(ctx, sub_id)
            return f"Deleted {sub.name}", await list_screen(self.kit, ctx, page)
        if verb == RENAME:
            self.kit.actions.require_admin(ctx)
            sub = await self.kit.actions.get(ctx, sub_id)
            message_id = query.message.message_id if query.message is not None else None
            flow = await self.kit.flows.start(
                ctx.chat_id, ctx.user_id, "rename", "name", subscription_id=sub.id, page=page, message_id=message_id
            )
            await query.answer()
            await self._show_step(update, flow, ctx)
            return "", None
        return "", await card_screen(self.kit, ctx, sub_id, page)  # CARD

    async def on_notification_button(self, update: Update, query: CallbackQuery, callback: Callback) -> None:
        """[Pause]/[Resume]/[Mute 1 h] under a notification: the same changes as /list's buttons
        (admins only in a group); after a pause or resume the message keeps its [Tx] link and
        shows the other toggle (a mute leaves the buttons as they are). Once the subscription is
        deleted a press says so and leaves [Tx] alone."""
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            await query.answer()
            return
        sub_id = callback.args[0] if callback.args else ""
        try:
            if callback.verb == MUTE_NOTIFIED:
                sub = await self.kit.actions.mute(ctx, sub_id, MUTE_FOR)
                await query.answer(f"Muted {sub.name} for 1 h"[:190])
                return
            pausing = callback.verb == PAUSE_NOTIFIED
            sub = await self.kit.actions.pause(ctx, sub_id) if pausing else await self.kit.actions.resume(ctx, sub_id)
        except NotFoundError:  # deleted since: nothing left to pause or mute, the tx still exists
            await query.answer(GONE, show_alert=True)
            tx_only = notification_keyboard(None, ctx.chat_id, subscription_id=sub_id, tx_url=_url_button(query))
            await self.kit.replier.edit_buttons(query.message, tx_only)
            return
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
                sub = await self.kit.actions.pause(ctx, arg)
                text = f"⏸ Paused <b>{escape(sub.name)}</b>. /resume {escape(sub.id)} to start it again."
            elif verb == "resume":
                sub = await self.kit.actions.resume(ctx, arg)
                text = f"▶️ Resumed <b>{escape(sub.name)}</b>."
            else:
                sub = await self.kit.actions.unsubscribe(ctx, arg)
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


def _page(args: tuple[str, ...]) -> int:
    """The page a button carries (signed, so only ever one we made; 0 if it carries none)."""
    return int(args[0]) if args and args[0].isascii() and args[0].isdigit() and len(args[0]) <= 4 else 0


def _url_button(query: CallbackQuery) -> str | None:
    """The [Tx] link of the pressed message's keyboard (Telegram sends it back with the message)."""
    message = query.message
    markup = getattr(message, "reply_markup", None)
    for row in markup.inline_keyboard if markup is not None else ():
        for button in row:
            if button.url:
                return button.url
    return None

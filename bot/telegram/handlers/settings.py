"""/settings (what this chat receives, its quiet hours, which subscriptions are silent), /silent,
and the buttons under /settings.

    /settings                                   the chat's settings, with buttons
    /settings quiet 23:00-07:00 Europe/Berlin   quiet hours: messages in that window arrive silently
    /settings quiet off                         no quiet hours
    /silent <id> [on|off]                       a subscription delivered without a sound (or with one)

Changing anything is for the group's administrators in a group (the whole group hears the sound,
or does not); anyone may look.
"""

from __future__ import annotations

from html import escape

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CommandHandler, ContextTypes

from bot.actions import ChatContext, ChatSettings
from bot.callbacks import Callback
from bot.telegram.format import LIST_LIMIT, error_text, plain_text, settings_text
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from core.dispatch.quiet_hours import describe
from core.errors import MempoolsError
from core.support.text import ellipsize

Ctx = ContextTypes.DEFAULT_TYPE
# Verbs of the buttons under /settings (two characters, apart from the one-letter verbs elsewhere).
SILENT_ON, SILENT_OFF, QUIET_OFF = "s1", "s0", "qh"
SETTINGS_VERBS = frozenset({SILENT_ON, SILENT_OFF, QUIET_OFF})
QUIET_USAGE = (
    "Usage: /settings quiet 23:00-07:00 Europe/Berlin (messages in that window arrive without a sound), "
    "or /settings quiet off."
)
SILENT_USAGE = "Usage: /silent &lt;id&gt; [on|off] — the ids are in /list."
_LABEL = 24


class SettingsHandlers:
    def __init__(self, kit: Toolkit) -> None:
        self.kit = kit

    def register(self, app: TelegramApp) -> None:
        app.add_handler(CommandHandler("settings", self.settings))
        app.add_handler(CommandHandler("silent", self.silent))

    async def settings(self, update: Update, _: Ctx) -> None:
        arg = command_argument(update)
        if not arg:
            await self._show(update)
            return
        word, _sep, rest = arg.partition(" ")
        if word.lower() != "quiet" or not rest.strip():
            await self.kit.reply(update, QUIET_USAGE)
            return
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        try:
            dest = await self.kit.actions.set_quiet_hours(ctx, rest)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        window = getattr(dest, "quiet_hours", None)
        if window is None:
            text = "🔔 Quiet hours are off: notifications here make their usual sound at any hour."
        else:
            text = (
                f"🌙 Quiet hours here: {escape(describe(window))}. Notifications in that window still "
                "arrive, without a sound. /settings quiet off ends them."
            )
        await self.kit.reply(update, text)

    async def silent(self, update: Update, _: Ctx) -> None:
        """`/silent <id> [on|off]`: "on" when the word is left out."""
        words = command_argument(update).split()
        if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].lower() not in ("on", "off")):
            await self.kit.reply(update, SILENT_USAGE)
            return
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        silent = len(words) == 1 or words[1].lower() == "on"
        try:
            sub = await self.kit.actions.set_silent(ctx, words[0], silent)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        if sub.silent:
            text = f"🔕 <b>{escape(sub.name)}</b> now arrives without a sound. /silent {escape(sub.id)} off undoes it."
        else:
            text = f"🔔 <b>{escape(sub.name)}</b> makes its usual sound again."
        await self.kit.reply(update, text)

    async def on_button(self, update: Update, query: CallbackQuery, callback: Callback) -> None:
        """A button under /settings: the change, then the settings message redrawn."""
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            await query.answer()
            return
        try:
            if callback.verb == QUIET_OFF:
                await self.kit.actions.set_quiet_hours(ctx, "off")
                note = "Quiet hours off"
            else:
                sub_id = callback.args[0] if callback.args else ""
                sub = await self.kit.actions.set_silent(ctx, sub_id, callback.verb == SILENT_ON)
                note = f"{'Silent' if sub.silent else 'With sound'}: {sub.name}"
        except MempoolsError as exc:
            await query.answer(plain_text(error_text(exc)), show_alert=True)
            return
        await query.answer(note[:190])
        text, markup = await self._view(ctx)
        await self.kit.replier.edit(query.message, text, markup)

    async def _show(self, update: Update) -> None:
        ctx = await self.kit.context(update)
        if ctx is None:
            return
        try:
            text, markup = await self._view(ctx)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        await self.kit.reply(update, text, markup)

    async def _view(self, ctx: ChatContext) -> tuple[str, InlineKeyboardMarkup | None]:
        current = await self.kit.actions.settings(ctx)
        names = {c.id: c.name for c in self.kit.actions.chains()}
        return settings_text(current.destination, current.subscriptions, names), self._keyboard(ctx, current)

    def _keyboard(self, ctx: ChatContext, current: ChatSettings) -> InlineKeyboardMarkup | None:
        """A sound toggle per subscription, and [Quiet hours off] while there are quiet hours."""

        def button(label: str, verb: str, *args: str) -> InlineKeyboardButton:
            return InlineKeyboardButton(label, callback_data=self.kit.signer.encode(ctx.chat_id, verb, *args))

        rows = [
            [
                button(f"🔔 Sound: {ellipsize(s.name, _LABEL)}", SILENT_OFF, s.id)
                if s.silent
                else button(f"🔕 Silence: {ellipsize(s.name, _LABEL)}", SILENT_ON, s.id)
            ]
            for s in current.subscriptions[:LIST_LIMIT]
        ]
        if getattr(current.destination, "quiet_hours", None) is not None:
            rows.append([button("🔔 Quiet hours off", QUIET_OFF)])
        return InlineKeyboardMarkup(rows) if rows else None

"""/alias and /unalias: the chat's address book (#15.8), whose labels name addresses in its
notifications ("1.5 ATOM received by Treasury")."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from bot.aliases import AliasActions
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from core.errors import MempoolsError
from core.models import AddressLabel

Ctx = ContextTypes.DEFAULT_TYPE
USAGE = (
    "Usage: <code>/alias cosmos1… Treasury</code> names an address in this chat's notifications; "
    "<code>/alias cosmos1…</code> shows its name, <code>/alias</code> lists them, "
    "<code>/unalias cosmos1…</code> removes one."
)
#: Lines of `/alias` shown in one message (a book holds up to 500; a message keeps to 4096 characters).
LIST_LIMIT = 40


def _line(entry: AddressLabel) -> str:
    return f"• <b>{escape(entry.label)}</b>: <code>{escape(entry.address)}</code>"


def book_text(entries: list[AddressLabel], *, group: bool) -> str:
    if not entries:
        whose = "This group's" if group else "Your"
        return f"{whose} address book is empty.\n{USAGE}"
    lines = [f"<b>Address book</b> ({len(entries)})", *(_line(e) for e in entries[:LIST_LIMIT])]
    if len(entries) > LIST_LIMIT:
        lines.append(f"… and {len(entries) - LIST_LIMIT} more (GET /v1/address-book lists them all)")
    return "\n".join(lines)


class AliasHandlers:
    def __init__(self, kit: Toolkit, aliases: AliasActions) -> None:
        self.kit = kit
        self.aliases = aliases

    def register(self, app: TelegramApp) -> None:
        app.add_handler(CommandHandler("alias", self.alias))
        app.add_handler(CommandHandler("unalias", self.unalias))

    async def alias(self, update: Update, _: Ctx) -> None:
        address, label = [*command_argument(update).split(maxsplit=1), "", ""][:2]
        ctx = await self.kit.context(update, admin=bool(label))
        if ctx is None:
            return
        try:
            if not address:
                text = book_text(await self.aliases.list(ctx), group=ctx.is_group)
            elif not label:
                entry = await self.aliases.show(ctx, address)
                text = f"<code>{escape(entry.address)}</code> is <b>{escape(entry.label)}</b>."
            else:
                entry, created = await self.aliases.set(ctx, address, label)
                verb = "Saved" if created else "Renamed"
                text = (
                    f"🏷 {verb}: <code>{escape(entry.address)}</code> is <b>{escape(entry.label)}</b> "
                    "in this chat's notifications from now on."
                )
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        await self.kit.reply(update, text)

    async def unalias(self, update: Update, _: Ctx) -> None:
        address = command_argument(update)
        if not address:
            await self.kit.reply(update, USAGE)
            return
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        try:
            entry = await self.aliases.remove(ctx, address)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        await self.kit.reply(
            update, f"🗑 Removed the name <b>{escape(entry.label)}</b> of <code>{escape(entry.address)}</code>."
        )

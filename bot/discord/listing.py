"""`/mempools list` with buttons: one message walks from the list to a subscription and back.

The list shows a page of `replies.PAGE_SIZE` subscriptions with a select menu to open one (and
[◀] [▶] when there are more pages); an opened subscription has [Pause] or [Resume], [Delete]
(which asks first) and [Back]. Every press edits the same message in place.

As with the notification buttons (`bot.discord.buttons`), nothing is kept in memory: each
custom_id carries what it acts on and the id of the person who opened the list, signed for the
channel. Someone else pressing it (a forged id, or a copy) is told it is not theirs; in a server
only server managers may change anything, as with the slash commands.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.actions import ChatActions, ChatContext
from bot.callbacks import Callback, CallbackSigner
from bot.discord import replies
from bot.discord.buttons import ONLY_MANAGERS
from bot.discord.context import chat_context
from bot.discord.replies import ChainLookup, Reply
from bot.discord.respond import edit, send
from core.dispatch.discord import StaticView
from core.errors import MempoolsError
from core.models import Subscription
from core.support.text import ellipsize

# custom_id verbs (lower-case "l…": the notification buttons use "n…").
OPEN, PAGE, PAUSE, RESUME, ASK_DELETE, DELETE, BACK = "lS", "lN", "lp", "lr", "ld", "lD", "lB"
LIST_VERBS = (OPEN, PAGE, PAUSE, RESUME, ASK_DELETE, DELETE, BACK)
_CHANGES = (PAUSE, RESUME, ASK_DELETE, DELETE)
NOT_YOURS = "This list was opened by someone else. `/mempools list` gives you your own."


class SubscriptionList:
    """Draws the list's screens and answers their presses."""

    def __init__(self, actions: ChatActions, signer: CallbackSigner | None, chains: ChainLookup) -> None:
        self._actions = actions
        self._signer = signer
        self._chains = chains

    # -- screens ---------------------------------------------------------------------------------
    def _id(self, ctx: ChatContext, verb: str, arg: str) -> str:
        assert self._signer is not None
        return self._signer.encode(ctx.chat_id, verb, arg, str(ctx.user_id))

    def page(self, ctx: ChatContext, subs: list[Subscription], page: int = 0, *, note: str = "") -> Reply:
        reply = replies.subscription_list(ctx, subs, self._chains, page=page, note=note)
        if self._signer is None or not subs:
            return reply
        count = replies.pages(len(subs))
        page = min(max(page, 0), count - 1)
        shown = subs[page * replies.PAGE_SIZE : (page + 1) * replies.PAGE_SIZE]
        view = StaticView()
        menu: discord.ui.Select[discord.ui.View] = discord.ui.Select(
            custom_id=self._id(ctx, OPEN, str(page)),
            placeholder="Open a subscription to pause, resume or delete it",
            options=[
                discord.SelectOption(
                    label=ellipsize(s.name, 100),
                    value=s.id,
                    description=ellipsize(f"{s.chain_id} · {'active' if s.enabled else 'paused'} · {s.id}", 100),
                )
                for s in shown
            ],
        )
        view.add_item(menu)
        if count > 1:
            for label, target, disabled in (
                ("◀ Previous", page - 1, page == 0),
                ("Next ▶", page + 1, page >= count - 1),
            ):
                view.add_item(
                    discord.ui.Button(label=label, custom_id=self._id(ctx, PAGE, str(target)), disabled=disabled, row=1)
                )
        reply.view = view
        return reply

    def detail(self, ctx: ChatContext, sub: Subscription, *, note: str = "") -> Reply:
        reply = replies.subscription_detail(ctx, sub, self._chains, note=note)
        view = StaticView()
        toggle = (
            ("⏸ Pause", PAUSE, discord.ButtonStyle.secondary)
            if sub.enabled
            else ("▶️ Resume", RESUME, discord.ButtonStyle.success)
        )
        for label, verb, style in (toggle, ("🗑️ Delete", ASK_DELETE, discord.ButtonStyle.danger)):
            view.add_item(discord.ui.Button(label=label, style=style, custom_id=self._id(ctx, verb, sub.id)))
        view.add_item(discord.ui.Button(label="◀ Back to the list", custom_id=self._id(ctx, BACK, "0")))
        reply.view = view
        return reply

    def confirm_delete(self, ctx: ChatContext, sub: Subscription) -> Reply:
        reply = replies.confirm_delete(sub)
        view = StaticView()
        view.add_item(
            discord.ui.Button(
                label="Yes, delete it", style=discord.ButtonStyle.danger, custom_id=self._id(ctx, DELETE, sub.id)
            )
        )
        view.add_item(discord.ui.Button(label="Cancel", custom_id=self._id(ctx, OPEN, sub.id)))
        reply.view = view
        return reply

    # -- presses ---------------------------------------------------------------------------------
    async def press(self, interaction: discord.Interaction, callback: Callback) -> None:
        ctx = chat_context(interaction)
        *args, owner = callback.args or ("",)
        arg = args[0] if args else ""
        if owner != str(ctx.user_id):
            await send(interaction, replies.refused(NOT_YOURS))
            return
        if callback.verb in _CHANGES and ctx.is_group and not ctx.is_admin:
            await send(interaction, replies.refused(ONLY_MANAGERS.format(what="pause, resume or delete")))
            return
        try:
            screen = await self._screen(ctx, callback.verb, arg, _values(interaction))
        except MempoolsError as exc:
            await send(interaction, replies.error(exc, "discord list button"))
            return
        await edit(interaction, screen)

    async def _screen(self, ctx: ChatContext, verb: str, arg: str, values: list[str]) -> Reply:
        if verb == OPEN:  # the menu's choice, or [Cancel] on the delete question (its id in `arg`)
            return self.detail(ctx, await self._actions.get(ctx, values[0] if values else arg))
        if verb == PAUSE:
            sub = await self._actions.pause(ctx, arg)
            return self.detail(ctx, sub, note=replies.paused(ctx, sub).content)
        if verb == RESUME:
            sub = await self._actions.resume(ctx, arg)
            return self.detail(ctx, sub, note=replies.resumed(ctx, sub).content)
        if verb == ASK_DELETE:
            return self.confirm_delete(ctx, await self._actions.get(ctx, arg))
        if verb == DELETE:
            sub = await self._actions.unsubscribe(ctx, arg)
            return self.page(ctx, await self._actions.list(ctx), note=replies.unsubscribed(ctx, sub).content)
        page = int(arg) if arg.isdigit() else 0  # PAGE, BACK
        return self.page(ctx, await self._actions.list(ctx), page)


def _values(interaction: discord.Interaction) -> list[str]:
    data: dict[str, Any] = dict(interaction.data or {})
    return [str(v) for v in data.get("values") or []]

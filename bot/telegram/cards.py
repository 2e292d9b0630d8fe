"""The screens of /list: a page of subscriptions and one subscription's card.

Both /list's buttons (`handlers.manage`) and the rename flow (`handlers.conversation`, whose Back
and final answer return to the card) draw them, so they live here, once.
"""

from __future__ import annotations

from typing import NamedTuple

from telegram import InlineKeyboardMarkup

from bot.actions import ChatContext
from bot.telegram.format import PAGE_SIZE, card_text, list_text, pages_of
from bot.telegram.handlers.common import Toolkit
from core.errors import ValidationError


class Screen(NamedTuple):
    """A message's text and its buttons."""

    text: str
    markup: InlineKeyboardMarkup | None = None


#: What a press on a button of a deleted subscription says (the buttons are taken away).
GONE = "That subscription no longer exists."


async def list_screen(kit: Toolkit, ctx: ChatContext, page: int) -> Screen:
    """Page `page` of the list (by name); a page past the end (the list got shorter) shows the last one."""
    # By name: the order a reader scans for, and the same on every page whatever the ids are.
    subs = sorted(await kit.actions.list(ctx), key=lambda s: (s.name.casefold(), s.id))
    pages = pages_of(len(subs))
    page = min(max(page, 0), pages - 1)
    chain_names = {c.id: c.name for c in kit.actions.chains()}
    shown = subs[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    text = list_text(subs, chain_names, group=ctx.is_group, page=page)
    return Screen(text, kit.keyboards.subscriptions(ctx.chat_id, shown, page=page, pages=pages))


async def card_screen(kit: Toolkit, ctx: ChatContext, subscription_id: str, page: int, note: str = "") -> Screen:
    """The card of one subscription (NotFoundError once it is deleted)."""
    sub = await kit.actions.get(ctx, subscription_id)
    try:
        chain = kit.actions.chain(sub.chain_id)
    except ValidationError:  # a chain removed from the config: the card still shows, by id
        chain = None
    preset = kit.actions.preset(sub.preset) if sub.preset else None
    activity = await kit.actions.activity(ctx, sub.id)
    text = card_text(sub, chain, activity, preset, kit.clock())
    return Screen(f"{note}\n{text}" if note else text, kit.keyboards.card(ctx.chat_id, sub, page))


__all__ = ["GONE", "Screen", "card_screen", "list_screen"]

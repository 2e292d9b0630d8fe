"""How both bots word an error: one icon and one sentence per error, from `core.errors.describe`.

The Telegram and Discord replies differ only in markup (HTML vs markdown) and in the hint that
names their own commands (`/list` vs `/mempools list`); the icon and the sentence come from here,
so the same error reads the same in both bots and in the API's `detail`.
"""

from __future__ import annotations

import logging

import msgspec

from core.errors import ErrorView, describe, sentence
from core.query.errors import QuerySyntaxError

#: Icon per problem slug; otherwise ❌ for the user's errors, ⏳ for ours that pass, ⚠️ for a bug.
_ICONS = {"not-found": "🔍", "forbidden": "🔒", "store-unavailable": "⏳"}


class ChatError(msgspec.Struct, frozen=True, kw_only=True):
    """An error as a bot says it: `icon` and `text` (plain, not escaped) are the same in both bots."""

    view: ErrorView
    icon: str
    text: str


def chat_error(exc: BaseException, log: logging.Logger, where: str) -> ChatError:
    """The icon and sentence for `exc`; an internal error is logged here, once, with its error id."""
    view = describe(exc, log, where)
    if isinstance(exc, QuerySyntaxError):
        text = f"That query does not parse: {exc.reason} (character {exc.position + 1})."
    else:
        text = sentence(view.message)
    return ChatError(view=view, icon=_icon(view), text=text)


def _icon(view: ErrorView) -> str:
    if view.slug in _ICONS:
        return _ICONS[view.slug]
    if view.internal:
        return "⚠️"
    return "⏳" if view.status >= 500 else "❌"

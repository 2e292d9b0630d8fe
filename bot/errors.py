"""How both bots word an error: one icon and one sentence per error, from `core.errors.describe`.

The Telegram and Discord replies differ only in markup (HTML vs markdown) and in the hint that
names their own commands (`/list` vs `/mempools list`); the icon and the sentence come from here,
so the same error reads the same in both bots and in the API's `detail`.

Core messages about one input start with its name (`min_amount: ...`), which the API keeps (its
readers are programmers, who send that field). A person in a chat never typed `min_amount`, so
the bots say it in words (`FIELD_WORDS`: "The minimum amount: ..."), and drop the name entirely
when the message already says what was wrong with the thing itself ("That looks like an
Ethereum address; ...").
"""

from __future__ import annotations

import logging
import re

import msgspec

from core.errors import ErrorView, describe, sentence
from core.query.errors import QuerySyntaxError

#: Icon per problem slug; otherwise ❌ for the user's errors, ⏳ for ours that pass, ⚠️ for a bug.
_ICONS = {"not-found": "🔍", "forbidden": "🔒", "store-unavailable": "⏳"}

#: Parameter and field names (as core messages start with them) in the words a person would use.
FIELD_WORDS = {
    "address": "the address",
    "attributes": "the attributes",
    "chain": "the chain",
    "chain_id": "the chain",
    "code": "the link code",
    "contract": "the contract address",
    "denom": "the denomination",
    "email": "the email address",
    "event": "the event name",
    "include_fees": "including fees",
    "min_amount": "the minimum amount",
    "min_missed": "the number of missed blocks",
    "n": "the number",
    "name": "the name",
    "outcome": "the outcome",
    "params": "the parameters",
    "password": "the password",
    "proposal_id": "the proposal number",
    "queries": "the queries",
    "recipient": "the recipient",
    "result": "the result",
    "sender": "the sender",
    "signer": "the signer",
    "url": "the URL",
    "validator": "the validator",
}

#: `name: complaint`, the shape of a core message about one input.
_ABOUT_FIELD = re.compile(r"([a-z][a-z0-9_]*): (.+)", re.DOTALL)


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
        text = sentence(in_words(view.message))
    return ChatError(view=view, icon=_icon(view), text=text)


def in_words(message: str) -> str:
    """`message` with a leading field name (`chain_id: ...`) said in words (`the chain: ...`)."""
    about = _ABOUT_FIELD.fullmatch(message.strip())
    if about is None:
        return message
    field, complaint = about.groups()
    if complaint.startswith("that "):  # the complaint names the thing itself
        return complaint
    words = FIELD_WORDS.get(field, field.replace("_", " "))
    if complaint == "required" or complaint.startswith("required,"):
        return f"{words} is {complaint}"
    return f"{words}: {complaint}"


def _icon(view: ErrorView) -> str:
    if view.slug in _ICONS:
        return _ICONS[view.slug]
    if view.internal:
        return "⚠️"
    return "⏳" if view.status >= 500 else "❌"

"""Suggestions while typing: chains, presets, and the subscriptions of the acting account.

Autocomplete answers must come within Discord's three seconds and must never fail loudly: any
expected error gives an empty list. Each choice's name is what people read ("Osmosis (osmosis-1)")
and its value is what the command receives (the id).
"""

from __future__ import annotations

from collections.abc import Iterable

from discord import app_commands

from bot.actions import ChatActions, ChatContext
from core.errors import ServiceError, UserError
from core.models import Subscription
from core.query.presets import PRESETS
from core.support.text import ellipsize

MAX_CHOICES = 25  # Discord's limit
_NAME_LIMIT = 100  # Discord's limit for a choice's name (and value)


def _cut(text: str) -> str:
    return ellipsize(text, _NAME_LIMIT)


def _matching(candidates: Iterable[tuple[str, str]], typed: str) -> list[app_commands.Choice[str]]:
    """Choices whose name or value contains what was typed (case-insensitive), in order."""
    needle = typed.strip().lower()
    out = []
    for name, value in candidates:
        if needle in name.lower() or needle in value.lower():
            out.append(app_commands.Choice(name=_cut(name), value=value[:_NAME_LIMIT]))
            if len(out) == MAX_CHOICES:
                break
    return out


def chain_choices(actions: ChatActions, typed: str) -> list[app_commands.Choice[str]]:
    return _matching(((f"{c.name} ({c.id})", c.id) for c in actions.chains()), typed)


def preset_choices(typed: str) -> list[app_commands.Choice[str]]:
    return _matching(((f"{p.title} ({p.name})", p.name) for p in PRESETS.values()), typed)


async def subscription_choices(
    actions: ChatActions, ctx: ChatContext, typed: str, *, enabled: bool | None = None
) -> list[app_commands.Choice[str]]:
    """The acting account's subscriptions (only active or only paused ones when `enabled` says so)."""
    try:
        subs: list[Subscription] = await actions.list(ctx)
    except (UserError, ServiceError):  # no suggestions; anything else is a bug, logged by the tree's on_error
        return []
    wanted = (s for s in subs if enabled is None or s.enabled == enabled)
    return _matching(((f"{s.name} · {s.chain_id}{'' if s.enabled else ' · paused'}", s.id) for s in wanted), typed)

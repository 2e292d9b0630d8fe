"""How the console names things: a destination's kind and where it points, a preset's post-filter."""

from __future__ import annotations

from typing import Any

import msgspec

from core.models import Destination, DiscordDestination, TelegramDestination, WebhookDestination


def kind_of(dest: Destination) -> str:
    """`webhook`, `telegram` or `discord` (the API's `kind`)."""
    tag = type(dest).__struct_config__.tag
    return str(tag)


def target_of(dest: Destination) -> str:
    """Where it delivers, in words: the URL, the chat, the channel or the DM."""
    if isinstance(dest, WebhookDestination):
        return dest.url
    if isinstance(dest, TelegramDestination):
        chat = dest.chat_title or f"chat {dest.chat_id}"
        return f"Telegram {chat}" + (f", topic {dest.message_thread_id}" if dest.message_thread_id else "")
    assert isinstance(dest, DiscordDestination)
    if dest.user_id is not None:
        return "Discord direct messages"
    if dest.channel_id is not None:
        return f"Discord channel {dest.channel_id}"
    return "Discord webhook"


def kinds(destinations: list[Destination]) -> dict[str, str]:
    return {d.id: kind_of(d) for d in destinations}


def struct_pairs(value: Any) -> list[tuple[str, str]]:
    """A small struct (a preset's post-filter) as (field, value) pairs of the fields that are set."""
    if value is None:
        return []
    raw = msgspec.to_builtins(value)
    if not isinstance(raw, dict):
        return [("value", str(raw))]
    return [(str(k), ", ".join(map(str, v)) if isinstance(v, list) else str(v)) for k, v in raw.items()]

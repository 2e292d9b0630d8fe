"""The Telegram bot: register, subscribe and receive notifications by chatting.

Wiring (composition root):

    door = TelegramFrontDoor.from_config(config.telegram, services)
    if door is not None:
        channels["telegram"] = TelegramChannel(door.bot)   # notifications share the bot
        supervisor.start("telegram", door.run, stop)
"""

from __future__ import annotations

from bot.telegram.frontdoor import TelegramFrontDoor

__all__ = ["TelegramFrontDoor"]

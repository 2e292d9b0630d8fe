"""`CommandGroup`: what every Mempools slash command group does around its commands.

Both `/mempools` and `/alias` check their options before a command runs (autocomplete sees
partial input by design, so Discord's own checks are not enough), and answer each command with
its reply or, for a `MempoolsError`, the error in plain words: one place, not a copy per group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bot.actions import ChatContext
from bot.discord import replies
from bot.discord.context import chat_context
from bot.discord.options import check_options
from bot.discord.replies import Reply
from bot.discord.respond import send
from core.errors import MempoolsError

#: A command's answer: a reply, or a form (a modal) to fill in first.
Answer = Reply | discord.ui.Modal
Action = Callable[[ChatContext], Answer | Awaitable[Answer]]


class CommandGroup(app_commands.Group):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Options are checked before a command runs (autocomplete sees partial input by design)."""
        command = interaction.command
        if interaction.type is discord.InteractionType.application_command and isinstance(
            command, app_commands.Command
        ):
            check_options(command, interaction.data)
        return True

    async def _run(self, interaction: discord.Interaction, action: Action) -> None:
        """Run `action` for this interaction's context and answer with its reply (or form) or its error."""
        ctx = chat_context(interaction)
        try:
            answer = action(ctx)
            if not isinstance(answer, Reply | discord.ui.Modal):
                answer = await answer
        except MempoolsError as exc:
            answer = replies.error(exc)
        if isinstance(answer, discord.ui.Modal):
            await interaction.response.send_modal(answer)
        else:
            await send(interaction, answer)

"""Sending a `Reply` as the answer to an interaction (or as a follow-up once it was answered)."""

from __future__ import annotations

import discord
from discord.utils import MISSING

from bot.discord.replies import Reply

NO_MENTIONS = discord.AllowedMentions.none()


async def send(interaction: discord.Interaction, reply: Reply) -> None:
    """The interaction's response, or a follow-up if a response was already sent (or deferred)."""
    embed = reply.embed if reply.embed is not None else MISSING
    content = reply.content or None
    if interaction.response.is_done():
        await interaction.followup.send(
            content=content or MISSING, embed=embed, ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS
        )
    else:
        await interaction.response.send_message(
            content=content, embed=embed, ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS
        )

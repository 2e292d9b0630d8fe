"""Sending a `Reply` as the answer to an interaction (or as a follow-up once it was answered)."""

from __future__ import annotations

import discord
from discord.utils import MISSING

from bot.discord.replies import Reply

NO_MENTIONS = discord.AllowedMentions.none()


async def send(interaction: discord.Interaction, reply: Reply) -> None:
    """The interaction's response, or a follow-up if a response was already sent (or deferred)."""
    embed = reply.embed if reply.embed is not None else MISSING
    view = reply.view if reply.view is not None else MISSING
    content = reply.content or None
    if interaction.response.is_done():
        await interaction.followup.send(
            content=content or MISSING,
            embed=embed,
            view=view,
            ephemeral=reply.ephemeral,
            allowed_mentions=NO_MENTIONS,
        )
    else:
        await interaction.response.send_message(
            content=content, embed=embed, view=view, ephemeral=reply.ephemeral, allowed_mentions=NO_MENTIONS
        )


async def edit(interaction: discord.Interaction, reply: Reply) -> None:
    """Replace the message whose button was pressed (one message walks through a flow)."""
    await interaction.response.edit_message(
        content=reply.content, embed=reply.embed, view=reply.view, allowed_mentions=NO_MENTIONS
    )


async def redraw(interaction: discord.Interaction, reply: Reply) -> None:
    """`edit` the message a press or a form came from; a form opened by a slash command has no
    message behind it, so its answer is a new (ephemeral) message instead."""
    if interaction.message is None:
        await send(interaction, reply)
    else:
        await edit(interaction, reply)

"""From a Discord interaction to the chat-neutral `ChatContext` of `bot.actions`.

Who may change what is decided in `bot.actions` from `is_group` and `is_admin`; this module only
reads the facts off the interaction. `is_admin` comes from the permissions Discord resolved for
the member in this channel (sent with every interaction), not from a cache, so a role change
takes effect at the next command.
"""

from __future__ import annotations

import discord
import msgspec

from bot.actions import ChatContext


def is_server_manager(permissions: discord.Permissions) -> bool:
    """Manage Server, or Administrator (which Discord treats as every permission)."""
    return permissions.manage_guild or permissions.administrator


def chat_context(interaction: discord.Interaction) -> ChatContext:
    """The context of a slash command: a server channel (the server's account) or a DM (the user's)."""
    user = interaction.user
    username = user.name if user is not None else None
    channel_id = interaction.channel_id or 0
    if interaction.guild_id is not None:
        channel = interaction.channel
        title = getattr(channel, "name", None)
        return ChatContext(
            platform="discord",
            user_id=user.id,
            chat_id=channel_id,
            username=username,
            is_group=True,
            guild_id=interaction.guild_id,
            is_admin=is_server_manager(interaction.permissions),
            chat_title=f"#{title}" if title else None,
        )
    return ChatContext(platform="discord", user_id=user.id, chat_id=channel_id, username=username)


def personal_context(ctx: ChatContext) -> ChatContext:
    """The member acting for themself, wherever they are: `/mempools link` in a server links the
    member's own Discord identity. A slash command's options are shown to nobody else and its
    answer is ephemeral, so a code typed in a server channel stays as private as in a DM (a
    Telegram group message does not, which is why `ChatActions.link` refuses groups)."""
    return msgspec.structs.replace(ctx, is_group=False, guild_id=None, is_admin=False, chat_title=None)

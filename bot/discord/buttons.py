"""Button presses: the [Pause] [Resume] [Mute 1 h] under a notification, answered from their custom_id.

A notification's buttons must keep working after a restart and in a message the bot no longer
remembers, so nothing is kept in memory: the custom_id says what to do (`verb|subscription|sig`)
and is signed for the channel it was sent to, under a key derived from the bot token (the same
`CallbackSigner` the Telegram bot uses, keyed by the Discord token). A forged id, or one copied
into another channel, fails its signature and changes nothing. Ownership is checked again by the
services, and in a server only server managers (Manage Server) may press: the same rule as the
slash commands (`ChatActions.require_admin`).
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.actions import ChatActions, ChatContext
from bot.callbacks import Callback, CallbackSigner
from bot.discord import replies
from bot.discord.context import chat_context
from bot.discord.replies import Reply
from bot.discord.respond import NO_MENTIONS, send
from core.dispatch.discord import MUTE_NOTIFIED, PAUSE_NOTIFIED, RESUME_NOTIFIED, notification_view
from core.dispatch.telegram_buttons import MUTE_FOR
from core.errors import MempoolsError

log = logging.getLogger("mempools.discord")

NOTIFICATION_VERBS = (PAUSE_NOTIFIED, RESUME_NOTIFIED, MUTE_NOTIFIED)
FORGED = "This button was not made by this bot for this channel, so it does nothing. Nothing was changed."
ONLY_MANAGERS = "Only server managers (the Manage Server permission) can {what} this server's subscriptions."


def button_signer(token: str) -> CallbackSigner:
    """The signer of every button the Discord bot sends (its key differs from Telegram's: another token)."""
    return CallbackSigner(token)


def custom_id_of(interaction: discord.Interaction) -> str:
    data: dict[str, Any] = dict(interaction.data or {})
    return str(data.get("custom_id") or "")


def link_url(message: discord.Message | None) -> str | None:
    """The [Tx] link of the pressed message, kept when its buttons are redrawn."""
    for row in message.components if message is not None else []:
        for item in getattr(row, "children", []):
            url = getattr(item, "url", None)
            if url:
                return str(url)
    return None


class NotificationButtons:
    """Answers presses of the buttons `core.dispatch.discord.notification_view` draws."""

    def __init__(self, actions: ChatActions, signer: CallbackSigner | None) -> None:
        self._actions = actions
        self._signer = signer

    def decode(self, interaction: discord.Interaction) -> Callback | None:
        custom_id = custom_id_of(interaction)
        if self._signer is None or interaction.channel_id is None:
            return None
        return self._signer.decode(interaction.channel_id, custom_id)

    async def forged(self, interaction: discord.Interaction) -> None:
        custom_id = custom_id_of(interaction)
        log.warning("refused a button press with an unsigned custom_id %r from user %s", custom_id[:100],
                    interaction.user.id)  # fmt: skip
        await send(interaction, replies.failure(FORGED))

    async def press(self, interaction: discord.Interaction, callback: Callback) -> None:
        ctx = chat_context(interaction)
        if ctx.is_group and not ctx.is_admin:
            what = "mute" if callback.verb == MUTE_NOTIFIED else "pause or resume"
            await send(interaction, replies.refused(ONLY_MANAGERS.format(what=what)))
            return
        sub_id = callback.args[0] if callback.args else ""
        try:
            if callback.verb == MUTE_NOTIFIED:
                sub = await self._actions.mute(ctx, sub_id, MUTE_FOR)
                await send(interaction, replies.muted(ctx, sub))
                return
            pausing = callback.verb == PAUSE_NOTIFIED
            sub = await self._actions.pause(ctx, sub_id) if pausing else await self._actions.resume(ctx, sub_id)
        except MempoolsError as exc:
            await send(interaction, replies.error(exc, "discord button"))
            return
        await self._redraw(interaction, ctx, sub.id, paused=not sub.enabled)
        reply: Reply = replies.paused(ctx, sub) if pausing else replies.resumed(ctx, sub)
        await interaction.followup.send(reply.content, ephemeral=True, allowed_mentions=NO_MENTIONS)

    async def _redraw(self, interaction: discord.Interaction, ctx: ChatContext, sub_id: str, *, paused: bool) -> None:
        """The message keeps its embed and [Tx] link; the toggle shows what a press does now."""
        view: Any = notification_view(
            self._signer, ctx.chat_id, subscription_id=sub_id, tx_url=link_url(interaction.message), paused=paused
        )
        await interaction.response.edit_message(view=view)

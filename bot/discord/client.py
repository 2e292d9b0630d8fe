"""The discord.py client: the `/mempools` command tree, synced at start, its error answers, and
the presses of every button and menu the bot sends (routed by the verb of their signed custom_id).

No message intents: slash commands arrive as interactions whatever the intents, so the bot asks
only for `guilds` (the one discord.py needs to keep its state consistent).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.actions import ChatActions
from bot.aliases import AliasActions
from bot.callbacks import CallbackSigner
from bot.discord import replies
from bot.discord.aliases import AliasGroup
from bot.discord.buttons import NOTIFICATION_VERBS, NotificationButtons
from bot.discord.commands import MempoolsGroup
from bot.discord.guided import GUIDED_VERBS
from bot.discord.listing import LIST_VERBS
from bot.discord.options import BadOption
from bot.discord.respond import send
from bot.discord.settings import SETTINGS_VERBS

log = logging.getLogger("mempools.discord")

#: How long discord.py waits for GUILD_CREATE events after READY before it calls itself ready.
GUILD_READY_TIMEOUT = 2.0


class MempoolsTree(app_commands.CommandTree["MempoolsClient"]):
    """Answers what discord.py refuses before our code runs (stale or malformed commands)."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, BadOption):
            text = str(error)
            reply = replies.failure(text[:1].upper() + text[1:] + ".")
        elif isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
            reply = replies.failure(
                "This command does not match the bot's current commands (an option is missing or unexpected, or "
                "the command was removed). Discord may still be updating the command list; try again shortly."
            )
        elif isinstance(error, app_commands.TransformerError):
            reply = replies.failure(f"The option value {error.value!r} is not valid for this option.")
        elif isinstance(error, app_commands.CheckFailure):
            reply = replies.failure("You cannot use this command here.")
        else:  # a bug, or an error of ours the command let through: logged once, with its error id
            cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
            reply = replies.error(cause, f"slash command {_command_name(interaction)}")
        if interaction.type is discord.InteractionType.autocomplete:
            if not interaction.response.is_done():
                await interaction.response.autocomplete([])
            return
        await send(interaction, reply)


def _command_name(interaction: discord.Interaction) -> str:
    command = interaction.command
    return command.qualified_name if command is not None else "(unknown)"


class MempoolsClient(discord.Client):
    """A client whose `setup_hook` syncs `/mempools` (globally, or to one guild for fast iteration)."""

    def __init__(
        self,
        actions: ChatActions,
        *,
        signer: CallbackSigner | None = None,
        aliases: AliasActions | None = None,
        sync_guild_id: int | None = None,
        guild_ready_timeout: float = GUILD_READY_TIMEOUT,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(intents=intents, guild_ready_timeout=guild_ready_timeout, **options)
        self.tree = MempoolsTree(self)
        group = MempoolsGroup(actions, signer=signer)
        self.tree.add_command(group)
        self._listing = group.listing
        self._guided = group.guided
        self._settings = group.panel
        if aliases is not None:
            self.tree.add_command(AliasGroup(aliases))
        self._sync_guild_id = sync_guild_id
        self._buttons = NotificationButtons(actions, signer)
        # discord.py's own wait_until_ready() refuses to be called before login; this one may be.
        self.connected = asyncio.Event()

    async def on_ready(self) -> None:
        self.connected.set()
        log.info("Discord bot connected as %s (application %s)", self.user, self.application_id)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Button presses: answered from their signed custom_id (no view is kept in memory, so the
        buttons of any message ever sent keep working across restarts); see `bot.discord.buttons`."""
        if interaction.type not in (discord.InteractionType.component, discord.InteractionType.modal_submit):
            return
        try:
            callback = self._buttons.decode(interaction)
            if callback is None:
                await self._buttons.forged(interaction)
            elif callback.verb in NOTIFICATION_VERBS:
                await self._buttons.press(interaction, callback)
            elif callback.verb in LIST_VERBS:
                await self._listing.press(interaction, callback)
            elif callback.verb in GUIDED_VERBS:
                await self._guided.press(interaction, callback)
            elif callback.verb in SETTINGS_VERBS:
                await self._settings.press(interaction, callback)
            else:
                await self._buttons.forged(interaction)
        except Exception as exc:  # a bug: logged once with its error id, and the presser is told
            if not interaction.response.is_done():
                await send(interaction, replies.error(exc, "discord button"))
            else:
                replies.error(exc, "discord button")

    async def sync_commands(self) -> bool:
        """Register the commands with Discord (after login); True when done. A failure is logged,
        not fatal: commands registered earlier keep working.

        Not `setup_hook` (which `login` runs): every node of a cluster logs in to send, but only
        the gateway holder needs to register the commands, once per process."""
        guild = discord.Object(self._sync_guild_id) if self._sync_guild_id is not None else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            log.error("could not sync slash commands (%s %s); existing ones keep working", exc.status, exc.text)
            return False
        scope = f"guild {self._sync_guild_id}" if guild is not None else "globally"
        log.info("synced %d slash command(s) %s", len(synced), scope)
        return True

    async def disconnect_gateway(self, connecting: asyncio.Task[None], deadline: float) -> None:
        """End `connect()` (running as `connecting`) and close the websocket, and nothing else: the
        REST client stays logged in, so this node still sends messages and DMs."""
        if not connecting.done():
            connecting.cancel()
            await asyncio.wait({connecting}, timeout=deadline)
        ws = self.ws
        if ws is not None and ws.open:
            try:
                await asyncio.wait_for(ws.close(code=1000), deadline)
            except (TimeoutError, OSError, aiohttp.ClientError) as exc:
                log.debug("closing the Discord gateway connection: %s", type(exc).__name__)
        self.connected.clear()
        if self._ready is not discord.utils.MISSING:
            self._ready.clear()

    def reopen(self) -> None:
        """Make a closed client startable again (the supervisor restarts the same client object).

        Must be called from the running loop. `clear()` resets discord.py's state; `close()` had
        dropped the client's loop (and `login` only sets it up on a fresh client), so it is put back;
        the REST connector was closed with its session, so it is dropped and `static_login` makes one.
        """
        self.clear()
        self.loop = asyncio.get_running_loop()
        self.connected.clear()
        self.http.connector = discord.utils.MISSING

"""`/alias set|remove|list`: the address book on Discord (#15.8).

Its own top-level command rather than a `/mempools` subcommand: Discord nests subcommands only
one group deep, and `/alias set` reads as what it does. As with `/mempools`, every member sees
it; in a server, changing the server's book needs Manage Server (checked per use by
`AliasActions`), listing does not. In a DM the book is the user's own.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.actions import ChatContext
from bot.aliases import AliasActions
from bot.discord.group import Answer, CommandGroup
from bot.discord.replies import CONTENT_LIMIT, Reply
from core.models import AddressLabel
from core.support.text import ellipsize


def _esc(text: str) -> str:
    return discord.utils.escape_markdown(discord.utils.escape_mentions(text))


def _entry(entry: AddressLabel) -> str:
    return f"`{entry.address}` is **{_esc(entry.label)}**"


def book(ctx: ChatContext, entries: list[AddressLabel]) -> Reply:
    if not entries:
        whose = "This server's" if ctx.is_group else "Your"
        text = f"{whose} address book is empty. `/alias set address:cosmos1… label:Treasury` names an address."
        return Reply(content=text)
    lines = [f"**Address book** ({len(entries)})", *(f"• {_entry(e)}" for e in entries)]
    return Reply(content=ellipsize("\n".join(lines), CONTENT_LIMIT))


class AliasGroup(CommandGroup):
    """The `/alias` command and its subcommands."""

    def __init__(self, aliases: AliasActions) -> None:
        super().__init__(
            name="alias",
            description="Name addresses in this chat's notifications (address book)",
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
        )
        self._aliases = aliases

    @app_commands.command(name="set", description="Name an address: its notifications say the name")
    @app_commands.describe(address="The address (of a chain this bot watches)", label="The name, e.g. Treasury")
    async def set_(
        self,
        interaction: discord.Interaction,
        address: app_commands.Range[str, 1, 200],
        label: app_commands.Range[str, 1, 100],
    ) -> None:
        async def action(ctx: ChatContext) -> Reply:
            entry, created = await self._aliases.set(ctx, address, label)
            verb = "Saved" if created else "Renamed"
            return Reply(content=f"🏷️ {verb}: {_entry(entry)} in notifications here.", ephemeral=not ctx.is_group)

        await self._run(interaction, action)

    @app_commands.command(name="remove", description="Forget an address's name")
    @app_commands.describe(address="The address")
    async def remove(self, interaction: discord.Interaction, address: app_commands.Range[str, 1, 200]) -> None:
        async def action(ctx: ChatContext) -> Reply:
            entry = await self._aliases.remove(ctx, address)
            return Reply(
                content=f"🗑️ Removed the name **{_esc(entry.label)}** of `{entry.address}`.", ephemeral=not ctx.is_group
            )

        await self._run(interaction, action)

    @app_commands.command(name="list", description="The named addresses here (yours in a DM, the server's in a server)")
    async def list_(self, interaction: discord.Interaction) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return book(ctx, await self._aliases.list(ctx))

        await self._run(interaction, action)

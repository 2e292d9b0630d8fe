"""`/mempools …`: the slash commands, each one call into `bot.actions.ChatActions`.

Who may do what is decided by `ChatActions` (see its module doc); this module declares the
commands, turns an interaction into a `ChatContext`, and the result or error into a reply.

Permissions: Discord only lets a top-level command declare default member permissions, so the
whole `/mempools` group is declared with Manage Server. In a server, members without it therefore
do not see the command until an admin opens it up (Server Settings → Integrations); even then,
creating or changing a subscription is checked again on every use against the member's permissions
in the interaction, so only listing and history become available to them. DMs are not affected by
default member permissions: there everyone manages their own subscriptions.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.actions import MAX_HISTORY, ChatActions, ChatContext
from bot.callbacks import CallbackSigner
from bot.discord import replies
from bot.discord.autocomplete import chain_choices, preset_choices, subscription_choices
from bot.discord.context import chat_context, personal_context
from bot.discord.group import Answer, CommandGroup
from bot.discord.guided import GuidedSubscribe
from bot.discord.listing import SubscriptionList
from bot.discord.params import parse_params
from bot.discord.replies import Reply
from bot.discord.settings import SettingsPanel
from core.errors import MempoolsError, ValidationError
from core.models import Chain

log = logging.getLogger("mempools.discord")

Choices = list[app_commands.Choice[str]]


class MempoolsGroup(CommandGroup):
    """The `/mempools` command and its subcommands.

    Visible to every member: Discord applies default permissions to a whole command group, and
    requiring Manage Server there would hide `list`, `history` and `chains` from the members who
    receive the server's notifications. Changing the server's subscriptions is checked per
    command instead (`ChatActions.require_admin`: Manage Server or Administrator).
    """

    def __init__(self, actions: ChatActions, *, signer: CallbackSigner | None = None) -> None:
        super().__init__(
            name="mempools",
            description="Notifications for Cosmos chains",
            allowed_contexts=app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=False),
            allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
        )
        self._actions = actions
        #: The list's screens and buttons (its presses reach it through the client's on_interaction).
        self.listing = SubscriptionList(actions, signer, self._find)
        #: `/mempools subscribe` with no preset or query: menus, a form and a confirmation.
        self.guided = GuidedSubscribe(actions, signer)
        #: `/mempools settings` and its buttons and form.
        self.panel = SettingsPanel(actions, signer, self._find)

    # -- subscribing -----------------------------------------------------------------------------
    @app_commands.command(name="watch", description="Be told when funds arrive at or leave an address")
    @app_commands.describe(
        address="The account address (its prefix picks the chain)",
        chain="Only needed when several chains share the address's prefix",
    )
    async def watch(
        self, interaction: discord.Interaction, address: app_commands.Range[str, 1, 200], chain: str | None = None
    ) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.watching(ctx, await self._actions.watch(ctx, address, chain))

        await self._run(interaction, action)

    @app_commands.command(
        name="validator", description="Watch a validator: missed blocks, jailing, the active set, chain stalls"
    )
    @app_commands.describe(
        address="Its operator address (…valoper1…) or consensus address (…valcons1…); the prefix picks the chain",
        chain="Only needed when several chains share the address's prefix",
    )
    async def validator(
        self, interaction: discord.Interaction, address: app_commands.Range[str, 1, 200], chain: str | None = None
    ) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.monitoring(ctx, await self._actions.validator(ctx, address, chain))

        await self._run(interaction, action)

    @app_commands.command(
        name="voter", description="Proposals for an address that votes, with reminders before the end"
    )
    @app_commands.describe(
        address="The account that votes (its prefix picks the chain)",
        chain="Only needed when several chains share the address's prefix",
    )
    async def voter(
        self, interaction: discord.Interaction, address: app_commands.Range[str, 1, 200], chain: str | None = None
    ) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.monitoring(ctx, await self._actions.voter(ctx, address, chain))

        await self._run(interaction, action)

    @app_commands.command(
        name="subscribe", description="Subscribe with a preset or a CometBFT query (no options: a guided form)"
    )
    @app_commands.describe(
        chain="The chain to watch (required with a preset or a query)",
        preset="A ready-made subscription (see the suggestions)",
        params="The preset's parameters: name=value pairs, e.g. address=cosmos1… min_amount=5",
        query="A CometBFT query instead of a preset, e.g. transfer.recipient='cosmos1…'",
        name="A name for the subscription",
    )
    async def subscribe(
        self,
        interaction: discord.Interaction,
        chain: app_commands.Range[str, 1, 64] | None = None,
        preset: str | None = None,
        params: app_commands.Range[str, 1, 1000] | None = None,
        query: app_commands.Range[str, 1, 1000] | None = None,
        name: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        async def action(ctx: ChatContext) -> Answer:
            if preset is None and query is None and not params:  # nothing but a chain: the guided form
                return self.guided.start(ctx, chain)
            if chain is None:
                raise ValidationError(
                    "chain: required with a preset or a query (or give no options for the guided form)"
                )
            if preset is None and params:
                raise ValidationError("params: only used with a preset; choose a preset or give a query")
            spec = self._actions.preset(preset) if preset is not None else None  # a name or a title
            parsed = parse_params(params, spec) if spec is not None else None
            if spec is not None and parsed is not None and query is None:  # a required parameter left out: the form
                form = self.guided.missing_params(ctx, chain, spec, parsed, name)
                if form is not None:
                    return form
            preset_name = spec.name if spec is not None else None
            sub = await self._actions.subscribe(ctx, chain, name=name, preset=preset_name, params=parsed, query=query)
            return replies.subscribed(ctx, sub, self._actions.chain(sub.chain_id))

        await self._run(interaction, action)

    # -- managing --------------------------------------------------------------------------------
    @app_commands.command(name="list", description="The subscriptions here (yours in a DM, the server's in a server)")
    async def list_(self, interaction: discord.Interaction) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return self.listing.page(ctx, await self._actions.list(ctx))

        await self._run(interaction, action)

    @app_commands.command(name="pause", description="Stop notifications of a subscription for now")
    @app_commands.describe(subscription="The subscription (see the suggestions or /mempools list)")
    async def pause(self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100]) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.paused(ctx, await self._actions.pause(ctx, subscription))

        await self._run(interaction, action)

    @app_commands.command(name="resume", description="Turn a paused subscription back on")
    @app_commands.describe(subscription="The subscription (see the suggestions or /mempools list)")
    async def resume(self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100]) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.resumed(ctx, await self._actions.resume(ctx, subscription))

        await self._run(interaction, action)

    @app_commands.command(name="unsubscribe", description="Remove a subscription (its history stays)")
    @app_commands.describe(subscription="The subscription (see the suggestions or /mempools list)")
    async def unsubscribe(
        self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100]
    ) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.unsubscribed(ctx, await self._actions.unsubscribe(ctx, subscription))

        await self._run(interaction, action)

    @app_commands.command(name="silent", description="Post a subscription's notifications without a sound, or with one")
    @app_commands.describe(
        subscription="The subscription (see the suggestions or /mempools list)",
        on="True (the default): no sound or push; False: the usual sound again",
    )
    async def silent(
        self, interaction: discord.Interaction, subscription: app_commands.Range[str, 1, 100], on: bool = True
    ) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.silenced(ctx, await self._actions.set_silent(ctx, subscription, on))

        await self._run(interaction, action)

    @app_commands.command(name="history", description="The last notifications sent here")
    @app_commands.describe(count=f"How many (1 to {MAX_HISTORY}, default 5)")
    async def history(
        self, interaction: discord.Interaction, count: app_commands.Range[int, 1, MAX_HISTORY] = 5
    ) -> None:
        async def action(ctx: ChatContext) -> Answer:
            return replies.history(ctx, await self._actions.history(ctx, count), self._find)

        await self._run(interaction, action)

    @app_commands.command(name="settings", description="Where notifications go here, quiet hours, and each one's sound")
    @app_commands.describe(quiet='Quiet hours, e.g. "23:00-07:00 Europe/Berlin" (arrive without a sound), or "off"')
    async def settings(
        self, interaction: discord.Interaction, quiet: app_commands.Range[str, 1, 100] | None = None
    ) -> None:
        await self._run(
            interaction, lambda ctx: self.panel.show(ctx) if quiet is None else self.panel.set_quiet(ctx, quiet)
        )

    # -- everything else -------------------------------------------------------------------------
    @app_commands.command(name="chains", description="The chains this bot watches")
    async def chains(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, lambda _ctx: replies.chain_list(self._actions.chains()))

    @app_commands.command(name="link", description="Join your Discord account to a Mempools (REST) account")
    @app_commands.describe(code="The one-time code from POST /v1/link-codes")
    async def link(self, interaction: discord.Interaction, code: app_commands.Range[str, 1, 32]) -> None:
        # Codes are upper-case (an unambiguous alphabet); phones often type them in lower case.
        async def action(ctx: ChatContext) -> Answer:
            return replies.linked((await self._actions.link(personal_context(ctx), code.upper())).id)

        await self._run(interaction, action)

    @app_commands.command(name="test", description="Send a test notification here")
    async def test(self, interaction: discord.Interaction) -> None:
        async def action(ctx: ChatContext) -> Reply:
            await self._actions.test(ctx)
            return replies.test_queued(ctx)

        await self._run(interaction, action)

    # -- autocomplete ----------------------------------------------------------------------------
    @watch.autocomplete("chain")
    @validator.autocomplete("chain")
    @voter.autocomplete("chain")
    @subscribe.autocomplete("chain")
    async def _chain_choices(self, interaction: discord.Interaction, current: str) -> Choices:
        return chain_choices(self._actions, current)

    @subscribe.autocomplete("preset")
    async def _preset_choices(self, interaction: discord.Interaction, current: str) -> Choices:
        return preset_choices(current)

    @pause.autocomplete("subscription")
    async def _active_choices(self, interaction: discord.Interaction, current: str) -> Choices:
        return await subscription_choices(self._actions, chat_context(interaction), current, enabled=True)

    @resume.autocomplete("subscription")
    async def _paused_choices(self, interaction: discord.Interaction, current: str) -> Choices:
        return await subscription_choices(self._actions, chat_context(interaction), current, enabled=False)

    @unsubscribe.autocomplete("subscription")
    @silent.autocomplete("subscription")
    async def _any_choices(self, interaction: discord.Interaction, current: str) -> Choices:
        return await subscription_choices(self._actions, chat_context(interaction), current)

    def _find(self, chain_id: str) -> Chain | None:
        """The configured chain for display, or None (a notification of a chain since removed)."""
        try:
            return self._actions.chain(chain_id)
        except MempoolsError:
            return None

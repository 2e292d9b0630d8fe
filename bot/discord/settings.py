"""`/mempools settings`: where this channel's (or DM's) notifications go, its quiet hours, and each
subscription's sound, with buttons to change them (the Discord side of Telegram's /settings).

    /mempools settings                                the settings, with buttons
    /mempools settings quiet:"23:00-07:00 Europe/Berlin"   quiet hours (or quiet:off)

Under the settings: [🌙 Set quiet hours] opens a form (start, end, timezone); [🔔 Quiet hours off]
while there are some; and per subscription [🔕 Silence: …] or [🔔 Sound: …]. As with the other
buttons (`bot.discord.buttons`), each custom_id says what it does and is signed for the channel,
so the buttons keep working across restarts and a forged one changes nothing. A form with a bad
value comes back with what was typed (kept in a `Drafts` entry for the form's lifetime) and
says which field is wrong and why, as the guided subscribe does.

Anyone may look; in a server only server managers (Manage Server) may change anything: the whole
channel hears the sound, or does not. The services check it again.
"""

from __future__ import annotations

from datetime import datetime

import discord
import msgspec

from bot.actions import ChatActions, ChatContext, ChatSettings
from bot.callbacks import Callback, CallbackSigner
from bot.discord import replies
from bot.discord.context import chat_context
from bot.discord.guided import Drafts, modal_fields
from bot.discord.replies import ChainLookup, Reply
from bot.discord.respond import NO_MENTIONS, redraw, send
from core.dispatch.discord import StaticView
from core.dispatch.quiet_hours import MAX_TIMEZONE, parse_time, parse_timezone
from core.errors import MempoolsError, ValidationError
from core.support.text import ellipsize

# custom_id verbs (lower-case "s…"; the other flows use "n…", "l…", "g…").
SET_QUIET, QUIET_FORM, QUIET_OFF, SILENCE, SOUND = "sQ", "sM", "sq", "s1", "s0"
SETTINGS_VERBS = (SET_QUIET, QUIET_FORM, QUIET_OFF, SILENCE, SOUND)
START, END, TIMEZONE = "start", "end", "timezone"
#: The form's fields in plain words (also how a wrong one is named).
LABELS = {START: "Start (HH:MM)", END: "End (HH:MM)", TIMEZONE: "Timezone"}
#: Sound buttons under the message: 4 rows of 5 (the first row holds the quiet-hours buttons).
MAX_TOGGLES = 20
ONLY_MANAGERS = (
    "Only server managers (the Manage Server permission) can change this channel's settings. "
    "Anyone can look with `/mempools settings`."
)
_LABEL = 60  # of a button's 80, room for the icon and the verb


class QuietDraft(msgspec.Struct, kw_only=True):
    """What was typed into the quiet-hours form, kept while it is being fixed."""

    user_id: int
    start: str = ""
    end: str = ""
    timezone: str = ""
    created_at: datetime


class SettingsPanel:
    """Draws the settings message and answers its buttons and its form."""

    def __init__(
        self,
        actions: ChatActions,
        signer: CallbackSigner | None,
        chains: ChainLookup,
        drafts: Drafts[QuietDraft] | None = None,
    ) -> None:
        self._actions = actions
        self._signer = signer
        self._chains = chains
        self._drafts: Drafts[QuietDraft] = drafts or Drafts()

    def _id(self, ctx: ChatContext, verb: str, *args: str) -> str:
        assert self._signer is not None
        return self._signer.encode(ctx.chat_id, verb, *args)

    # -- screens ---------------------------------------------------------------------------------
    async def show(self, ctx: ChatContext, *, note: str = "", fix: str | None = None) -> Reply:
        """The settings with their buttons; `note` says what just changed (or what is wrong), and
        `fix` is the key of typed quiet hours to bring back into the form."""
        current = await self._actions.settings(ctx)
        toggles = min(len(current.subscriptions), MAX_TOGGLES) if self._signer is not None else 0
        reply = replies.settings(ctx, current, self._chains, toggles=toggles, note=note)
        if self._signer is not None:
            reply.view = self._view(ctx, current, fix)
        return reply

    def _view(self, ctx: ChatContext, current: ChatSettings, fix: str | None) -> discord.ui.View:
        view = StaticView()
        has_quiet = getattr(current.destination, "quiet_hours", None) is not None
        first: discord.ui.Button[discord.ui.View]
        if fix is not None:
            first = discord.ui.Button(
                label="✏️ Fix quiet hours", style=discord.ButtonStyle.primary, custom_id=self._id(ctx, SET_QUIET, fix)
            )
        else:
            first = discord.ui.Button(
                label="🌙 Change quiet hours" if has_quiet else "🌙 Set quiet hours",
                style=discord.ButtonStyle.primary,
                custom_id=self._id(ctx, SET_QUIET),
            )
        view.add_item(first)
        if has_quiet:
            view.add_item(discord.ui.Button(label="🔔 Quiet hours off", custom_id=self._id(ctx, QUIET_OFF)))
        for i, sub in enumerate(current.subscriptions[:MAX_TOGGLES]):
            name = ellipsize(sub.name, _LABEL)
            label, verb = (f"🔔 Sound: {name}", SOUND) if sub.silent else (f"🔕 Silence: {name}", SILENCE)
            view.add_item(discord.ui.Button(label=label, custom_id=self._id(ctx, verb, sub.id), row=1 + i // 5))
        return view

    def form(self, ctx: ChatContext, draft: QuietDraft) -> discord.ui.Modal:
        modal = discord.ui.Modal(title="Quiet hours", custom_id=self._id(ctx, QUIET_FORM))
        for field, value, placeholder, length in (
            (START, draft.start, "e.g. 23:00", 10),
            (END, draft.end, "e.g. 07:00", 10),
            (TIMEZONE, draft.timezone, "e.g. Europe/Berlin or UTC", MAX_TIMEZONE),
        ):
            modal.add_item(
                discord.ui.TextInput(
                    label=LABELS[field],
                    custom_id=field,
                    placeholder=placeholder,
                    default=value or None,
                    required=True,
                    max_length=length,
                )
            )
        return modal

    async def set_quiet(self, ctx: ChatContext, typed: str) -> Reply:
        """`/mempools settings quiet:…`: the change, said to the channel in a server."""
        dest = await self._actions.set_quiet_hours(ctx, typed)
        return replies.quiet_hours_set(ctx, getattr(dest, "quiet_hours", None))

    # -- presses ---------------------------------------------------------------------------------
    async def press(self, interaction: discord.Interaction, callback: Callback) -> None:
        ctx = chat_context(interaction)
        if ctx.is_group and not ctx.is_admin:
            await send(interaction, replies.refused(ONLY_MANAGERS))
            return
        try:
            if callback.verb == SET_QUIET:
                await interaction.response.send_modal(self.form(ctx, await self._typed(ctx, callback)))
                return
            if callback.verb == QUIET_FORM:
                await self._submitted(interaction, ctx)
                return
            if callback.verb == QUIET_OFF:
                said = await self.set_quiet(ctx, "off")
            else:
                sub_id = callback.args[0] if callback.args else ""
                said = replies.silenced(ctx, await self._actions.set_silent(ctx, sub_id, callback.verb == SILENCE))
        except MempoolsError as exc:  # e.g. a stale button of a deleted subscription: redrawn without it
            await self._answer(interaction, await self.show(ctx, note=replies.error(exc, "discord settings").content))
            return
        await self._answer(interaction, await self.show(ctx, note=said.content), told=said)

    async def _typed(self, ctx: ChatContext, callback: Callback) -> QuietDraft:
        """What the form opens with: the values typed last time ([Fix quiet hours]), else the current ones."""
        kept = self._drafts.get(callback.args[0]) if callback.args else None
        if kept is not None and kept.user_id == ctx.user_id:
            return kept
        window = getattr((await self._actions.settings(ctx)).destination, "quiet_hours", None)
        draft = QuietDraft(user_id=ctx.user_id, created_at=self._drafts.now())
        if window is not None:
            draft.start, draft.end, draft.timezone = window.start, window.end, window.timezone
        return draft

    async def _submitted(self, interaction: discord.Interaction, ctx: ChatContext) -> None:
        fields = modal_fields(interaction)
        draft = QuietDraft(
            user_id=ctx.user_id,
            start=fields.get(START, "").strip(),
            end=fields.get(END, "").strip(),
            timezone=fields.get(TIMEZONE, "").strip(),
            created_at=self._drafts.now(),
        )
        problems = _problems(draft)
        if problems:
            wrong = "\n".join(f"❌ **{LABELS[f]}**: {why}" for f, why in problems.items())
            note = f"**Quiet hours**: please fix this, what you typed is kept.\n{wrong}"
            await self._answer(interaction, await self.show(ctx, note=note, fix=self._drafts.put(draft)))
            return
        said = await self.set_quiet(ctx, f"{draft.start}-{draft.end} {draft.timezone}")
        await self._answer(interaction, await self.show(ctx, note=said.content), told=said)

    async def _answer(self, interaction: discord.Interaction, screen: Reply, *, told: Reply | None = None) -> None:
        """The settings message redrawn; in a server the channel is also told what changed."""
        await redraw(interaction, screen)
        if told is not None and not told.ephemeral:
            await interaction.followup.send(told.content, ephemeral=False, allowed_mentions=NO_MENTIONS)


def _problems(draft: QuietDraft) -> dict[str, str]:
    """Each field checked on its own: field -> why it is wrong, in plain words."""
    problems: dict[str, str] = {}
    for field, value, check in ((START, draft.start, parse_time), (END, draft.end, parse_time)):
        try:
            check(value)
        except ValidationError as exc:
            problems[field] = str(exc)
    try:
        draft.timezone = parse_timezone(draft.timezone)
    except ValidationError as exc:
        problems[TIMEZONE] = str(exc).removeprefix("timezone: ")
    return problems

"""The guided `/mempools subscribe`: chain menu -> preset menu -> a form for the preset's parameters
-> confirm, in one ephemeral message edited in place (the form is a Discord modal over it).

`/mempools subscribe` with no preset and no query starts it (at the preset menu when `chain` is
given, or when only one chain is configured); with a chain and a preset but a required parameter
left out, it opens at the form (`missing_params`), with what was given already filled in.
The menus carry what was chosen in their signed custom_id; from the form on, the values live in
a `Drafts` entry for `DRAFT_TTL` (an interaction token's lifetime, after which Discord lets
nobody edit the message anyway), so a form with a bad value comes back with the other values
kept, and says which field is wrong and why. Every step is ephemeral, so only the person who
started it can press; in a server only server managers may start or finish it
(`ChatActions.require_admin`, checked again when subscribing).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

import discord
import msgspec

from bot.actions import ChatActions, ChatContext, default_name
from bot.callbacks import Callback, CallbackSigner
from bot.discord import replies
from bot.discord.context import chat_context
from bot.discord.replies import Reply
from bot.discord.respond import NO_MENTIONS, edit, redraw, send
from core.dispatch.discord import StaticView
from core.errors import MempoolsError, ValidationError
from core.models import Chain
from core.query.presets import ParamSpec, PresetSpec
from core.support.text import ellipsize
from core.support.timeutil import utcnow

CHAIN, PRESET, FORM, OPEN_FORM, SUBSCRIBE, CANCEL = "gC", "gP", "gM", "gO", "gS", "gX"
GUIDED_VERBS = (CHAIN, PRESET, FORM, OPEN_FORM, SUBSCRIBE, CANCEL)
#: The form's field for the subscription's name (not a parameter name: those have no leading "_").
NAME_FIELD = "_name"
DRAFT_TTL = timedelta(minutes=15)
MAX_DRAFTS = 1000
EXPIRED = "This form has expired. Start again with `/mempools subscribe`."
_OPTION_LIMIT = 25  # a select menu's
_LABEL_LIMIT = 45  # a modal's title and a text input's label

#: A parameter's name in plain words, as the form's label.
LABELS = {
    "address": "Address",
    "min_amount": "Minimum amount",
    "denom": "Denom of the minimum amount",
    "include_fees": "Include the fee transfer too?",
    "sender": "Sender's address",
    "recipient": "Recipient's address",
    "contract": "Contract address",
    "event": "Event name",
    "attributes": "Attributes (name=value, comma-separated)",
    "signer": "Signer's address",
    "outcome": "Outcome",
    "proposal_id": "Proposal number",
    "result": "Result",
    "validator": "Validator address",
    "min_missed": "Minimum missed blocks",
}


def label(param: ParamSpec) -> str:
    return ellipsize(LABELS.get(param.name, param.name.replace("_", " ").capitalize()), _LABEL_LIMIT)


def placeholder(param: ParamSpec, chain: Chain) -> str:
    """An example of a valid value, and whether the field may stay empty."""
    prefix = chain.bech32_prefix
    examples = {
        "address": f"{prefix}1…",
        "valoper": f"{prefix}valoper1…",
        "valcons": f"{prefix}valcons1…",
        "amount": "e.g. 5 or 0.25",
        "denom": f"e.g. {chain.denoms[0].display}" if chain.denoms else "e.g. uatom",
        "integer": "a whole number, e.g. 42",
        "attributes": "e.g. action=swap,pair=x",
        "name": "e.g. transfer",
    }
    text = " or ".join(param.choices) if param.choices else examples.get(param.type, "")
    if not param.required:
        default = f", default {param.default}" if param.default else ""
        text = f"{text} (optional{default})" if text else f"optional{default}"
    return ellipsize(text, 100)


class Draft(msgspec.Struct, kw_only=True):
    user_id: int
    chain_id: str
    preset: str
    values: dict[str, str] = {}
    name: str = ""  # empty: the default name (`bot.actions.default_name`)
    created_at: datetime


class Dated(Protocol):
    created_at: datetime


D = TypeVar("D", bound=Dated)


class Drafts(Generic[D]):
    """The forms in progress, for `DRAFT_TTL`; kept in memory (a restart loses them, as it says).

    Generic over what a form holds: this flow's `Draft`, and the typed quiet hours of
    `bot.discord.settings` (a form with a bad value comes back with what was typed)."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._drafts: dict[str, D] = {}

    def now(self) -> datetime:
        return self._clock()

    def put(self, draft: D) -> str:
        now = self._clock()
        for key in [k for k, d in self._drafts.items() if now - d.created_at > DRAFT_TTL]:
            del self._drafts[key]
        while len(self._drafts) >= MAX_DRAFTS:
            del self._drafts[next(iter(self._drafts))]
        key = secrets.token_urlsafe(6)
        self._drafts[key] = draft
        return key

    def get(self, key: str) -> D | None:
        draft = self._drafts.get(key)
        if draft is None or self._clock() - draft.created_at > DRAFT_TTL:
            self._drafts.pop(key, None)
            return None
        return draft

    def drop(self, key: str) -> None:
        self._drafts.pop(key, None)


class GuidedSubscribe:
    def __init__(
        self, actions: ChatActions, signer: CallbackSigner | None, drafts: Drafts[Draft] | None = None
    ) -> None:
        self._actions = actions
        self._signer = signer
        self._drafts: Drafts[Draft] = drafts or Drafts()

    def _id(self, ctx: ChatContext, verb: str, *args: str) -> str:
        assert self._signer is not None
        return self._signer.encode(ctx.chat_id, verb, *args)

    # -- screens ---------------------------------------------------------------------------------
    def start(self, ctx: ChatContext, chain_id: str | None) -> Reply:
        """The first screen: the chain menu, or the preset menu when the chain is known."""
        self._actions.require_admin(ctx)
        if self._signer is None:
            raise ValidationError("give a preset or a query (the guided form needs the bot's token)")
        chains = self._actions.chains()
        if chain_id is None and len(chains) == 1:
            chain_id = chains[0].id
        if chain_id is not None:
            return self.presets(ctx, self._actions.chain(chain_id))
        view = StaticView()
        view.add_item(
            discord.ui.Select(
                custom_id=self._id(ctx, CHAIN),
                placeholder="Choose the chain",
                options=[
                    discord.SelectOption(label=ellipsize(c.name, 100), value=c.id, description=c.id)
                    for c in chains[:_OPTION_LIMIT]
                ],
            )
        )
        return Reply(content="**Subscribe · step 1 of 3**: which chain?", view=view)

    def missing_params(
        self, ctx: ChatContext, chain_id: str, spec: PresetSpec, values: Mapping[str, str], name: str | None
    ) -> discord.ui.Modal | None:
        """The form for `spec`, filled in with `values`, when a required parameter is left out
        (None when all are given, or without a token: then the service names what is missing).

        People type `/mempools subscribe chain:… preset:…` and expect to be asked for the rest;
        an error telling them to start again with `params:` would make them type it all twice."""
        if self._signer is None or all(values.get(p.name) for p in spec.params if p.required):
            return None
        self._actions.require_admin(ctx)
        chain = self._actions.chain(chain_id)
        draft = Draft(
            user_id=ctx.user_id,
            chain_id=chain.id,
            preset=spec.name,
            values=dict(values),
            name=name or "",
            created_at=self._drafts.now(),
        )
        return self.form(ctx, self._drafts.put(draft), draft)

    def presets(self, ctx: ChatContext, chain: Chain) -> Reply:
        view = StaticView()
        view.add_item(
            discord.ui.Select(
                custom_id=self._id(ctx, PRESET, chain.id),
                placeholder="Choose what to be told about",
                options=[
                    discord.SelectOption(
                        label=ellipsize(p.title, 100), value=p.name, description=ellipsize(p.description, 100)
                    )
                    for p in self._actions.presets()[:_OPTION_LIMIT]
                ],
            )
        )
        return Reply(content=f"**Subscribe · step 2 of 3** on {replies.esc(chain.name)}: what about?", view=view)

    def form(self, ctx: ChatContext, key: str, draft: Draft) -> discord.ui.Modal:
        spec = self._actions.preset(draft.preset)
        chain = self._actions.chain(draft.chain_id)
        modal = discord.ui.Modal(title=ellipsize(spec.title, _LABEL_LIMIT), custom_id=self._id(ctx, FORM, key))
        modal.timeout = DRAFT_TTL.total_seconds()
        for param in spec.params[:5]:  # a modal's limit; no preset has more
            modal.add_item(
                discord.ui.TextInput(
                    label=label(param),
                    custom_id=param.name,
                    placeholder=placeholder(param, chain),
                    default=draft.values.get(param.name) or None,
                    required=param.required,
                    max_length=1000,
                )
            )
        if len(spec.params) < 5:
            modal.add_item(
                discord.ui.TextInput(
                    label="Name (optional)",
                    custom_id=NAME_FIELD,
                    placeholder=ellipsize(default_name(spec.name, draft.values), 100),
                    default=draft.name or None,
                    required=False,
                    max_length=100,
                )
            )
        return modal

    def confirm(self, ctx: ChatContext, key: str, draft: Draft, *, problems: Mapping[str, str] | None = None) -> Reply:
        """The values as they will be used and [Subscribe], or what is wrong and [Fix the values]."""
        spec = self._actions.preset(draft.preset)
        chain = self._actions.chain(draft.chain_id)
        shown_name = draft.name or default_name(spec.name, draft.values)
        lines = [f"**{replies.esc(shown_name)}** on {replies.esc(chain.name)}: {replies.esc(spec.title)}"]
        for param in spec.params:
            value = draft.values.get(param.name, "")
            shown = "`" + value.replace("`", "'") + "`" if value else "—"
            lines.append(f"{label(param)}: {shown}")
        view = StaticView()
        if problems:
            wrong = "\n".join(f"❌ **{label(p)}**: {problems[p.name]}" for p in spec.params if p.name in problems)
            content = f"**Subscribe**: please fix this, the other values are kept.\n{wrong}"
            view.add_item(
                discord.ui.Button(
                    label="✏️ Fix the values", style=discord.ButtonStyle.primary, custom_id=self._id(ctx, OPEN_FORM, key)
                )
            )
        else:
            content = "**Subscribe · step 3 of 3**: is this right?"
            view.add_item(
                discord.ui.Button(
                    label="✅ Subscribe", style=discord.ButtonStyle.success, custom_id=self._id(ctx, SUBSCRIBE, key)
                )
            )
            if spec.params:
                view.add_item(discord.ui.Button(label="✏️ Change the values", custom_id=self._id(ctx, OPEN_FORM, key)))
        view.add_item(discord.ui.Button(label="Cancel", custom_id=self._id(ctx, CANCEL, key)))
        embed = discord.Embed(description="\n".join(lines), color=0x5865F2)
        return Reply(content=content, embed=embed, view=view)

    # -- presses ---------------------------------------------------------------------------------
    async def press(self, interaction: discord.Interaction, callback: Callback) -> None:
        ctx = chat_context(interaction)
        try:
            if callback.verb == CHAIN:
                chosen = _values(interaction)
                await edit(interaction, self.presets(ctx, self._actions.chain(chosen[0] if chosen else "")))
            elif callback.verb == PRESET:
                await self._chose_preset(interaction, ctx, callback.args[0], _values(interaction))
            else:
                await self._with_draft(interaction, ctx, callback)
        except MempoolsError as exc:
            await send(interaction, replies.error(exc, "discord guided subscribe"))

    async def _chose_preset(
        self, interaction: discord.Interaction, ctx: ChatContext, chain_id: str, chosen: list[str]
    ) -> None:
        self._actions.require_admin(ctx)
        spec = self._actions.preset(chosen[0] if chosen else "")
        chain = self._actions.chain(chain_id)
        draft = Draft(user_id=ctx.user_id, chain_id=chain.id, preset=spec.name, created_at=self._drafts.now())
        key = self._drafts.put(draft)
        if spec.params:
            await interaction.response.send_modal(self.form(ctx, key, draft))
        else:
            await edit(interaction, self.confirm(ctx, key, draft))

    async def _with_draft(self, interaction: discord.Interaction, ctx: ChatContext, callback: Callback) -> None:
        key = callback.args[0] if callback.args else ""
        draft = self._drafts.get(key)
        if draft is None or draft.user_id != ctx.user_id:
            await send(interaction, replies.failure(EXPIRED))
            return
        if callback.verb == OPEN_FORM:
            await interaction.response.send_modal(self.form(ctx, key, draft))
        elif callback.verb == FORM:
            fields = modal_fields(interaction)
            draft.name = fields.pop(NAME_FIELD, "").strip()
            draft.values = fields
            await redraw(interaction, self.confirm(ctx, key, draft, problems=self._problems(draft)))
        elif callback.verb == CANCEL:
            self._drafts.drop(key)
            await edit(interaction, Reply(content="Nothing was subscribed."))
        elif callback.verb == SUBSCRIBE:
            params = {k: v for k, v in draft.values.items() if v}
            name = draft.name or None
            sub = await self._actions.subscribe(ctx, draft.chain_id, name=name, preset=draft.preset, params=params)
            self._drafts.drop(key)
            done = replies.subscribed(ctx, sub, self._actions.chain(sub.chain_id))
            await edit(interaction, Reply(content=done.content))
            if not done.ephemeral:  # in a server the channel is told, as after the slash command
                await interaction.followup.send(done.content, ephemeral=False, allowed_mentions=NO_MENTIONS)

    def _problems(self, draft: Draft) -> dict[str, str]:
        """Each field checked on its own (normalised in place when valid); field -> why it is wrong."""
        spec: PresetSpec = self._actions.preset(draft.preset)
        problems: dict[str, str] = {}
        for param in spec.params:
            value = draft.values.get(param.name, "")
            try:
                checked = self._actions.check_param(draft.chain_id, draft.preset, param.name, value) if value else ""
            except ValidationError as exc:
                text = str(exc)
                problems[param.name] = text.split(": ", 1)[1] if text.startswith(f"{param.name}: ") else text
                continue
            if param.required and not checked:
                problems[param.name] = "required"
            draft.values[param.name] = checked
        return problems


def _values(interaction: discord.Interaction) -> list[str]:
    data: dict[str, Any] = dict(interaction.data or {})
    return [str(v) for v in data.get("values") or []]


def modal_fields(interaction: discord.Interaction) -> dict[str, str]:
    """A submitted modal's text inputs by custom_id (in action rows, or in labels)."""
    found: dict[str, str] = {}

    def walk(components: list[Any]) -> None:
        for component in components:
            if "value" in component and "custom_id" in component:
                found[str(component["custom_id"])] = str(component["value"])
            walk(list(component.get("components") or []))
            if isinstance(component.get("component"), dict):
                walk([component["component"]])

    data: dict[str, Any] = dict(interaction.data or {})
    walk(list(data.get("components") or []))
    return found

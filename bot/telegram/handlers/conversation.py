"""`/subscribe`: chain -> preset -> parameters -> name -> confirm, one stored step at a time.

Also `/subscribe <chain> <query>` for a raw CometBFT query, the chain question `/watch` asks
when several chains share a prefix, the "Watch cosmos1…?" offer for an address pasted in a
private chat (a one-chain watch flow, so its button is checked like every flow button), and the
rename of a subscription from its /list card (a flow of one typed step).

The flow keeps one message: every step, button or typed answer, edits the flow's own message
(`Flow.message_id`) to the next screen, so the chat does not fill with prompts; the user's typed
answer is then deleted where the bot may (a private chat; a group where it is an administrator
allowed to delete messages), and a spent ForceReply prompt always is. Every step has
Back and Cancel, and typing "back" or "cancel" does the same (never taken as a name). In a
group, privacy mode shows the bot only replies to its own messages, so a step answered by typing
also sends a ForceReply prompt. An expired flow is offered to continue where it was. The flow
lives in the KV store (`bot.telegram.flows`), so a restart continues it and a stale button is
recognised.
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

from telegram import CallbackQuery, ForceReply, InlineKeyboardMarkup, Update
from telegram.ext import CommandHandler, ContextTypes

from bot.actions import ChainChoiceRequired, ChatContext, clean_input, default_name
from bot.callbacks import Callback
from bot.telegram.cards import GONE, card_screen
from bot.telegram.flows import Flow, FlowExpiredError
from bot.telegram.format import created_text, error_text, param_prompt, plain_text, preset_summary, watch_offer_text
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from bot.telegram.keyboards import BACK, CANCEL, CONTINUE
from core.errors import MempoolsError, NotFoundError, ValidationError
from core.models import Chain
from core.query.presets import ParamSpec, PresetSpec

Ctx = ContextTypes.DEFAULT_TYPE
EXPIRED = "That conversation expired after an hour without an answer. Start again with /subscribe."
EXPIRED_OFFER = "That conversation expired after an hour without an answer. Continue where you were, or cancel."
STALE = "This menu is no longer active (it expired, was replaced, or belongs to someone else)."
MAX_NAME = 100
USAGE = "Usage: /subscribe for the guided way, or /subscribe &lt;chain&gt; &lt;query&gt;."
CANCELLED = "Cancelled. Nothing was created."
#: Typed instead of pressed: understood as the buttons, never taken as an answer.
BACK_WORDS = frozenset({"back", "\u2039 back", "/back"})
CANCEL_WORDS = frozenset({"cancel", "✖ cancel", "stop"})
_ADDRESS_TYPES = ("address", "valoper", "valcons")


class Step(NamedTuple):
    """One screen of a flow: its text, its buttons, and in a group the ForceReply to send with
    it when the step is answered by typing (`reply_for`: what to reply with)."""

    text: str
    markup: InlineKeyboardMarkup | None = None
    reply_for: str | None = None


class ConversationHandlers:
    def __init__(self, kit: Toolkit) -> None:
        self.kit = kit

    def register(self, app: TelegramApp) -> None:
        app.add_handler(CommandHandler("subscribe", self.subscribe))

    # -- data the steps offer (in a stable order, buttons carry indexes) ---------------------------
    def _chains(self) -> list[Chain]:
        return [self.kit.actions.chain(c.id) for c in self.kit.actions.chains()]

    def _presets(self) -> list[PresetSpec]:
        return self.kit.actions.presets()

    def _params(self, flow: Flow) -> tuple[ParamSpec, ...]:
        return self.kit.actions.preset(flow.preset).params if flow.preset else ()

    def _default_name(self, flow: Flow) -> str:
        return default_name(flow.preset, flow.params)[:MAX_NAME]

    # -- /subscribe ---------------------------------------------------------------------------------
    async def subscribe(self, update: Update, _context: Ctx) -> None:
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        try:
            self.kit.actions.require_admin(ctx)
        except MempoolsError as exc:
            await self.kit.fail(update, exc)
            return
        arg = command_argument(update)
        chain_arg, _, query = arg.partition(" ")
        query = query.strip()
        try:
            chain = self.kit.actions.chain(chain_arg.strip()) if chain_arg else None
            if chain is not None and query:
                sub = await self.kit.actions.subscribe(ctx, chain.id, query=query)
                await self.kit.reply(update, created_text(sub, chain.name))
                return
        except MempoolsError as exc:
            hint = f"\n{USAGE}" if chain_arg and not query else ""
            await self.kit.reply(update, error_text(exc) + hint)
            return
        chains = self._chains()
        if chain is None and len(chains) == 1:
            chain = chains[0]
        if chain is None:
            flow = await self.kit.flows.start(ctx.chat_id, ctx.user_id, "subscribe", "chain")
        else:
            flow = await self.kit.flows.start(ctx.chat_id, ctx.user_id, "subscribe", "preset", chain_id=chain.id)
        await self._show(update, flow, ctx, await self._screen(flow, ctx))

    # -- the screens ----------------------------------------------------------------------------------
    async def _screen(self, flow: Flow, ctx: ChatContext) -> Step:
        """What the flow's current step shows (the flow is not changed)."""
        kb = self.kit.keyboards
        if flow.kind == "rename":
            sub = await self.kit.actions.get(ctx, flow.subscription_id or "")
            return Step(
                f"Send the new name for <b>{escape(sub.name)}</b> (up to {MAX_NAME} characters).",
                kb.way_out(flow),
                "new name",
            )
        if flow.step == "chain":
            return Step("<b>New subscription</b> · Which chain?", kb.chains(flow, self._chains()))
        chain = self.kit.actions.chain(flow.chain_id or "")
        if flow.step == "preset":
            return Step(
                f"<b>New subscription</b> on {escape(chain.name)} · What should I watch?",
                kb.presets(flow, self._presets(), back=len(self._chains()) > 1),
            )
        params = self._params(flow)
        if flow.step == "param":
            param = params[flow.param_index]
            text = param_prompt(param, flow.param_index + 1, len(params))
            typed = not param.choices and param.required
            return Step(text, kb.param(flow, param), param.name if typed else None)
        if flow.step == "name":
            default = self._default_name(flow)
            return Step(f"Name it (send a message), or use “{escape(default)}”.", kb.name(flow, default), "name")
        preset = self.kit.actions.preset(flow.preset or "")
        return Step(
            f"Create <b>{escape(flow.name or '')}</b> on {escape(chain.name)}?\n"
            f"{preset_summary(preset, flow.params, chain)}\nNotifications will arrive in this chat.",
            kb.confirm(flow),
        )

    async def _advance(self, flow: Flow) -> None:
        """Past the last parameter comes the name; the flow is saved as it now stands."""
        if flow.step == "param" and flow.param_index >= len(self._params(flow)):
            flow.step = "name"
        await self.kit.flows.save(flow)

    async def _back(self, flow: Flow) -> None:
        """One step back, forgetting that step's answer (Back on the first step stays there)."""
        params = self._params(flow)
        if flow.step == "confirm":
            flow.step, flow.name = "name", None
        elif flow.step == "name" and params:
            flow.step, flow.param_index = "param", len(params) - 1
            flow.params.pop(params[-1].name, None)
        elif flow.step == "param" and flow.param_index > 0:
            flow.param_index -= 1
            flow.params.pop(params[flow.param_index].name, None)
        elif flow.step in ("name", "param"):
            flow.step, flow.params, flow.param_index = "preset", {}, 0
        elif flow.step == "preset" and len(self._chains()) > 1:
            flow.step = "chain"
        await self.kit.flows.save(flow)

    async def _show(self, update: Update, flow: Flow, ctx: ChatContext, step: Step, *, done: bool = False) -> None:
        """Edit the flow's message to `step` (the first step sends it); in a group a typed step
        also sends its ForceReply. `done`: the flow has ended, nothing to remember."""
        spent, flow.prompt_id = flow.prompt_id, None  # the previous step's prompt: answered or moot
        if not done:
            await self.kit.flows.save(flow)  # before the message goes out: the user may answer at once
        if flow.message_id is None:
            flow.message_id = await self.kit.reply(update, step.text, step.markup)
        else:
            flow.message_id = await self.kit.replier.edit_id(
                ctx.chat_id, flow.message_id, step.text, step.markup, message_thread_id=ctx.message_thread_id
            )
        if step.reply_for is not None and ctx.is_group and not done:
            prompt = await self.kit.replier.send(
                ctx.chat_id,
                f"Reply to this message with the {escape(step.reply_for)}.",
                ForceReply(selective=True, input_field_placeholder=step.reply_for[:64]),
                message_thread_id=ctx.message_thread_id,
            )
            flow.prompt_id = prompt.message_id if prompt is not None else None
        if not done:
            await self.kit.flows.save(flow, touch=False)
        if spent is not None:  # the bot's own message: it may always delete it
            await self.kit.replier.delete(ctx.chat_id, spent)

    async def show_step(self, update: Update, flow: Flow, ctx: ChatContext) -> None:
        """Show the flow's current step on its message (a rename started from a card)."""
        await self._show(update, flow, ctx, await self._screen(flow, ctx))

    async def _expired(self, update: Update, ctx: ChatContext, flow: Flow) -> str:
        """Offer to continue an expired subscribe or rename flow (a watch offer just says so)."""
        if flow.kind == "watch":
            return EXPIRED
        revived = await self.kit.flows.revive(flow)
        await self._show(update, revived, ctx, Step(EXPIRED_OFFER, self.kit.keyboards.expired(revived)))
        return EXPIRED_OFFER

    async def _cancel(self, update: Update, flow: Flow, ctx: ChatContext) -> str:
        await self.kit.flows.end(ctx.chat_id, ctx.user_id)
        if flow.kind == "rename":
            try:
                card = await card_screen(self.kit, ctx, flow.subscription_id or "", flow.page, "Rename cancelled.")
            except NotFoundError:
                await self._show(update, flow, ctx, Step(GONE), done=True)
                return GONE
            await self._show(update, flow, ctx, Step(card.text, card.markup), done=True)
            return "Cancelled"
        await self._show(update, flow, ctx, Step(CANCELLED), done=True)
        return "Cancelled"

    async def _go_back(self, update: Update, flow: Flow, ctx: ChatContext) -> None:
        if flow.kind == "rename":  # back from the rename is the card it came from
            await self.kit.flows.end(ctx.chat_id, ctx.user_id)
            card = await card_screen(self.kit, ctx, flow.subscription_id or "", flow.page)
            await self._show(update, flow, ctx, Step(card.text, card.markup), done=True)
            return
        await self._back(flow)
        await self._show(update, flow, ctx, await self._screen(flow, ctx))

    # -- button presses -------------------------------------------------------------------------------
    async def on_button(self, update: Update, query: CallbackQuery, callback: Callback) -> None:
        ctx = await self.kit.context(update, admin=True)
        if ctx is None or len(callback.args) != 2:
            await query.answer(STALE, show_alert=True)
            return
        nonce, choice = callback.args
        try:
            flow = await self.kit.flows.get(ctx.chat_id, ctx.user_id)
        except FlowExpiredError as exc:
            if query.message is not None:
                exc.flow.message_id = query.message.message_id
            await query.answer(await self._expired(update, ctx, exc.flow), show_alert=True)
            if exc.flow.kind == "watch":
                await self.kit.replier.edit(query.message, EXPIRED, None)
            return
        if flow is None or flow.nonce != nonce:
            await query.answer(STALE, show_alert=True)
            return
        if query.message is not None:
            flow.message_id = query.message.message_id
        try:
            if choice == CANCEL:
                await query.answer(await self._cancel(update, flow, ctx))
                return
            if choice == BACK:
                await query.answer()
                await self._go_back(update, flow, ctx)
                return
            if choice == CONTINUE:
                await query.answer()
                await self._show(update, flow, ctx, await self._screen(flow, ctx))
                return
            step = await self._press(flow, ctx, choice)
        except NotFoundError:
            await self.kit.flows.end(ctx.chat_id, ctx.user_id)
            await query.answer(GONE, show_alert=True)
            await self.kit.replier.edit(query.message, GONE, None)
            return
        except MempoolsError as exc:
            await query.answer(plain_text(error_text(exc)), show_alert=True)
            return
        if step is None:
            await query.answer("That button belongs to an earlier step.")
            return
        await query.answer()
        await self._show(update, flow, ctx, step, done=step.markup is None)

    async def _press(self, flow: Flow, ctx: ChatContext, choice: str) -> Step | None:
        """Apply a button to the flow; None when it does not fit the current step."""
        kind, index = choice[:1], _index(choice[1:])
        if flow.kind == "watch" and flow.step == "choose_chain" and kind == "c" and index < len(flow.choices):
            result = await self.kit.actions.watch(ctx, flow.address or "", flow.choices[index])
            await self.kit.flows.end(ctx.chat_id, ctx.user_id)
            return Step(created_text(result.subscription, result.chain.name, existed=not result.created))
        if flow.kind != "subscribe":
            return None
        if flow.step == "chain" and kind == "c":
            chains = self._chains()
            if index >= len(chains):
                return None
            flow.chain_id, flow.step = chains[index].id, "preset"
        elif flow.step == "preset" and kind == "p":
            presets = self._presets()
            if index >= len(presets):
                return None
            flow.preset, flow.params, flow.param_index, flow.step = presets[index].name, {}, 0, "param"
        elif flow.step == "param":
            param = self._params(flow)[flow.param_index]
            if kind == "v" and index < len(param.choices or ()):
                flow.params[param.name] = (param.choices or ())[index]
            elif choice != "s" or param.required:
                return None
            flow.param_index += 1
        elif flow.step == "name" and choice == "n":
            flow.name, flow.step = self._default_name(flow), "confirm"
        elif flow.step == "confirm" and choice == "ok":
            await self.kit.flows.end(ctx.chat_id, ctx.user_id)
            sub = await self.kit.actions.subscribe(
                ctx, flow.chain_id or "", name=flow.name, preset=flow.preset, params=flow.params
            )
            return Step(created_text(sub, self.kit.actions.chain(sub.chain_id).name))
        else:
            return None
        await self._advance(flow)
        return await self._screen(flow, ctx)

    # -- text answers -------------------------------------------------------------------------------
    async def on_text(self, update: Update, _: Ctx) -> None:
        """A parameter, the name or a new name, typed; outside a flow a short hint (private chats only).

        In a group another member's message is not an answer to this user's flow: flows are
        kept per (chat, user), so it finds none and is left alone."""
        ctx = await self.kit.context(update, admin=True)
        message = update.effective_message
        if ctx is None or message is None or message.text is None:
            return
        try:
            flow = await self.kit.flows.get(ctx.chat_id, ctx.user_id)
        except FlowExpiredError as exc:
            if exc.flow.kind == "watch":
                await self.kit.reply(update, EXPIRED)
            else:
                await self._expired(update, ctx, exc.flow)
            return
        if flow is None or flow.kind == "watch":
            if not ctx.is_group and not await self._offer_watch(update, ctx, message.text):
                await self.kit.reply(
                    update,
                    "I understand commands. To watch an address send /watch &lt;address&gt;; /help lists the rest.",
                )
            return
        await self._answer(update, flow, ctx, message.text)
        await self._remove_answer(ctx, message.message_id)

    async def _remove_answer(self, ctx: ChatContext, message_id: int) -> None:
        """Delete the user's typed answer: the flow's message now shows it (or why it was
        refused), so the chat keeps that one message. Always possible in a private chat; in a
        group only as an administrator with the right to delete messages (else not tried)."""
        if ctx.is_group and not await self.kit.admins.bot_can_delete(ctx.chat_id):
            return
        await self.kit.replier.delete(ctx.chat_id, message_id)

    async def _answer(self, update: Update, flow: Flow, ctx: ChatContext, text: str) -> None:
        """A typed answer to a live subscribe or rename flow (the words back and cancel included)."""
        word = clean_input(text).casefold()
        try:
            if word in CANCEL_WORDS:
                await self._cancel(update, flow, ctx)
                return
            if word in BACK_WORDS:
                await self._go_back(update, flow, ctx)
                return
            step = await self._typed(flow, ctx, text)
        except NotFoundError:
            await self.kit.flows.end(ctx.chat_id, ctx.user_id)
            await self._show(update, flow, ctx, Step(GONE), done=True)
            return
        except MempoolsError as exc:
            current = await self._screen(flow, ctx)
            retry = Step(f"{error_text(exc)}\nTry again, or go back.\n\n{current.text}", current.markup)
            await self._show(update, flow, ctx, retry)
            return
        if step is None:
            current = await self._screen(flow, ctx)
            await self._show(update, flow, ctx, Step(f"Please use the buttons.\n\n{current.text}", current.markup))
            return
        await self._show(update, flow, ctx, step, done=flow.kind == "rename" or step.markup is None)

    async def _offer_watch(self, update: Update, ctx: ChatContext, text: str) -> bool:
        """A message that is just an address of a configured chain: offer to watch it.

        Private chats only: in a group, privacy mode hides plain messages from the bot anyway.
        False (nothing sent) when the text is not such an address."""
        words = clean_input(text).split()
        if len(words) != 1:
            return False
        try:
            address, chain = self.kit.actions.resolve_address(words[0])
        except ChainChoiceRequired as exc:
            address, chains = exc.address, exc.choices
        except MempoolsError:
            return False
        else:
            chains = [chain]
        flow = await self.kit.flows.start(
            ctx.chat_id, ctx.user_id, "watch", "choose_chain", address=address, choices=[c.id for c in chains]
        )
        if len(chains) == 1:
            offer = self.kit.keyboards.watch_offer(flow)
            await self.kit.reply(update, watch_offer_text(address, chains[0].name), offer)
        else:
            await self.kit.reply(
                update,
                f"Watch <code>{escape(address)}</code>? It is valid on several chains: which one?",
                self.kit.keyboards.chains(flow, chains),
            )
        return True

    async def _typed(self, flow: Flow, ctx: ChatContext, text: str) -> Step | None:
        if flow.kind == "rename":
            sub = await self.kit.actions.rename(ctx, flow.subscription_id or "", _name(text))
            await self.kit.flows.end(ctx.chat_id, ctx.user_id)
            card = await card_screen(self.kit, ctx, sub.id, flow.page, f"✏️ Renamed to <b>{escape(sub.name)}</b>.")
            return Step(card.text, card.markup)
        params = self._params(flow)
        if flow.step == "param" and flow.param_index < len(params):
            param = params[flow.param_index]
            self.kit.actions.require_admin(ctx)
            value = self.kit.actions.check_param(flow.chain_id or "", flow.preset or "", param.name, text)
            if value:
                flow.params[param.name] = value
            elif param.required:
                return None
            flow.param_index += 1
        elif flow.step == "name":
            flow.name, flow.step = _name(text), "confirm"
        else:
            return None
        await self._advance(flow)
        return await self._screen(flow, ctx)


def _name(text: str) -> str:
    """A typed name, printable and of a sensible length (ValidationError otherwise)."""
    name = "".join(ch for ch in clean_input(text) if ch.isprintable()).strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationError(f"name: 1 to {MAX_NAME} printable characters (that one has {len(name)})")
    return name


def _index(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 1_000

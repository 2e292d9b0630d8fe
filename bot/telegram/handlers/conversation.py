"""`/subscribe`: chain -> preset -> parameters -> name -> confirm, one stored step at a time.

Also `/subscribe <chain> <query>` for a raw CometBFT query, the chain question `/watch` asks
when several chains share a prefix, and the "Watch cosmos1…?" offer for an address pasted in a
private chat (a one-chain watch flow, so its button is checked like every flow button). Steps
advance from button presses (the message is edited in place) and from text answers (parameters
and the name). The flow lives in the KV store (`bot.telegram.flows`), so a restart continues it
and a stale button is recognised.
"""

from __future__ import annotations

from html import escape

from telegram import CallbackQuery, ForceReply, Update
from telegram.ext import CommandHandler, ContextTypes

from bot.actions import ChainChoiceRequired, ChatContext, clean_input
from bot.telegram.callbacks import Callback
from bot.telegram.chat import ReplyMarkup
from bot.telegram.flows import Flow, FlowExpiredError
from bot.telegram.format import created_text, error_text, param_prompt, plain_text, preset_summary, watch_offer_text
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from core.errors import MempoolsError, ValidationError
from core.models import Chain
from core.query.presets import ParamSpec, PresetSpec

Ctx = ContextTypes.DEFAULT_TYPE
EXPIRED = "That conversation expired after an hour without an answer. Start again with /subscribe."
STALE = "This menu is no longer active (it expired, was replaced, or belongs to someone else)."
MAX_NAME = 100
USAGE = "Usage: /subscribe for the guided way, or /subscribe &lt;chain&gt; &lt;query&gt;."


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
        chain = self.kit.actions.chain(flow.chain_id or "")
        preset = self.kit.actions.preset(flow.preset or "")
        return f"{preset.title} on {chain.name}"[:MAX_NAME]

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
                sub = self.kit.actions.subscribe(ctx, chain.id, query=query)
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
            flow = self.kit.flows.start(ctx.chat_id, ctx.user_id, "subscribe", "chain")
            markup = self.kit.keyboards.chains(flow, chains)
            await self.kit.reply(update, "<b>New subscription</b> · Which chain?", markup)
            return
        flow = self.kit.flows.start(ctx.chat_id, ctx.user_id, "subscribe", "preset", chain_id=chain.id)
        text, step_markup = self._preset_step(flow)
        await self.kit.reply(update, text, step_markup)

    # -- the steps ------------------------------------------------------------------------------------
    def _preset_step(self, flow: Flow) -> tuple[str, ReplyMarkup]:
        chain = self.kit.actions.chain(flow.chain_id or "")
        return (
            f"<b>New subscription</b> on {escape(chain.name)} · What should I watch?",
            self.kit.keyboards.presets(flow, self._presets()),
        )

    def _next(self, flow: Flow, ctx: ChatContext) -> tuple[str, ReplyMarkup]:
        """Move past answered parameters and say what the flow needs now (and save it)."""
        params = self._params(flow)
        if flow.step == "param" and flow.param_index < len(params):
            param = params[flow.param_index]
            self.kit.flows.save(flow)
            text = param_prompt(param, flow.param_index + 1, len(params))
            if param.choices or not param.required or not ctx.is_group:
                return text, self.kit.keyboards.param(flow, param)
            # In a group, privacy mode only shows the bot replies to its messages: ask for one.
            return text, ForceReply(selective=True, input_field_placeholder=param.name)
        if flow.step == "param":
            flow.step = "name"
        if flow.step == "name":
            self.kit.flows.save(flow)
            default = self._default_name(flow)
            return (
                f"Name it (send a message), or use “{escape(default)}”.",
                self.kit.keyboards.name(flow, default),
            )
        flow.step = "confirm"
        self.kit.flows.save(flow)
        chain = self.kit.actions.chain(flow.chain_id or "")
        preset = self.kit.actions.preset(flow.preset or "")
        return (
            f"Create <b>{escape(flow.name or '')}</b> on {escape(chain.name)}?\n{preset_summary(preset, flow.params)}\n"
            "Notifications will arrive in this chat.",
            self.kit.keyboards.confirm(flow),
        )

    # -- button presses -------------------------------------------------------------------------------
    async def on_button(self, update: Update, query: CallbackQuery, callback: Callback) -> None:
        ctx = await self.kit.context(update, admin=True)
        if ctx is None or len(callback.args) != 2:
            await query.answer(STALE, show_alert=True)
            return
        nonce, choice = callback.args
        try:
            flow = self.kit.flows.get(ctx.chat_id, ctx.user_id)
        except FlowExpiredError:
            await query.answer(EXPIRED, show_alert=True)
            await self.kit.replier.edit(query.message, EXPIRED, None)
            return
        if flow is None or flow.nonce != nonce:
            await query.answer(STALE, show_alert=True)
            return
        if choice == "x":
            self.kit.flows.end(ctx.chat_id, ctx.user_id)
            await query.answer("Cancelled")
            await self.kit.replier.edit(query.message, "Cancelled. Nothing was created.", None)
            return
        try:
            step = self._press(flow, ctx, choice)
        except MempoolsError as exc:
            await query.answer(plain_text(error_text(exc)), show_alert=True)
            return
        if step is None:
            await query.answer("That button belongs to an earlier step.")
            return
        await query.answer()
        text, markup = step
        if isinstance(markup, ForceReply):
            await self.kit.replier.edit(query.message, text, None)
            name = self._params(flow)[flow.param_index].name
            await self.kit.replier.send(
                ctx.chat_id,
                f"Reply to this message with the {escape(name)}.",
                markup,
                message_thread_id=ctx.message_thread_id,
            )
            return
        await self.kit.replier.edit(query.message, text, markup)

    def _press(self, flow: Flow, ctx: ChatContext, choice: str) -> tuple[str, ReplyMarkup] | None:
        """Apply a button to the flow; None when it does not fit the current step."""
        kind, index = choice[:1], _index(choice[1:])
        if flow.kind == "watch" and flow.step == "choose_chain" and kind == "c" and index < len(flow.choices):
            result = self.kit.actions.watch(ctx, flow.address or "", flow.choices[index])
            self.kit.flows.end(ctx.chat_id, ctx.user_id)
            return created_text(result.subscription, result.chain.name, existed=not result.created), None
        if flow.kind != "subscribe":
            return None
        if flow.step == "chain" and kind == "c":
            chains = self._chains()
            if index >= len(chains):
                return None
            flow.chain_id, flow.step = chains[index].id, "preset"
            self.kit.flows.save(flow)
            return self._preset_step(flow)
        if flow.step == "preset" and kind == "p":
            presets = self._presets()
            if index >= len(presets):
                return None
            flow.preset, flow.params, flow.param_index, flow.step = presets[index].name, {}, 0, "param"
            return self._next(flow, ctx)
        params = self._params(flow)
        if flow.step == "param" and flow.param_index < len(params):
            param = params[flow.param_index]
            if kind == "v" and index < len(param.choices or ()):
                flow.params[param.name] = (param.choices or ())[index]
            elif choice == "s" and not param.required:
                pass
            else:
                return None
            flow.param_index += 1
            return self._next(flow, ctx)
        if flow.step == "name" and choice == "n":
            flow.name, flow.step = self._default_name(flow), "confirm"
            return self._next(flow, ctx)
        if flow.step == "confirm" and choice == "ok":
            self.kit.flows.end(ctx.chat_id, ctx.user_id)
            sub = self.kit.actions.subscribe(
                ctx, flow.chain_id or "", name=flow.name, preset=flow.preset, params=flow.params
            )
            return created_text(sub, self.kit.actions.chain(sub.chain_id).name), None
        return None

    # -- text answers -------------------------------------------------------------------------------
    async def on_text(self, update: Update, _: Ctx) -> None:
        """A parameter or the name, typed; outside a flow a short hint (private chats only)."""
        ctx = await self.kit.context(update, admin=True)
        message = update.effective_message
        if ctx is None or message is None or message.text is None:
            return
        try:
            flow = self.kit.flows.get(ctx.chat_id, ctx.user_id)
        except FlowExpiredError:
            await self.kit.reply(update, EXPIRED)
            return
        if flow is None or flow.kind != "subscribe":
            if not ctx.is_group and not await self._offer_watch(update, ctx, message.text):
                await self.kit.reply(
                    update,
                    "I understand commands. To watch an address send /watch &lt;address&gt;; /help lists the rest.",
                )
            return
        text = message.text
        try:
            step = self._typed(flow, ctx, text)
        except MempoolsError as exc:
            await self.kit.reply(update, f"{error_text(exc)}\nTry again, or /cancel.")
            return
        if step is None:
            await self.kit.reply(update, "Please use the buttons above, or /cancel.")
            return
        await self.kit.reply(update, *step)

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
        flow = self.kit.flows.start(
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

    def _typed(self, flow: Flow, ctx: ChatContext, text: str) -> tuple[str, ReplyMarkup] | None:
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
            return self._next(flow, ctx)
        if flow.step == "name":
            name = "".join(ch for ch in clean_input(text) if ch.isprintable()).strip()
            if not name or len(name) > MAX_NAME:
                raise ValidationError(f"name: 1 to {MAX_NAME} printable characters")
            flow.name, flow.step = name, "confirm"
            return self._next(flow, ctx)
        return None


def _index(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 3 else 1_000

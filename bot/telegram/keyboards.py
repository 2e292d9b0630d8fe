"""Inline keyboards. Every button's data is signed for the chat it is shown in (see callbacks).

Every screen has a way on: the steps of a guided flow carry Back and Cancel, a /list page
its arrows, a subscription's card its actions (Pause, its sound toggle, Rename, Test, Delete)
and Back to the page it came from.
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import CallbackSigner
from bot.telegram.flows import Flow
from core.models import Chain, Subscription
from core.query.presets import ParamSpec, PresetSpec
from core.support.text import ellipsize

# Verbs of the callback data (one character keeps payloads far below 64 bytes). The list verbs
# carry `sub_id|page` (LIST only `page`), so every card knows the page to return to.
PAUSE, RESUME, DELETE_ASK, DELETE, LIST = "p", "r", "d", "D", "l"
CARD, RENAME, TEST = "c", "n", "t"
SILENCE, SOUND = "s", "o"  # the card's sound toggle (Subscription.silent on / off)
FLOW = "f"  # f|nonce|choice: a step of a guided flow
# Flow choices that every step understands: back one step, cancel, continue an expired flow.
BACK, CANCEL, CONTINUE = "b", "x", "k"

_LABEL = 24


def _short(text: str) -> str:
    return ellipsize(text, _LABEL)


class Keyboards:
    def __init__(self, signer: CallbackSigner) -> None:
        self._signer = signer

    def _button(self, chat_id: int, label: str, verb: str, *args: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=self._signer.encode(chat_id, verb, *args))

    # -- /list ----------------------------------------------------------------------------------
    def subscriptions(
        self, chat_id: int, subs: Sequence[Subscription], *, page: int, pages: int
    ) -> InlineKeyboardMarkup | None:
        """One button per subscription of the page (opening its card), then the arrows when there are more pages."""
        rows = [
            [self._button(chat_id, f"{'▶️' if sub.enabled else '⏸'} {_short(sub.name)}", CARD, sub.id, str(page))]
            for sub in subs
        ]
        nav = []
        if page > 0:
            nav.append(self._button(chat_id, "\u2039 Previous", LIST, str(page - 1)))
        if page + 1 < pages:
            nav.append(self._button(chat_id, "Next \u203a", LIST, str(page + 1)))
        if nav:
            rows.append(nav)
        return InlineKeyboardMarkup(rows) if rows else None

    def card(self, chat_id: int, sub: Subscription, page: int) -> InlineKeyboardMarkup:
        p = str(page)
        toggle = (
            self._button(chat_id, "⏸ Pause", PAUSE, sub.id, p)
            if sub.enabled
            else self._button(chat_id, "▶️ Resume", RESUME, sub.id, p)
        )
        sound = (
            self._button(chat_id, "🔔 Sound on", SOUND, sub.id, p)
            if sub.silent
            else self._button(chat_id, "🔕 Silence", SILENCE, sub.id, p)
        )
        return InlineKeyboardMarkup(
            [
                [toggle, sound],
                [
                    self._button(chat_id, "✏️ Rename", RENAME, sub.id, p),
                    self._button(chat_id, "🧪 Test", TEST, sub.id, p),
                ],
                [self._button(chat_id, "🗑 Delete", DELETE_ASK, sub.id, p)],
                [self._button(chat_id, "\u2039 Back to the list", LIST, p)],
            ]
        )

    def confirm_delete(self, chat_id: int, sub: Subscription, page: int) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [
                [
                    self._button(chat_id, "🗑 Yes, delete", DELETE, sub.id, str(page)),
                    self._button(chat_id, "Keep it", CARD, sub.id, str(page)),
                ]
            ]
        )

    # -- guided flows -----------------------------------------------------------------------------
    def _flow(self, flow: Flow, label: str, choice: str) -> InlineKeyboardButton:
        return self._button(flow.chat_id, label, FLOW, flow.nonce, choice)

    def _way_out(self, flow: Flow, *, back: bool = True) -> list[InlineKeyboardButton]:
        cancel = self._flow(flow, "✖ Cancel", CANCEL)
        return [self._flow(flow, "\u2039 Back", BACK), cancel] if back else [cancel]

    def chains(self, flow: Flow, chains: Sequence[Chain]) -> InlineKeyboardMarkup:
        rows = [[self._flow(flow, f"{c.name} ({c.id})", f"c{i}")] for i, c in enumerate(chains)]
        return InlineKeyboardMarkup([*rows, self._way_out(flow, back=False)])

    def watch_offer(self, flow: Flow) -> InlineKeyboardMarkup:
        """The one button under "Watch cosmos1…?": the watch flow's first (only) chain."""
        return InlineKeyboardMarkup([[self._flow(flow, "Watch", "c0")]])

    def presets(self, flow: Flow, presets: Sequence[PresetSpec], *, back: bool) -> InlineKeyboardMarkup:
        rows = [[self._flow(flow, p.title, f"p{i}")] for i, p in enumerate(presets)]
        return InlineKeyboardMarkup([*rows, self._way_out(flow, back=back)])

    def param(self, flow: Flow, param: ParamSpec) -> InlineKeyboardMarkup:
        rows = [[self._flow(flow, choice, f"v{i}")] for i, choice in enumerate(param.choices or ())]
        last = self._way_out(flow)
        if not param.required:
            last.insert(1, self._flow(flow, "Skip", "s"))
        return InlineKeyboardMarkup([*rows, last])

    def name(self, flow: Flow, default: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[self._flow(flow, f"Use “{_short(default)}”", "n")], self._way_out(flow)])

    def confirm(self, flow: Flow) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[self._flow(flow, "✅ Create", "ok")], self._way_out(flow)])

    def way_out(self, flow: Flow) -> InlineKeyboardMarkup:
        """Back and Cancel alone: a step answered by typing (a rename)."""
        return InlineKeyboardMarkup([self._way_out(flow)])

    def expired(self, flow: Flow) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [[self._flow(flow, "Continue where I was", CONTINUE)], self._way_out(flow, back=False)]
        )

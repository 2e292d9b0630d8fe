"""Inline keyboards. Every button's data is signed for the chat it is shown in (see callbacks)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram.callbacks import CallbackSigner
from bot.telegram.flows import Flow
from bot.telegram.format import LIST_LIMIT
from core.models import Chain, Subscription
from core.query.presets import ParamSpec, PresetSpec
from core.support.text import ellipsize

# Verbs of the callback data (one character keeps payloads far below 64 bytes).
PAUSE, RESUME, DELETE_ASK, DELETE, LIST = "p", "r", "d", "D", "l"
FLOW = "f"  # f|nonce|choice: a step of a guided flow

_LABEL = 24


def _short(text: str) -> str:
    return ellipsize(text, _LABEL)


class Keyboards:
    def __init__(self, signer: CallbackSigner) -> None:
        self._signer = signer

    def _button(self, chat_id: int, label: str, verb: str, *args: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(label, callback_data=self._signer.encode(chat_id, verb, *args))

    def subscriptions(self, chat_id: int, subs: Sequence[Subscription]) -> InlineKeyboardMarkup | None:
        rows = []
        for sub in subs[:LIST_LIMIT]:
            toggle = (
                self._button(chat_id, f"⏸ {_short(sub.name)}", PAUSE, sub.id)
                if sub.enabled
                else self._button(chat_id, f"▶️ {_short(sub.name)}", RESUME, sub.id)
            )
            rows.append([toggle, self._button(chat_id, "🗑 Delete", DELETE_ASK, sub.id)])
        return InlineKeyboardMarkup(rows) if rows else None

    def confirm_delete(self, chat_id: int, sub: Subscription) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [[self._button(chat_id, "🗑 Yes, delete", DELETE, sub.id), self._button(chat_id, "Keep it", LIST)]]
        )

    def _flow(self, flow: Flow, label: str, choice: str) -> InlineKeyboardButton:
        return self._button(flow.chat_id, label, FLOW, flow.nonce, choice)

    def chains(self, flow: Flow, chains: Sequence[Chain]) -> InlineKeyboardMarkup:
        rows = [[self._flow(flow, f"{c.name} ({c.id})", f"c{i}")] for i, c in enumerate(chains)]
        return InlineKeyboardMarkup([*rows, [self._flow(flow, "✖ Cancel", "x")]])

    def watch_offer(self, flow: Flow) -> InlineKeyboardMarkup:
        """The one button under "Watch cosmos1…?": the watch flow's first (only) chain."""
        return InlineKeyboardMarkup([[self._flow(flow, "Watch", "c0")]])

    def presets(self, flow: Flow, presets: Sequence[PresetSpec]) -> InlineKeyboardMarkup:
        rows = [[self._flow(flow, p.title, f"p{i}")] for i, p in enumerate(presets)]
        return InlineKeyboardMarkup([*rows, [self._flow(flow, "✖ Cancel", "x")]])

    def param(self, flow: Flow, param: ParamSpec) -> InlineKeyboardMarkup:
        rows = [[self._flow(flow, choice, f"v{i}")] for i, choice in enumerate(param.choices or ())]
        last = [self._flow(flow, "✖ Cancel", "x")]
        if not param.required:
            last.insert(0, self._flow(flow, "Skip", "s"))
        return InlineKeyboardMarkup([*rows, last])

    def name(self, flow: Flow, default: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            [[self._flow(flow, f"Use “{_short(default)}”", "n")], [self._flow(flow, "✖ Cancel", "x")]]
        )

    def confirm(self, flow: Flow) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[self._flow(flow, "✅ Create", "ok"), self._flow(flow, "✖ Cancel", "x")]])

"""The buttons under a Telegram notification: [Tx] opens the transaction in the chain's explorer,
[Pause] (then [Resume]) stops the subscription that sent it, [Mute 1 h] silences it for an hour
(`Subscription.muted_until`, honoured by the block processor), from the message itself.

Both the channel that sends a notification (`core.dispatch.telegram`) and the bot that handles a
press (`bot.telegram`) draw the keyboard here, so the redrawn keyboard after a press is the one
that was sent with only the toggle changed. core must not import bot/, so the callback data is
made by a `CallbackSigning` passed in (the bot's `CallbackSigner`, keyed by the bot token): a
forged or other-chat press fails its signature at the bot like every other button.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

#: Callback verbs of the notification buttons (the list's own are lower case "p"/"r": a press
#: here redraws the notification's keyboard, not a list).
PAUSE_NOTIFIED, RESUME_NOTIFIED, MUTE_NOTIFIED = "P", "R", "M"
#: How long [Mute 1 h] silences a subscription (its label says so).
MUTE_FOR = timedelta(hours=1)


class CallbackSigning(Protocol):
    """Makes signed callback data for a button shown in `chat_id` (bot.callbacks)."""

    def encode(self, chat_id: int, verb: str, *args: str) -> str: ...


def notification_keyboard(
    signer: CallbackSigning | None,
    chat_id: int,
    *,
    subscription_id: str | None,
    tx_url: str | None,
    paused: bool = False,
) -> InlineKeyboardMarkup | None:
    """[Tx] (when there is an explorer link), then with a signer and a subscription [Pause]
    [Mute 1 h], or [Resume] alone once paused (a paused subscription has nothing to mute)."""
    row: list[InlineKeyboardButton] = []
    if tx_url:
        row.append(InlineKeyboardButton("🔎 Tx", url=tx_url))
    if signer is not None and subscription_id:

        def press(label: str, verb: str) -> InlineKeyboardButton:
            return InlineKeyboardButton(label, callback_data=signer.encode(chat_id, verb, subscription_id))

        if paused:
            row.append(press("▶️ Resume", RESUME_NOTIFIED))
        else:
            row += [press("⏸ Pause", PAUSE_NOTIFIED), press("🔕 Mute 1 h", MUTE_NOTIFIED)]
    return InlineKeyboardMarkup([row]) if row else None

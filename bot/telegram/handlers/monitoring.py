"""/validator and /voter: monitoring set up in one step, with the presets' defaults.

`/validator cosmosvaloper1…` (or the consensus address) watches a validator's missed blocks,
jailing, set membership, commission and the chain's stalls; `/voter cosmos1…` tells an account
about proposals and reminds it before voting ends. Both pick the chain from the address's prefix
like /watch (a second word names it when several chains share the prefix) and answer with what
will be told here, so nobody has to read docs to know what they signed up for.
"""

from __future__ import annotations

from html import escape
from typing import Literal

from telegram import Update
from telegram.ext import CommandHandler, ContextTypes

from bot.actions import ChainChoiceRequired, WatchResult
from bot.telegram.format import error_text, monitor_created_text
from bot.telegram.handlers.common import TelegramApp, Toolkit, command_argument
from core.errors import MempoolsError

Ctx = ContextTypes.DEFAULT_TYPE
Kind = Literal["validator", "voter"]

_USAGE = {
    "validator": (
        "Usage: /validator &lt;operator or consensus address&gt; [chain id]\n"
        "Example: <code>/validator cosmosvaloper1…</code> — missed blocks (once per threshold crossed, "
        "once when it recovers), jailed, out of the active set, commission changes and chain stalls "
        "are sent here."
    ),
    "voter": (
        "Usage: /voter &lt;account address&gt; [chain id]\n"
        "Example: <code>/voter cosmos1…</code> — new proposals, a reminder 24 h and 1 h before voting "
        "ends while it has not voted, its votes and the results are sent here."
    ),
}


class MonitorHandlers:
    def __init__(self, kit: Toolkit) -> None:
        self.kit = kit

    def register(self, app: TelegramApp) -> None:
        app.add_handler(CommandHandler("validator", self.validator))
        app.add_handler(CommandHandler("voter", self.voter))

    async def validator(self, update: Update, _: Ctx) -> None:
        await self._watch(update, "validator")

    async def voter(self, update: Update, _: Ctx) -> None:
        await self._watch(update, "voter")

    async def _watch(self, update: Update, kind: Kind) -> None:
        ctx = await self.kit.context(update, admin=True)
        if ctx is None:
            return
        args = command_argument(update).split()
        if not args or len(args) > 2:
            await self.kit.reply(update, _USAGE[kind])
            return
        address, chain_id = args[0], (args[1] if len(args) == 2 else None)
        watch = self.kit.actions.validator if kind == "validator" else self.kit.actions.voter
        try:
            result: WatchResult = await watch(ctx, address, chain_id)
        except ChainChoiceRequired as exc:
            options = ", ".join(f"{escape(c.name)} (<code>{escape(c.id)}</code>)" for c in exc.choices)
            await self.kit.reply(
                update,
                f"<code>{escape(exc.address)}</code> is valid on several chains: {options}. Name the chain: "
                f"<code>/{kind} {escape(exc.address)} {escape(exc.choices[0].id)}</code>",
            )
            return
        except MempoolsError as exc:
            await self.kit.reply(update, error_text(exc))
            return
        await self.kit.reply(
            update, monitor_created_text(result.subscription, result.chain.name, existed=not result.created)
        )

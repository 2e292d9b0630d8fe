"""What the bot says: results and errors of `bot.actions` as Discord messages, within Discord's limits.

Visibility rule: everything is ephemeral (only the person who asked sees it) except a successful
change made in a server channel, which the channel sees, so its members know what will be posted
there and who set it up. Errors are always ephemeral. Mentions are never parsed from our text
(chain data or names can contain "@everyone"); see `AllowedMentions.none()` where replies are sent.

Text shown from user input or chain data is markdown-escaped; ids are in code spans so they can
be copied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import discord
import msgspec

from bot.actions import ChainChoiceRequired, ChatContext, ChatSettings, WatchResult
from bot.errors import chat_error
from core.dispatch.render import render, short_address
from core.dispatch.watches import other_settings, quiet_note, summary, told
from core.models import Chain, Notification, QuietHours, Subscription
from core.query.errors import QuerySyntaxError
from core.services import ChainInfo
from core.support.text import ellipsize
from core.support.timeutil import utcnow

CONTENT_LIMIT = 2000
DESCRIPTION_LIMIT = 4096
_OK = 0x2ECC71
_INFO = 0x5865F2

ChainLookup = Callable[[str], Chain | None]
#: Where an internal error met by a command is logged (with its error id) by `error`.
log = logging.getLogger("mempools.discord")
#: The hint after an error's sentence, naming this bot's commands.
_HINTS = {
    "not-found": " `/mempools list` shows the ids you can use here.",
    "forbidden": " Ask someone who has it, or DM the bot for your own subscriptions.",
}


class Reply(msgspec.Struct, kw_only=True):
    """One message: text, optional embed, and whether only the asker sees it."""

    content: str = ""
    embed: discord.Embed | None = None
    ephemeral: bool = True
    #: Buttons and menus under the message (answered by the client's `on_interaction`).
    view: discord.ui.View | None = None


def _esc(text: str) -> str:
    return discord.utils.escape_markdown(discord.utils.escape_mentions(text))


def esc(text: str) -> str:
    """User input or chain data shown as written (markdown and mentions escaped)."""
    return _esc(text)


def _lines_within(lines: Sequence[str], limit: int, more: Callable[[int], str]) -> str:
    """As many whole lines as fit in `limit`, then a note saying how many were left out."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        tail = more(len(lines) - i - 1) if i < len(lines) - 1 else ""
        if used + len(line) + 1 + len(tail) + 1 > limit:
            out.append(more(len(lines) - i))
            break
        out.append(line)
        used += len(line) + 1
    return "\n".join(out)


def where(ctx: ChatContext) -> str:
    return f"<#{ctx.chat_id}>" if ctx.is_group else "your DMs"


def _changed(ctx: ChatContext, content: str) -> Reply:
    return Reply(content=ellipsize(content, CONTENT_LIMIT), ephemeral=not ctx.is_group)


# -- results -------------------------------------------------------------------------------------
def watching(ctx: ChatContext, result: WatchResult) -> Reply:
    sub = result.subscription
    address = (sub.params or {}).get("address", "")
    if not result.created:
        return Reply(
            content=f"Already watching `{address}` on {_esc(result.chain.name)} here (id `{sub.id}`).",
            ephemeral=True,
        )
    return _changed(
        ctx,
        f"👀 Watching `{address}` on {_esc(result.chain.name)}: funds received or sent are posted to "
        f"{where(ctx)}.\nSubscription `{sub.id}` · `/mempools pause` to pause it, "
        "`/mempools unsubscribe` to remove it.",
    )


def monitoring(ctx: ChatContext, result: WatchResult) -> Reply:
    """The answer to `/mempools validator` and `/mempools voter`: what will be posted, what rings,
    and how to change or undo it."""
    sub = result.subscription
    assert sub.monitor is not None
    said = summary(sub.monitor)
    params = sub.params or {}
    address = params.get("validator") or params.get("voter") or ""
    about = f" (`{address}`)" if address else ""
    if not result.created:
        return Reply(
            content=ellipsize(
                f"Already watching {said.emoji} **{_esc(sub.name)}** on {_esc(result.chain.name)}{about} here "
                f"(id `{sub.id}`).",
                CONTENT_LIMIT,
            ),
            ephemeral=True,
        )
    lines = [
        f"✅ Watching {said.emoji} **{_esc(sub.name)}** on {_esc(result.chain.name)}{about}. Posted to {where(ctx)}:",
        *(f"• {_esc(line)}" for line in told(sub.monitor)),
        _esc(quiet_note(sub.monitor)),
        f"Subscription `{sub.id}` · `/mempools list` pauses it, `/mempools unsubscribe` removes it; other "
        f"{other_settings(sub.monitor)}: `/mempools subscribe` with the `{sub.preset}` preset.",
    ]
    return _changed(ctx, "\n".join(lines))


def subscribed(ctx: ChatContext, sub: Subscription, chain: Chain) -> Reply:
    what = f"preset `{sub.preset}`" if sub.preset else "your query"
    return _changed(
        ctx,
        f"✅ Subscribed: **{_esc(sub.name)}** on {_esc(chain.name)} ({what}); matches are posted to "
        f"{where(ctx)}.\nSubscription `{sub.id}`.",
    )


def paused(ctx: ChatContext, sub: Subscription) -> Reply:
    return _changed(ctx, f"⏸️ Paused **{_esc(sub.name)}** (`{sub.id}`). `/mempools resume` turns it back on.")


def muted(ctx: ChatContext, sub: Subscription) -> Reply:
    """Only the presser is told: a mute is short and changes nothing the channel needs to know."""
    until = f" (until <t:{int(sub.muted_until.timestamp())}:t>)" if sub.muted_until else ""
    return Reply(content=f"🔕 Muted **{_esc(sub.name)}** for 1 h{until}; it speaks again by itself.")


def resumed(ctx: ChatContext, sub: Subscription) -> Reply:
    return _changed(ctx, f"▶️ Resumed **{_esc(sub.name)}** (`{sub.id}`).")


def silenced(ctx: ChatContext, sub: Subscription) -> Reply:
    if sub.silent:
        return _changed(ctx, f"🔕 **{_esc(sub.name)}** (`{sub.id}`) is now posted without a sound or push.")
    return _changed(ctx, f"🔔 **{_esc(sub.name)}** (`{sub.id}`) is posted with the usual sound again.")


def unsubscribed(ctx: ChatContext, sub: Subscription) -> Reply:
    return _changed(ctx, f"🗑️ Removed **{_esc(sub.name)}** (`{sub.id}`). Its past notifications stay in the history.")


#: Subscriptions per page of `/mempools list`: what one select menu can offer.
PAGE_SIZE = 25


def pages(count: int) -> int:
    return max(1, -(-count // PAGE_SIZE))


def subscription_line(sub: Subscription, chains: ChainLookup) -> str:
    """One subscription: its id to copy, name, chain, and its state with a relative time."""
    chain = chains(sub.chain_id)
    if not sub.enabled:
        state = "⏸️ paused"
    elif sub.muted_until is not None and sub.muted_until > utcnow():
        state = f"🔕 muted until <t:{int(sub.muted_until.timestamp())}:R>"
    else:
        state = "active"
    since = f"<t:{int(sub.created_at.timestamp())}:R>"
    where_ = _esc(chain.name if chain else sub.chain_id)
    if sub.monitor is None:
        return f"`{sub.id}` **{_esc(sub.name)}** · {where_} · {state} · since {since}"
    said = summary(sub.monitor)
    about = f" ({_esc(said.address)})" if said.address else ""
    return (
        f"`{sub.id}` {said.emoji} **{_esc(sub.name)}**{about}: {_esc(said.settings)} · {where_} · {state} · "
        f"since {since}"
    )


def subscription_list(
    ctx: ChatContext, subs: Sequence[Subscription], chains: ChainLookup, *, page: int = 0, note: str = ""
) -> Reply:
    """One page of the list (`PAGE_SIZE` per page); `note` says what a button just did."""
    owner = "This server has" if ctx.is_group else "You have"
    lead = f"{note}\n" if note else ""
    if not subs:
        return Reply(content=f"{lead}{owner} no subscriptions yet. Try `/mempools watch <address>`.")
    page = min(max(page, 0), pages(len(subs)) - 1)
    shown = subs[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    lines = [subscription_line(sub, chains) for sub in shown]
    embed = discord.Embed(
        title=f"Subscriptions ({len(subs)})",
        description=_lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more"),
        color=_INFO,
    )
    if len(subs) > PAGE_SIZE:
        embed.set_footer(text=f"Page {page + 1} of {pages(len(subs))}")
    return Reply(content=ellipsize(f"{lead}{owner} {len(subs)} subscription(s).", CONTENT_LIMIT), embed=embed)


def subscription_detail(ctx: ChatContext, sub: Subscription, chains: ChainLookup, *, note: str = "") -> Reply:
    what = f"preset `{sub.preset}`" if sub.preset else "a query"
    if sub.monitor is not None:
        what += "\n" + "\n".join(f"• {_esc(line)}" for line in told(sub.monitor))
    embed = discord.Embed(
        title=ellipsize(sub.name, 256), description=f"{subscription_line(sub, chains)}\n{what}", color=_INFO
    )
    return Reply(content=note, embed=embed)


def confirm_delete(sub: Subscription) -> Reply:
    return Reply(content=f"🗑️ Delete **{_esc(sub.name)}** (`{sub.id}`)? Its past notifications stay in the history.")


def quiet_hours_line(window: QuietHours | None) -> str:
    if window is None:
        return "🔔 Quiet hours: off. Notifications here make their usual sound at any hour."
    span = f"{window.start}\N{EN DASH}{window.end}"  # a range of times, as the issue words it
    return f"🌙 Quiet hours {span} {window.timezone}: notifications arrive without a sound."


def settings(ctx: ChatContext, current: ChatSettings, chains: ChainLookup, *, toggles: int, note: str = "") -> Reply:
    """Where notifications go, the quiet hours, and each subscription's sound; `toggles`: how many
    subscriptions have a sound button under the message (the rest are changed with `/mempools silent`)."""
    dest = current.destination
    lines = [f"Notifications go to {where(ctx)}."]
    if not dest.enabled:
        lines.append(f"⏸️ Deliveries here are stopped ({_esc(dest.disabled_reason or 'disabled')}).")
    lines.append(quiet_hours_line(getattr(dest, "quiet_hours", None)))
    subs = current.subscriptions
    if subs:
        lines.append(f"\n**Subscriptions delivering here ({len(subs)})**")
        for sub in subs:
            chain = chains(sub.chain_id)
            sound = "🔕 no sound" if sub.silent else "🔔 sound on"
            paused = " · ⏸️ paused" if not sub.enabled else ""
            lines.append(f"{sound} · **{_esc(sub.name)}** on {_esc(chain.name if chain else sub.chain_id)}{paused}")
    else:
        lines.append("\nNo subscription delivers here yet: `/mempools watch` or `/mempools subscribe`.")
    embed = discord.Embed(
        title="Settings for this channel" if ctx.is_group else "Settings for your DMs",
        description=_lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more"),
        color=_INFO,
    )
    if toggles:
        more = f" (the first {toggles}; `/mempools silent` changes any)" if toggles < len(subs) else ""
        embed.set_footer(text=f"The buttons silence a subscription (it still arrives) or give it its sound back{more}.")
    return Reply(content=ellipsize(note, CONTENT_LIMIT), embed=embed)


def quiet_hours_set(ctx: ChatContext, window: QuietHours | None) -> Reply:
    if window is None:
        return _changed(ctx, "🔔 Quiet hours are off: notifications here make their usual sound at any hour.")
    return _changed(
        ctx,
        f"{quiet_hours_line(window)} Nothing is held back. `/mempools settings` shows them and turns them off.",
    )


def history(ctx: ChatContext, notifications: Sequence[Notification], chains: ChainLookup) -> Reply:
    if not notifications:
        return Reply(content=f"Nothing has been sent to {where(ctx)} yet.")
    lines = []
    for n in notifications:
        rendered = render(n, chains(n.chain_id))
        stamp = f"<t:{int(n.time.timestamp())}:R>"
        link = f" · [tx]({rendered.url})" if rendered.url else ""
        title, summary = ellipsize(rendered.title, 100), ellipsize(rendered.summary, 300)
        lines.append(f"{stamp} **{_esc(title)}**: {_esc(summary)}{link}")
    embed = discord.Embed(
        title=f"Last {len(notifications)} notification(s)",
        description=_lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more"),
        color=_INFO,
    )
    return Reply(content="", embed=embed)


def chain_list(infos: Sequence[ChainInfo]) -> Reply:
    if not infos:
        return Reply(content="No chains are configured.")
    lines = []
    for info in infos:
        denoms = ", ".join(d.display for d in info.denoms) or "—"
        lines.append(
            f"**{_esc(info.name)}** (`{info.id}`) · addresses `{info.bech32_prefix}1…` · {denoms} · {_status(info)}"
        )
    embed = discord.Embed(
        title="Chains",
        description=_lines_within(lines, DESCRIPTION_LIMIT, lambda n: f"… and {n} more"),
        color=_INFO,
    )
    return Reply(embed=embed)


def _status(info: ChainInfo) -> str:
    if info.status == "ok":
        return f"🟢 in sync at height {info.height}"
    if info.status == "lagging":
        return f"🟠 {info.lag} blocks behind (at {info.height})"
    if info.status == "starting":
        return "⏳ starting"
    if info.status == "unreachable":
        return f"🔴 {info.status_detail}"
    return "⚪ not watched by this process"


def linked(account_id: str) -> Reply:
    return Reply(
        content=f"🔗 Linked: this Discord account now uses Mempools account `{account_id}`; your subscriptions "
        "and history moved with it."
    )


def test_queued(ctx: ChatContext) -> Reply:
    return Reply(content=f"📨 A test notification is on its way to {where(ctx)}.")


# -- errors --------------------------------------------------------------------------------------
def error(exc: BaseException, where: str = "discord command") -> Reply:
    """The one-line answer to any failure, worded by the one table (`bot.errors`); always ephemeral.

    The services' messages are written for people and name the option at fault, so they are shown
    as they are (mentions in them cannot ping: replies are sent with no allowed mentions). An
    internal error is logged here with the error id the reply gives, so call it once per failure.
    """
    if isinstance(exc, ChainChoiceRequired):
        options = ", ".join(f"`{c.id}`" for c in exc.choices)
        text = f"❓ `{short_address(exc.address)}` is valid on several chains; give the `chain` option ({options})."
        return Reply(content=ellipsize(text, CONTENT_LIMIT), ephemeral=True)
    said = chat_error(exc, log, where)
    text = f"{said.icon} {said.text}{_HINTS.get(said.view.slug, '')}"
    if isinstance(exc, QuerySyntaxError):
        caret = exc.caret_lines.replace("`", "'")
        text += f"\n```\n{caret}\n```"
    return Reply(content=ellipsize(text, CONTENT_LIMIT), ephemeral=True)


def refused(text: str) -> Reply:
    """Not allowed to press this (always ephemeral: nobody else needs to see it)."""
    return Reply(content=ellipsize(f"🚫 {text}", CONTENT_LIMIT), ephemeral=True)


def failure(text: str) -> Reply:
    return Reply(content=ellipsize(f"❌ {text}", CONTENT_LIMIT), ephemeral=True)

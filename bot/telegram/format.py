"""The bot's words: every reply as Telegram HTML, with everything from users or chains escaped."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape, unescape

from bot.errors import chat_error
from core.dispatch.quiet_hours import describe
from core.dispatch.render import format_coin, short_address, summarize
from core.dispatch.watches import other_settings, quiet_note, summary, told
from core.errors import ValidationError
from core.models import Chain, Destination, Notification, Subscription
from core.query.errors import QuerySyntaxError
from core.query.presets import ParamSpec, PresetSpec, resolve_min_amount
from core.services import ChainInfo
from core.services.history import SubscriptionActivity

#: (command, one-line description): `setMyCommands` and `/help` both come from here.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Register and see what the bot does"),
    ("watch", "Watch an address: /watch <address>"),
    ("validator", "Watch a validator: /validator <valoper or valcons>"),
    ("voter", "Proposals and reminders for a voter: /voter <address>"),
    ("subscribe", "Guided subscription, or /subscribe <chain> <query>"),
    ("list", "This chat's subscriptions, with buttons"),
    ("pause", "Pause a subscription: /pause <id>"),
    ("resume", "Resume a subscription: /resume <id>"),
    ("unsubscribe", "Delete a subscription: /unsubscribe <id>"),
    ("history", "Last notifications here: /history [n]"),
    ("chains", "The chains this bot watches"),
    ("alias", "Name an address: /alias <address> <name>"),
    ("unalias", "Forget a name: /unalias <address>"),
    ("link", "Join your REST account: /link <code>"),
    ("test", "Send a test notification here"),
    ("settings", "What this chat receives, its quiet hours, silent subscriptions"),
    ("silent", "Deliver a subscription without a sound: /silent <id> [on|off]"),
    ("cancel", "Stop a guided /subscribe or a rename"),
    ("help", "All commands"),
)
#: The command menus, by `setMyCommands` scope: short (the rest is in /help, and /list has the
#: buttons for pause/resume/delete). Private chats get the full short menu; in groups the admins
#: see what changes subscriptions, everyone else only what they may use there (/settings shows
#: anyone what the group receives; its buttons are for admins). At most 8 each: /history,
#: /settings (private) and /test are in /help.
PRIVATE_MENU = ("start", "watch", "validator", "voter", "subscribe", "list", "alias", "help")
GROUP_ADMIN_MENU = ("watch", "validator", "voter", "subscribe", "list", "alias", "settings", "help")
GROUP_MENU = ("list", "history", "settings", "help")
#: The bot's profile texts (`setMyDescription`: shown in an empty chat before /start, at most 512
#: characters; `setMyShortDescription`: on the profile and in shares, at most 120).
DESCRIPTION = (
    "Mempools tells you when something happens on Cosmos chains: funds moving to or from an address, "
    "governance proposals, validators, contracts. Press Start, then send an address to watch it, "
    "or /subscribe for other events. Add me to a group to notify everyone there."
)
SHORT_DESCRIPTION = "Notifications for Cosmos chains: transfers, governance, validators, contracts."
#: Where an internal error met in a handler is logged (with its error id) by `error_text`.
log = logging.getLogger("mempools.bot.telegram")
#: The hint after an error's sentence, naming this bot's commands.
_HINTS = {"not-found": " Use /list to see this chat's subscriptions."}
LIST_LIMIT = 30
#: Subscriptions per /list page: a page of buttons fits a phone screen without scrolling.
PAGE_SIZE = 8
_MAX_TEXT = 3900


def start_text(example_address: str, *, group: bool) -> str:
    lines = [
        "👋 <b>Mempools</b> tells you when something happens on Cosmos chains: funds moving, "
        "governance, validators, contracts.",
        f"Try it: <code>/watch {escape(example_address)}</code> and you get a message for every transfer "
        "to or from that address.",
        "/subscribe for other events, /list to manage them, /help for everything.",
    ]
    if group:
        lines.append("In this group, administrators create the subscriptions; notifications arrive here.")
    return "\n".join(lines)


def menu(names: Sequence[str]) -> list[tuple[str, str]]:
    """(command, description) of `names`, the descriptions from COMMANDS."""
    described = dict(COMMANDS)
    return [(name, described[name]) for name in names]


def start_problem_text(problem: str, example_address: str, *, group: bool) -> str:
    """A /start link whose payload did not work: what went wrong, then the usual welcome."""
    return f"{problem}\n\n{start_text(example_address, group=group)}"


def watch_offer_text(address: str, chain_name: str) -> str:
    return f"Watch {escape(short_address(address))} on {escape(chain_name)}?"


def settings_text(destination: Destination, subs: Sequence[Subscription], chain_names: Mapping[str, str]) -> str:
    """What this chat receives and why; every line says where to change it."""
    if destination.enabled:
        state = "✅ on"
    else:
        state = f"⏸ off ({escape(destination.disabled_reason or 'disabled')}); /start turns them on again"
    lines = ["<b>Settings for this chat</b>", f"Notifications here: {state}"]
    if subs:
        lines.append(f"Subscriptions delivering here ({len(subs)}):")
        lines += [
            f"• {escape(s.name)} on {escape(chain_names.get(s.chain_id, s.chain_id))}"
            f"{'' if s.enabled else ' (paused)'}{' 🔕 silent' if s.silent else ''}"
            for s in subs[:LIST_LIMIT]
        ]
        if len(subs) > LIST_LIMIT:
            lines.append(f"… and {len(subs) - LIST_LIMIT} more.")
    else:
        lines.append("No subscription delivers here yet: /watch &lt;address&gt; or /subscribe.")
    window = getattr(destination, "quiet_hours", None)
    if window is None:
        lines.append("Quiet hours: off. /settings quiet 23:00-07:00 Europe/Berlin sends at night without a sound.")
    else:
        lines.append(f"🌙 Quiet hours: {escape(describe(window))}: messages arrive then, without a sound.")
    if subs:
        lines.append("The buttons below silence a subscription (it still arrives) or give it its sound back.")
    lines.append("/list pauses, resumes or deletes subscriptions; /help lists every command.")
    return _fit("\n".join(lines))


def group_greeting_text() -> str:
    return (
        "👋 Hello! I send notifications about Cosmos chains to this group.\n"
        "Administrators subscribe: <code>/watch &lt;address&gt;</code> or /subscribe.\n"
        "Everyone can see them with /list and the last notifications with /history."
    )


def help_text() -> str:
    body = "\n".join(f"/{name} — {escape(text)}" for name, text in COMMANDS)
    return (
        f"<b>Commands</b>\n{body}\n\n/list has buttons for each subscription; /pause, /resume and "
        "/unsubscribe also take the id (<code>sub_…</code>) that /watch and /subscribe reply with."
    )


def chains_text(chains: Sequence[ChainInfo]) -> str:
    if not chains:
        return "No chains are configured."
    lines = ["<b>Chains</b>"]
    for c in chains:
        denoms = ", ".join(escape(d.display) for d in c.denoms) or "—"
        height = f", at height {c.height}" if c.height else ""
        lines.append(
            f"• <b>{escape(c.name)}</b> <code>{escape(c.id)}</code>: addresses {escape(c.bech32_prefix)}1…, "
            f"{denoms} ({escape(c.status.replace('_', ' '))}{height})"
        )
    return "\n".join(lines)


def pages_of(count: int) -> int:
    """How many /list pages `count` subscriptions fill (at least one, the empty list's)."""
    return max(1, -(-count // PAGE_SIZE))


def list_text(subs: Sequence[Subscription], chain_names: Mapping[str, str], *, group: bool, page: int) -> str:
    """One page of the list (`page` already within range); the buttons under it open the cards."""
    if not subs:
        where = "this group has" if group else "you have"
        return f"No subscriptions yet: {where} none. Start with /watch &lt;address&gt; or /subscribe."
    pages = pages_of(len(subs))
    shown = subs[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    head = f"<b>Subscriptions</b> ({len(subs)})" + (f" · page {page + 1}/{pages}" if pages > 1 else "")
    lines = [head]
    for sub in shown:
        state = "▶️" if sub.enabled else "⏸ paused ·"
        chain = escape(chain_names.get(sub.chain_id, sub.chain_id))
        if sub.monitor is None:
            lines.append(f"{state} <b>{escape(sub.name)}</b> on {chain}")
            continue
        said = summary(sub.monitor)
        about = f" ({escape(said.address)})" if said.address else ""
        lines.append(f"{state} {said.emoji} <b>{escape(sub.name)}</b>{about} on {chain}: {escape(said.settings)}")
    lines.append("Choose one to see it, pause, rename, test or delete it.")
    return _fit("\n".join(lines))


def card_text(
    sub: Subscription,
    chain: Chain | None,
    activity: SubscriptionActivity,
    preset: PresetSpec | None,
    now: datetime,
) -> str:
    """A subscription's card: what it watches, its state, when it last fired and how often."""
    state = "▶️ active" if sub.enabled else "⏸ paused"
    if sub.enabled and sub.muted_until is not None and sub.muted_until > now:
        state = f"🔇 muted for {relative_time(now, sub.muted_until).removeprefix('in ')}"
    if sub.silent:
        state += " · 🔕 silent"
    if sub.monitor is not None:
        said = summary(sub.monitor)
        title = escape(preset.title) if preset is not None else "Watch"
        watches = f"{said.emoji} {title}: {escape(said.settings)}"
        if sub.params:
            watches += "\n" + ", ".join(f"{escape(k)} = <code>{escape(v)}</code>" for k, v in sub.params.items() if v)
    elif preset is not None:
        watches = preset_summary(preset, sub.params or {}, chain)
    else:
        watches = "\n".join(f"<code>{escape(q)}</code>" for q in sub.queries)
    if activity.last_fired is None:
        fired = "never fired yet"
    else:
        times = f"{activity.count}{'+' if activity.capped else ''} time{'s' if activity.count != 1 else ''}"
        fired = f"last fired {relative_time(activity.last_fired, now)}, {times} in all"
    chain_name = chain.name if chain is not None else sub.chain_id
    return _fit(f"<b>{escape(sub.name)}</b> on {escape(chain_name)} — {state}\n{watches}\n{fired}")


def relative_time(then: datetime, now: datetime) -> str:
    """ "3 min ago", "2 h ago", "5 days ago" ("in 20 min" for a time ahead): how a chat says when."""
    seconds = int((now - then).total_seconds())
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "just now" if not ahead else "in under a minute"
    for size, unit in ((86_400, "day"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            n = seconds // size
            amount = f"{n} {unit}{'s' if unit == 'day' and n != 1 else ''}"
            return f"in {amount}" if ahead else f"{amount} ago"
    raise AssertionError("unreachable")


def history_text(items: Sequence[Notification], chains: Mapping[str, Chain], now: datetime) -> str:
    """Newest first, each with how long ago it happened and a link to the tx when the chain has an explorer."""
    if not items:
        return "Nothing was sent to this chat yet."
    lines = [f"<b>Last {len(items)} notification{'s' if len(items) != 1 else ''} here</b>"]
    for n in items:
        chain = chains.get(n.chain_id)
        summary = escape(
            n.summary
            or summarize(
                n.events,
                chain,
                tx_code=n.tx_code,
                codespace=n.tx_codespace,
                log=n.tx_log,
                messages=n.tx_messages,
            )
        )
        where = f" · height {n.height}" if n.height else ""
        url = chain.tx_url(n.tx_hash) if chain is not None and n.tx_hash else None
        link = f' · <a href="{escape(url)}">tx</a>' if url else ""
        lines.append(f"• {relative_time(n.time, now)} <b>{escape(n.subscription_name)}</b>: {summary}{where}{link}")
    return _fit("\n".join(lines))


def created_text(sub: Subscription, chain_name: str, *, existed: bool = False) -> str:
    head = "Already watching" if existed else "✅ Subscribed"
    return (
        f"{head}: <b>{escape(sub.name)}</b> on {escape(chain_name)}.\n"
        f"Notifications arrive in this chat. Id <code>{escape(sub.id)}</code> — /list to manage."
    )


def monitor_created_text(sub: Subscription, chain_name: str, *, existed: bool = False) -> str:
    """The answer to /validator and /voter: what will be told here, what rings, how to change it."""
    assert sub.monitor is not None
    head = "Already watching" if existed else "✅ Watching"
    said = summary(sub.monitor)
    params = sub.params or {}
    address = params.get("validator") or params.get("voter") or ""
    lines = [
        f"{head}: {said.emoji} <b>{escape(sub.name)}</b> on {escape(chain_name)}"
        + (f" (<code>{escape(address)}</code>)" if address else "")
        + ".",
        "You will be told here:",
        *(f"• {escape(line)}" for line in told(sub.monitor)),
        escape(quiet_note(sub.monitor)),
        f"Id <code>{escape(sub.id)}</code>. /list pauses, silences or renames it; "
        f"/unsubscribe {escape(sub.id)} removes it. Other {other_settings(sub.monitor)}: /subscribe with "
        f"the {escape(sub.preset or '')} preset.",
    ]
    return _fit("\n".join(lines))


#: A Markdown code span (`like this`), as core texts mark commands and names.
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def html_text(text: str) -> str:
    """Plain `text` as Telegram HTML: escaped, and its Markdown code spans as <code>…</code>.

    Core texts (error messages, parameter help) are written once for every front door and mark
    commands with backticks, which Discord renders but Telegram's HTML mode shows as stray "`".
    Escaping first keeps `<binary>` in a span as text, not as a tag Telegram would reject.
    """
    return _CODE_SPAN.sub(r"<code>\1</code>", escape(text))


def preset_summary(preset: PresetSpec, params: Mapping[str, str], chain: Chain | None) -> str:
    """The preset and its parameters as a user reads them: a minimum amount in its unit ("1.5 ATOM")."""
    shown = dict(params)
    amount = shown.pop("min_amount", "")
    denom = shown.pop("denom", "") if amount else ""
    parts = [f"{escape(k)} = <code>{escape(v)}</code>" for k, v in shown.items() if v]
    if amount:
        parts.append(f"at least <code>{escape(amount_text(amount, denom or None, chain))}</code>")
    return f"{escape(preset.title)} ({', '.join(parts) or 'no parameters'})"


def amount_text(amount: str, denom: str | None, chain: Chain | None) -> str:
    """`min_amount` + `denom` as the chain displays it: "1500000 uatom" reads "1.5 ATOM"."""
    try:
        base, units = resolve_min_amount(amount, denom, chain)
    except ValidationError:
        return f"{amount} {denom or ''}".strip()
    return format_coin(str(units), base, chain)


def param_prompt(param: ParamSpec, index: int, total: int) -> str:
    optional = "" if param.required else " (optional)"
    help_ = f"\n{html_text(param.help)}" if param.help else ""
    how = "Choose one." if param.choices else "Send it as a message."
    return f"Parameter {index}/{total}: <b>{escape(param.name)}</b>{optional}{help_}\n{how}"


def error_text(exc: BaseException, where: str = "telegram handler") -> str:
    """The reply for any failure, worded by the one table (`bot.errors`, `core.errors`).

    An internal error (a bug, or the operator's) is logged here with an error id that the reply
    repeats, so it must be called once per failure.
    """
    said = chat_error(exc, log, where)
    text = f"{said.icon} {html_text(said.text)}{_HINTS.get(said.view.slug, '')}"
    if isinstance(exc, QuerySyntaxError):
        text += (
            f"\n<pre>{escape(exc.caret_lines)}</pre>\nQueries are CometBFT queries, e.g. "
            "<code>transfer.recipient = 'cosmos1…'</code>"
        )
    return text


def plain_text(html_text: str, limit: int = 200) -> str:
    """HTML to plain text (a callback answer is plain, at most 200 characters)."""
    return unescape(re.sub(r"<[^>]+>", "", html_text))[:limit]


def _fit(text: str) -> str:
    """Telegram's limit is 4096 characters; listings are cut at a line."""
    if len(text) <= _MAX_TEXT:
        return text
    cut = text.rfind("\n", 0, _MAX_TEXT)
    return text[: cut if cut > 0 else _MAX_TEXT] + "\n…"

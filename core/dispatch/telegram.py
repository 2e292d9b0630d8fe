"""The Telegram channel: HTML messages through python-telegram-bot's `Bot`.

Formatting: every piece of text from the chain is `html.escape`d. A notification is always ONE
message (#15.2): long values are cut by the renderer, and when the whole is still over
`MESSAGE_LIMIT` fewer attributes are shown (`render.fit`). Telegram's limit is 4096 characters
after entity parsing, counted in UTF-16 code units; we measure the HTML itself in UTF-16 units,
which is never less than what Telegram counts, so emoji and escaped markup cannot push it over.
Failures: `RetryAfter` (429) is honoured and slows the chat down; `Forbidden` (the bot was
blocked, kicked, or the chat deleted), "chat not found" and "message thread not found" (the
forum topic was deleted) are permanent and disable the destination; other `BadRequest`s are
permanent for this message only; network errors are retried.
Sound: a silent subscription's notification, and any notification inside the chat's quiet hours,
is sent with `disable_notification` (delivered, without a sound; see quiet_hours.py).
"""

from __future__ import annotations

import asyncio
import html
import time
import warnings
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import datetime, timedelta

import telegram
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from core.dispatch.bundle import controlled_subscription, render_bundle
from core.dispatch.channel import DeliveryResult, clip
from core.dispatch.quiet_hours import bundle_is_silent, is_quiet
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.render import Field, Rendered, fit, render, short_hash
from core.dispatch.telegram_buttons import CallbackSigning, notification_keyboard
from core.models import Chain, Destination, Notification, TelegramDestination
from core.support.timeutil import utcnow

MESSAGE_LIMIT = 4096


def _field_html(field: Field) -> str:
    """ "From Treasury <code>cosmos1…</code>" (tap to copy), "Fee 0.0019 ATOM (paid)", the log in
    its own code block; an attribute keeps its key as the chain wrote it ("vault_id: 859")."""
    name, value = html.escape(field.name), html.escape(field.value)
    if field.block:
        return f"<pre>{value}</pre>"
    if field.attribute:
        return f"{name}: {value}"
    if field.url:
        value = f'<a href="{html.escape(field.url, quote=True)}">{value}</a>'
    elif field.code:
        value = f"<code>{value}</code>"
    if field.label:
        value = f"{html.escape(field.label)} {value}"
    return f"{name} {value}" if name else value


def _context_html(rendered: Rendered) -> str:
    """Chain, height, time and the tx on one line: "Cosmos Hub · height 1234567 · 2024-05-01
    12:00 UTC · Tx ABABABAB…ABABAB" (a link; without an explorer the whole hash, to copy)."""
    parts = [
        html.escape(rendered.chain_name),
        f"height {rendered.height}",
        rendered.time.strftime("%Y-%m-%d %H:%M UTC"),
    ]
    if rendered.tx_hash and rendered.url:
        parts.append(
            f'<a href="{html.escape(rendered.url, quote=True)}">Tx {html.escape(short_hash(rendered.tx_hash))}</a>'
        )
    elif rendered.tx_hash:
        parts.append(f"Tx <code>{html.escape(rendered.tx_hash)}</code>")
    return " · ".join(parts)


def telegram_lines(rendered: Rendered) -> list[str]:
    """The message's HTML lines, each self-contained (every tag closed in it): the headline
    (what a chat list previews), the subscription that fired in small print, the fields, then
    where and when. A notice from Mempools itself has no chain: its title, message and fields."""
    if rendered.system:  # Mempools itself speaking: its title ("Mempools: test notification") leads
        lines = [f"<b>{html.escape(rendered.title)}</b>", html.escape(rendered.headline)]
        return lines + [_field_html(f) for f in rendered.fields]
    lines = [f"<b>{html.escape(rendered.headline)}</b>", f"<i>{html.escape(rendered.title)}</i>"]
    lines += [_field_html(f) for f in rendered.fields]
    return [*lines, _context_html(rendered)]


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


def _html(rendered: Rendered) -> str:
    return "\n".join(telegram_lines(rendered))


def format_telegram(rendered: Rendered) -> str:
    """The one HTML message for `rendered`, at most `MESSAGE_LIMIT` (when its attributes allow)."""
    return _html(fit(rendered, lambda r: telegram_length(_html(r)) <= MESSAGE_LIMIT))


GROUP_MESSAGES_PER_MINUTE = 20
#: Telegram's words for a destination that no longer exists (its topic: "message thread").
_GONE = ("chat not found", "message thread not found")


def is_group_chat(chat_id: Hashable) -> bool:
    """Telegram gives groups, supergroups and channels negative ids, people positive ones."""
    return isinstance(chat_id, int) and chat_id < 0


def telegram_limiter(
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    share: Callable[[], float] | None = None,
) -> RateLimiter:
    """Telegram's limits for one bot, as Telegram states them: one message per second in a chat,
    20 per minute in a group, 30 per second overall.

    One instance per bot, shared by the deliveries (`TelegramChannel`) and the bot's replies
    (`bot.telegram.chat.Replier`): Telegram counts both against the same limits. Keys are chat
    ids, so a group's forum topics share the group's budget, as they do at Telegram.

    `share`: the fraction of the 30/s this node may use (cluster mode: what its delivery
    partitions are worth, `DeliveryPartitions.bot_share`); None: all of it.
    """
    return RateLimiter(
        per_key_interval=1.0,
        global_rate=30.0,
        window_limit=GROUP_MESSAGES_PER_MINUTE,
        window=60.0,
        windowed=is_group_chat,
        clock=clock,
        sleep=sleep,
        share=share,
    )


def retry_seconds(exc: RetryAfter) -> float:
    """`retry_after` in seconds, whichever type this PTB version returns (int now, timedelta later)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramChannel:
    kind = "telegram"

    def __init__(
        self,
        bot: telegram.Bot,
        *,
        limiter: RateLimiter | None = None,
        max_wait: float = 5.0,
        signer: CallbackSigning | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bot = bot
        # The wall clock quiet hours are judged by (injected by tests, which cross midnight and
        # daylight saving changes without waiting for them).
        self._clock = clock
        # Signs the [Pause] button's data for the bot (the front door's `signer`); without one
        # a notification carries only its [Tx] link.
        self.signer = signer
        self.limiter = limiter or telegram_limiter()
        # Longer than this in the rate limiter (a chat or the bot under a long 429, a group
        # over its 20 a minute) and the delivery is deferred instead: a waiting worker is one
        # the other chats cannot use.
        self.max_wait = max_wait

    async def deliver(
        self, notification: Notification, destination: Destination, chain: Chain | None
    ) -> DeliveryResult:
        return await self._deliver(
            render(notification, chain), notification.subscription_id, destination, silent=notification.silent
        )

    async def deliver_bundle(
        self, notifications: Sequence[Notification], destination: Destination, chain: Chain | None
    ) -> DeliveryResult:
        """Several notifications of one block as ONE message (`core.dispatch.bundle`), with
        [Pause] and [Mute 1 h] only when they are all one subscription's."""
        rendered = render_bundle(notifications, chain)
        return await self._deliver(
            rendered, controlled_subscription(notifications), destination, silent=bundle_is_silent(notifications)
        )

    async def _deliver(
        self, rendered: Rendered, subscription_id: str | None, destination: Destination, *, silent: bool
    ) -> DeliveryResult:
        """`silent`: the notifications' own wish (their subscriptions'); quiet hours add theirs here."""
        if not isinstance(destination, TelegramDestination):
            raise TypeError(f"{destination.kind} destination given to the Telegram channel")
        started = time.perf_counter()

        def result(**kwargs: object) -> DeliveryResult:
            # kwargs are DeliveryResult fields (msgspec checks their names at construction).
            return DeliveryResult(latency_ms=(time.perf_counter() - started) * 1000, **kwargs)  # type: ignore[arg-type]

        chat_id = destination.chat_id
        wait = self.limiter.delay(chat_id)
        if wait > self.max_wait:
            return result(ok=False, deferred=True, retry_after=wait, error=f"rate limited for {wait:.0f} s")
        moved: dict[str, int] | None = None
        text = format_telegram(rendered)
        link = rendered.url  # the transaction in the chain's explorer, when both are known
        silent = silent or is_quiet(destination.quiet_hours, self._clock())
        await self.limiter.acquire(chat_id)
        try:
            try:
                await self._send(
                    chat_id,
                    text,
                    destination.message_thread_id,
                    self._keyboard(chat_id, subscription_id, link),
                    silent=silent,
                )
            except ChatMigrated as exc:
                # The group became a supergroup: same chat, new id. Follow it, keep it from now on.
                # (The new id gets its own signature: a button is signed for the chat it is in.)
                chat_id = int(exc.new_chat_id)
                moved = {"chat_id": chat_id}
                await self._send(
                    chat_id,
                    text,
                    destination.message_thread_id,
                    self._keyboard(chat_id, subscription_id, link),
                    silent=silent,
                )
        except RetryAfter as exc:
            wait = retry_seconds(exc)
            self.limiter.penalize(chat_id, wait)
            return result(
                ok=False,
                status=429,
                error=clip(f"Telegram flood control: {exc}"),
                retry_after=wait,
                destination_update=moved,
            )
        except Forbidden as exc:
            reason = f"Telegram refused: {exc.message}"
            return result(ok=False, status=403, error=clip(reason), permanent=True, disable_reason=clip(reason))
        except BadRequest as exc:
            gone = any(missing in exc.message.lower() for missing in _GONE)
            reason = f"Telegram refused: {exc.message}"
            return result(
                ok=False, status=400, error=clip(reason), permanent=True, disable_reason=reason if gone else None
            )
        except NetworkError as exc:
            return result(ok=False, error=clip(f"Telegram unreachable: {exc.message}"), destination_update=moved)
        except TelegramError as exc:
            return result(ok=False, error=clip(f"Telegram error: {exc.message}"), destination_update=moved)
        return result(ok=True, status=200, destination_update=moved)

    def _keyboard(
        self, chat_id: int, subscription_id: str | None, link: str | None
    ) -> telegram.InlineKeyboardMarkup | None:
        return notification_keyboard(self.signer, chat_id, subscription_id=subscription_id, tx_url=link)

    async def _send(
        self,
        chat_id: int,
        text: str,
        message_thread_id: int | None,
        markup: telegram.InlineKeyboardMarkup | None,
        *,
        silent: bool,
    ) -> None:
        await self.bot.send_message(
            chat_id=chat_id,
            message_thread_id=message_thread_id,
            text=text,
            parse_mode="HTML",
            reply_markup=markup,
            disable_notification=silent,
            link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
        )

    async def close(self) -> None:
        """The Bot is owned by whoever passed it (the bot front door shuts it down)."""

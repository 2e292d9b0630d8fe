"""The Discord channel: embeds to a channel or a DM through discord.py's REST client, or to a
plain Discord webhook URL through our own `HttpClient`.

discord.py retries short 429s by itself; construct the client with `max_ratelimit_timeout=30`
(the smallest it allows) so that a longer wait comes back here as `RateLimited` and is scheduled
by the dispatcher instead of holding a worker. 403 (missing access, DMs closed) and 404 (channel
or webhook deleted) are permanent and disable the destination. Mentions are never parsed: chain
data may contain "@everyone".
Sound: a silent subscription's notification, and any inside the destination's quiet hours, carries
the SUPPRESS_NOTIFICATIONS message flag (delivered, no push or sound; see quiet_hours.py).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

import aiohttp
import discord
from discord.http import HTTPClient, handle_message_parameters

from core.dispatch.bundle import controlled_subscription, render_bundle
from core.dispatch.channel import DeliveryResult, clip
from core.dispatch.http import HttpClient, HttpError
from core.dispatch.quiet_hours import bundle_is_silent, is_quiet
from core.dispatch.render import Field, Rendered, fit, render
from core.dispatch.webhook import parse_retry_after
from core.errors import ValidationError
from core.models import Chain, Destination, DiscordDestination, Notification
from core.support.text import ellipsize
from core.support.timeutil import utcnow

# Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_LIMIT = 256
AUTHOR_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
TOTAL_LIMIT = 6000

_GREEN = 0x2ECC71
_RED = 0xE74C3C
_GREY = 0x95A5A6
#: Discord's message flag for "deliver without a push notification" (1 << 12).
SUPPRESS_NOTIFICATIONS = 1 << 12


def _escape_md(text: str) -> str:
    """Backslash-escape Discord markdown so chain data shows as written."""
    return discord.utils.escape_markdown(text)


def _fits(rendered: Rendered) -> bool:
    return len(rendered.fields) <= FIELDS_LIMIT and embed_size(_embed(rendered)) <= TOTAL_LIMIT


def discord_embed(rendered: Rendered) -> dict[str, Any]:
    """The embed for `rendered`, within every one of Discord's limits (total 6000 included):
    attributes that do not fit give way to "… and K more attributes" (`render.fit`)."""
    return _embed(fit(rendered, _fits))


def _field_value(field: Field) -> str:
    if field.block:  # a code block cannot be escaped, only kept from closing early
        inner = field.value.replace("```", "`\u200b`\u200b`")
        return "```\n" + ellipsize(inner, FIELD_VALUE_LIMIT - 8) + "\n```"
    if field.url:
        value = f"[{_escape_md(field.value)}]({field.url})"
        if len(value) <= FIELD_VALUE_LIMIT:
            return value
        return _escape_md(field.value)
    value = "`" + field.value.replace("`", "'") + "`" if field.code else _escape_md(field.value)
    return f"{_escape_md(field.label)} {value}" if field.label else value


def _embed(rendered: Rendered) -> dict[str, Any]:
    """Each thing once: the headline as the title (linked to the tx), the subscription that fired
    as the author line above it, the fields, the chain and height in the footer, the block time
    as the embed's own `timestamp` (Discord shows it in the reader's time zone)."""
    title = ellipsize(_escape_md(rendered.headline), TITLE_LIMIT)
    author = ellipsize(rendered.title, AUTHOR_LIMIT)
    description = ""
    if rendered.system:  # Mempools itself speaking: its title leads, the message below it
        title, author = ellipsize(rendered.title, TITLE_LIMIT), ""
        description = ellipsize(_escape_md(rendered.headline), DESCRIPTION_LIMIT)
        footer = "Mempools"
    else:
        footer = f"{rendered.chain_name} · height {rendered.height}"
        if rendered.tx_hash and not rendered.url:
            footer += f" · tx {rendered.tx_hash}"  # no explorer to link to: the whole hash, to copy
    footer = ellipsize(footer, FOOTER_LIMIT)
    # Unnamed lines leading the fields (a bundle's other headlines) read as the message's own
    # lines: the description, not a column of nameless fields.
    lead = 0
    while lead < len(rendered.fields) and not rendered.fields[lead].name and not rendered.system:
        lead += 1
    if lead:
        lines = "\n".join(_field_value(f) for f in rendered.fields[:lead])
        description = ellipsize(lines, DESCRIPTION_LIMIT)
    fields: list[dict[str, Any]] = []
    for field in rendered.fields[lead : lead + FIELDS_LIMIT]:
        value = ellipsize(_field_value(field), FIELD_VALUE_LIMIT)
        fields.append(
            {
                "name": ellipsize(field.name, FIELD_NAME_LIMIT) or "\u200b",
                "value": value or "\u200b",
                "inline": len(value) <= 40,
            }
        )
    budget = TOTAL_LIMIT - len(title) - len(author) - len(description) - len(footer)
    while fields and sum(len(f["name"]) + len(f["value"]) for f in fields) > budget:
        fields.pop()
    embed: dict[str, Any] = {
        "title": title,
        "color": _GREY if rendered.system else (_RED if rendered.failed else _GREEN),
        "fields": fields,
        "footer": {"text": footer},
        "timestamp": rendered.time.isoformat(),
    }
    if author:
        embed["author"] = {"name": author}
    if description:
        embed["description"] = description
    if rendered.url:
        embed["url"] = rendered.url
    return embed


def embed_size(embed: dict[str, Any]) -> int:
    """Characters Discord counts against the 6000 total."""
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    return size + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


#: custom_id verbs of the notification buttons, signed for the channel they are shown in; the
#: bot (`bot.discord.buttons`) answers them. Distinct from the list's verbs: a press here redraws
#: the notification's buttons, not a list.
PAUSE_NOTIFIED, RESUME_NOTIFIED, MUTE_NOTIFIED = "nP", "nR", "nM"


class ButtonSigning(Protocol):
    """Makes a signed custom_id for a button shown in `channel_id` (the bot's CallbackSigner)."""

    def encode(self, chat_id: int, verb: str, *args: str) -> str: ...


class StaticView(discord.ui.View):
    """Buttons only carried by a message: presses are answered by the client's `on_interaction`
    from the signed custom_id (so they survive restarts), never by this object, which discord.py
    would otherwise keep in memory for every message sent."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    def is_dispatchable(self) -> bool:
        return False


def notification_view(
    signer: ButtonSigning | None,
    channel_id: int,
    *,
    subscription_id: str | None,
    tx_url: str | None,
    paused: bool = False,
) -> discord.ui.View | None:
    """[Tx] (a link to the explorer), then with a signer and a subscription [Pause] [Mute 1 h], or
    [Resume] alone once paused. The same view is redrawn by the bot after a press. Plain webhook
    URLs get no view at all: Discord ignores components from webhooks the application does not own."""
    view = StaticView()
    if tx_url:
        view.add_item(discord.ui.Button(style=discord.ButtonStyle.link, label="🔎 Tx", url=tx_url))
    if signer is not None and subscription_id:

        def press(label: str, verb: str, style: discord.ButtonStyle) -> discord.ui.Button[discord.ui.View]:
            custom_id = signer.encode(channel_id, verb, subscription_id)
            return discord.ui.Button(style=style, label=label, custom_id=custom_id)

        if paused:
            view.add_item(press("▶️ Resume", RESUME_NOTIFIED, discord.ButtonStyle.success))
        else:
            view.add_item(press("⏸ Pause", PAUSE_NOTIFIED, discord.ButtonStyle.secondary))
            view.add_item(press("🔕 Mute 1 h", MUTE_NOTIFIED, discord.ButtonStyle.secondary))
    return view if view.children else None


class DiscordChannel:
    kind = "discord"

    def __init__(
        self,
        client: discord.Client | HTTPClient | None,
        webhook_http: HttpClient | None = None,
        *,
        clock: Callable[[], datetime] = utcnow,
        signer: ButtonSigning | None = None,
    ) -> None:
        self._rest: HTTPClient | None = client.http if isinstance(client, discord.Client) else client
        self._clock = clock  # quiet hours are judged by it
        # Signs [Pause] [Mute 1 h] for the bot that answers them (the front door's `signer`);
        # without one a notification carries only its [Tx] link.
        self._signer = signer
        self._webhook_http = webhook_http
        self._dm_channels: dict[int, int] = {}

    async def deliver(
        self, notification: Notification, destination: Destination, chain: Chain | None
    ) -> DeliveryResult:
        return await self._deliver(
            render(notification, chain),
            destination,
            silent=notification.silent,
            subscription_id=notification.subscription_id,
        )

    async def deliver_bundle(
        self, notifications: Sequence[Notification], destination: Destination, chain: Chain | None
    ) -> DeliveryResult:
        """Several notifications of one block as ONE message (`core.dispatch.bundle`)."""
        return await self._deliver(
            render_bundle(notifications, chain),
            destination,
            silent=bundle_is_silent(notifications),
            subscription_id=controlled_subscription(notifications),
        )

    async def _deliver(
        self, rendered: Rendered, destination: Destination, *, silent: bool, subscription_id: str | None
    ) -> DeliveryResult:
        if not isinstance(destination, DiscordDestination):
            raise TypeError(f"{destination.kind} destination given to the Discord channel")
        embed = discord_embed(rendered)
        silent = silent or is_quiet(destination.quiet_hours, self._clock())
        started = time.perf_counter()
        if destination.webhook_url:
            result = await self._post_webhook(destination.webhook_url, embed, silent=silent)
        else:
            buttons_for = None if rendered.system else subscription_id
            result = await self._post_rest(destination, embed, rendered.url, buttons_for, silent=silent)
        if result.latency_ms is None:
            result.latency_ms = (time.perf_counter() - started) * 1000
        return result

    async def _post_rest(
        self,
        destination: DiscordDestination,
        embed: dict[str, Any],
        tx_url: str | None,
        subscription_id: str | None,
        *,
        silent: bool,
    ) -> DeliveryResult:
        if self._rest is None:
            return DeliveryResult(ok=False, error="the Discord bot is not configured")
        try:
            channel_id = destination.channel_id
            if channel_id is None:
                if destination.user_id is None:
                    return DeliveryResult(ok=False, error="destination has no channel, user or webhook", permanent=True)
                channel_id = await self._dm_channel(destination.user_id)
            params = handle_message_parameters(
                embeds=[discord.Embed.from_dict(embed)],
                allowed_mentions=discord.AllowedMentions.none(),
                view=notification_view(self._signer, channel_id, subscription_id=subscription_id, tx_url=tx_url),
                flags=discord.MessageFlags(suppress_notifications=silent),
            )
            with params:
                await self._rest.send_message(channel_id, params=params)
        except discord.RateLimited as exc:
            return DeliveryResult(ok=False, status=429, error="Discord rate limit", retry_after=exc.retry_after)
        except (discord.Forbidden, discord.NotFound) as exc:
            reason = f"Discord refused: {exc.status} {exc.text or exc.response.reason}"
            return DeliveryResult(
                ok=False, status=exc.status, error=clip(reason), permanent=True, disable_reason=clip(reason)
            )
        except discord.HTTPException as exc:
            retry = None
            if exc.status == 429 and isinstance(getattr(exc, "response", None), aiohttp.ClientResponse):
                retry = parse_retry_after(exc.response.headers.get("Retry-After"), utcnow())
            return DeliveryResult(ok=False, status=exc.status, error=clip(f"Discord error: {exc}"), retry_after=retry)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return DeliveryResult(ok=False, error=clip(f"Discord unreachable: {type(exc).__name__}: {exc}"))
        return DeliveryResult(ok=True, status=200)

    async def _dm_channel(self, user_id: int) -> int:
        channel_id = self._dm_channels.get(user_id)
        if channel_id is None:
            assert self._rest is not None
            data = await self._rest.start_private_message(user_id)
            channel_id = int(data["id"])
            self._dm_channels[user_id] = channel_id
        return channel_id

    async def _post_webhook(self, url: str, embed: dict[str, Any], *, silent: bool) -> DeliveryResult:
        if self._webhook_http is None:
            return DeliveryResult(ok=False, error="no HTTP client for Discord webhooks")
        message: dict[str, Any] = {"embeds": [embed], "allowed_mentions": {"parse": []}}
        if silent:
            message["flags"] = SUPPRESS_NOTIFICATIONS
        body = json.dumps(message).encode()
        try:
            response = await self._webhook_http.post(url, body, {"content-type": "application/json"})
        except ValidationError as exc:
            return DeliveryResult(ok=False, error=str(exc))
        except HttpError as exc:
            return DeliveryResult(ok=False, error=clip(str(exc)))
        status = response.status
        text = clip(response.body.decode("utf-8", "replace"))
        common: dict[str, Any] = {"status": status, "latency_ms": response.latency_ms, "response_body": text}
        if 200 <= status < 300:
            return DeliveryResult(ok=True, **common)
        if status in (401, 403, 404):
            reason = clip(f"Discord webhook refused: HTTP {status} {text}")
            return DeliveryResult(ok=False, error=reason, permanent=True, disable_reason=reason, **common)
        retry_after = None
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"), utcnow())
            with contextlib.suppress(ValueError, KeyError, TypeError):
                retry_after = float(json.loads(response.body)["retry_after"])
        return DeliveryResult(ok=False, error=clip(f"HTTP {status}: {text}"), retry_after=retry_after, **common)

    async def close(self) -> None:
        """The discord.py client belongs to the bot front door; the webhook client to its creator."""

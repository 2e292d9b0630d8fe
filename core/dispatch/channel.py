"""What the dispatcher asks of a channel, and what a channel answers.

A channel delivers one notification to one destination and reports the outcome; it does not
retry, reschedule or write to the store: those decisions are the dispatcher's, made the same way
for every kind of destination. Expected failures (an HTTP 500, a blocked bot) are results, not
exceptions; an exception escaping `deliver` is treated as a transient failure and logged.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from core.models import Chain, Destination, Notification
from core.support.text import ellipsize

#: How much of an endpoint's answer is kept in the attempt log.
ERROR_TEXT_LIMIT = 300


class DeliveryResult(msgspec.Struct, kw_only=True):
    """One attempt's outcome.

    `permanent` means retrying cannot help (the bot was blocked, the channel is gone): the entry
    becomes a dead letter at once and, with `disable_reason`, the destination is disabled.
    `retry_after` (seconds) is the endpoint's own wish (Retry-After, Telegram/Discord retry_after);
    the next attempt is never earlier.
    """

    ok: bool
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    disable_reason: str | None = None
    latency_ms: float | None = None
    response_body: str | None = None
    # Fields of the destination to change from now on (a Telegram group that became a supergroup
    # has a new chat id): the dispatcher stores them with the attempt.
    destination_update: dict[str, int] | None = None
    # Nothing was sent: the channel's own rate limit would have kept the worker waiting longer
    # than it should (a chat under a long 429). The dispatcher makes the entry due again after
    # `retry_after`, with no attempt counted or logged.
    deferred: bool = False


class Channel(Protocol):
    """Delivers to destinations of one kind ("webhook", "telegram", "discord")."""

    kind: str

    async def deliver(
        self, notification: Notification, destination: Destination, chain: Chain | None
    ) -> DeliveryResult:
        """Deliver once. Channels that show text render it with `core.dispatch.render.render(notification, chain)`;
        a webhook needs only the stored summary, so nothing is rendered on its hot path."""
        ...

    async def close(self) -> None: ...

    # Chat channels (Telegram, Discord) also have `deliver_bundle(notifications, destination,
    # chain)`: several notifications of one block as ONE message, with one result for all of
    # them (`OutboxEntry.bundle`, `core.dispatch.bundle`). Webhooks never get bundles.


def clip(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    """Single-line, bounded text for the attempt log (an endpoint's error page can be huge)."""
    flat = " ".join(text.split())
    return ellipsize(flat, limit)

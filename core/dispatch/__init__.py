"""Delivery: the dispatcher, its channels (webhook, Telegram, Discord) and their guards.

See core/dispatch/dispatcher.py for the flow and docs/WEBHOOKS.md for what receivers get.
"""

from __future__ import annotations

from core.dispatch.channel import Channel, DeliveryResult
from core.dispatch.dispatcher import RETRY_DELAYS, Dispatcher, DispatchLimits, retry_delay
from core.dispatch.http import HttpClient, HttpError, HttpResponse
from core.dispatch.ratelimit import RateLimiter
from core.dispatch.signing import new_webhook_secret, rotate_secret, sign, webhook_headers
from core.dispatch.ssrf import check_webhook_url, parse_webhook_url
from core.dispatch.webhook import TestEventResult, WebhookChannel

__all__ = [
    "RETRY_DELAYS",
    "Channel",
    "DeliveryResult",
    "DispatchLimits",
    "Dispatcher",
    "HttpClient",
    "HttpError",
    "HttpResponse",
    "RateLimiter",
    "TestEventResult",
    "WebhookChannel",
    "check_webhook_url",
    "new_webhook_secret",
    "parse_webhook_url",
    "retry_delay",
    "rotate_secret",
    "sign",
    "webhook_headers",
]

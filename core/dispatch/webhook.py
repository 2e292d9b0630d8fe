"""The webhook channel: Standard Webhooks signed POSTs through the SSRF-guarded `HttpClient`.

Outcomes: any 2xx is delivered; 3xx is a failure (redirects are not followed: a signed body must
not be forwarded to wherever an endpoint points); 410 Gone is permanent and disables the
destination (as the Standard Webhooks guidance suggests); 429 and 503 honour `Retry-After`
(seconds or an HTTP date); every other status and every network error is retried on schedule.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec

from core.dispatch.channel import DeliveryResult, clip
from core.dispatch.http import HttpClient, HttpError, HttpResponse
from core.dispatch.payload import test_payload, webhook_body
from core.dispatch.signing import webhook_headers
from core.errors import ValidationError
from core.models import Chain, Destination, Notification, WebhookDestination
from core.support.timeutil import utcnow


class TestEventResult(msgspec.Struct, kw_only=True):
    """What `POST /v1/destinations/{id}/test` shows: the endpoint's answer, or why there was none."""

    ok: bool
    status: int | None
    body: str | None
    latency_ms: float | None
    error: str | None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None if absent or garbage."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _body_text(response: HttpResponse) -> str:
    text = response.body.decode("utf-8", "replace")
    return clip(text + ("…" if response.truncated else ""))


class WebhookChannel:
    kind = "webhook"

    def __init__(self, client: HttpClient, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.client = client
        self.clock = clock

    async def deliver(
        self, notification: Notification, destination: Destination, chain: Chain | None
    ) -> DeliveryResult:
        if not isinstance(destination, WebhookDestination):
            raise TypeError(f"{destination.kind} destination given to the webhook channel")
        body = webhook_body(notification, chain)
        return await self._post(destination, notification.id, body)

    async def close(self) -> None:
        """Nothing to close: the HTTP client is shared, and its creator closes it."""

    async def send_test_event(self, destination: WebhookDestination) -> TestEventResult:
        """POST a signed `webhook.test` event now (no outbox, no retry) and report the answer."""
        body = test_payload(destination.id, self.clock())
        result = await self._post(destination, "msg_test_" + secrets.token_hex(8), body, keep_body=True)
        return TestEventResult(
            ok=result.ok,
            status=result.status,
            body=result.response_body,
            latency_ms=result.latency_ms,
            error=result.error,
        )

    async def _post(
        self, destination: WebhookDestination, msg_id: str, body: bytes, *, keep_body: bool = False
    ) -> DeliveryResult:
        now = self.clock()
        try:
            headers = webhook_headers(destination, msg_id, body, now)
        except ValidationError as exc:
            return DeliveryResult(ok=False, error=str(exc))
        started = time.perf_counter()
        try:
            response = await self.client.post(destination.url, body, headers)
        except ValidationError as exc:  # the URL itself is unacceptable
            return DeliveryResult(ok=False, error=str(exc), latency_ms=(time.perf_counter() - started) * 1000)
        except HttpError as exc:
            return DeliveryResult(ok=False, error=clip(str(exc)), latency_ms=(time.perf_counter() - started) * 1000)
        return self._outcome(response, now, keep_body)

    def _outcome(self, response: HttpResponse, now: datetime, keep_body: bool) -> DeliveryResult:
        status = response.status
        if 200 <= status < 300:  # the hot path: a success's body is kept only when someone will see it
            text = _body_text(response) if keep_body else None
            return DeliveryResult(ok=True, status=status, latency_ms=response.latency_ms, response_body=text)
        text = _body_text(response)
        common: dict[str, Any] = {"status": status, "latency_ms": response.latency_ms, "response_body": text}
        if 300 <= status < 400:
            where = response.headers.get("location", "?")
            return DeliveryResult(ok=False, error=clip(f"HTTP {status}: redirect to {where} not followed"), **common)
        error = clip(f"HTTP {status}: {text}" if text else f"HTTP {status}")
        if status == 410:
            return DeliveryResult(
                ok=False, error=error, permanent=True, disable_reason="the endpoint answered 410 Gone", **common
            )
        retry_after = parse_retry_after(response.headers.get("retry-after"), now) if status in (429, 503) else None
        return DeliveryResult(ok=False, error=error, retry_after=retry_after, **common)

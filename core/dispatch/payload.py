"""The JSON body webhooks receive (schema: docs/webhook-payload.schema.json).

The body of a notification is a pure function of the stored notification, so every retry, and
every redelivery after a restart, sends the same bytes under the same `webhook-id`: consumers
can deduplicate on either.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.chain.blocks import Event, TxMessage
from core.dispatch.render import SYSTEM_SUBSCRIPTION_ID, render
from core.models import Chain, Notification
from core.monitor.models import Alert

EVENT_MATCHED = "event.matched"
MONITOR_ALERT = "monitor.alert"
SYSTEM_NOTICE = "system.notice"
WEBHOOK_TEST = "webhook.test"


class NotificationData(msgspec.Struct, kw_only=True):
    notification_id: str
    subscription_id: str
    subscription_name: str
    chain_id: str
    height: int
    time: datetime
    tx_hash: str | None
    tx_code: int | None
    events: tuple[Event, ...]
    summary: str
    labels: dict[str, str] = {}  # address -> the owner's address-book label, as named in `summary`
    # Why a failed tx failed and what it attempted: its events no longer say (reverted). None
    # and [] for successful txs and block events.
    log: str | None = None
    messages: tuple[TxMessage, ...] = ()


class AlertData(NotificationData, kw_only=True):
    """A watch's alert (core/monitor): a notification without events, with what changed."""

    alert: Alert


class TestData(msgspec.Struct, kw_only=True):
    destination_id: str
    message: str


class WebhookPayload(msgspec.Struct, kw_only=True):
    type: str
    timestamp: datetime
    data: NotificationData | AlertData | TestData


_encoder = msgspec.json.Encoder()


def notification_payload(notification: Notification, summary: str) -> bytes:
    """The body for `notification`; `timestamp` is when it was created, so the bytes never change."""
    kind = SYSTEM_NOTICE if notification.subscription_id == SYSTEM_SUBSCRIPTION_ID else EVENT_MATCHED
    fields: dict[str, object] = {}
    data_type: type[NotificationData] = NotificationData
    if notification.alert is not None:
        kind, data_type, fields = MONITOR_ALERT, AlertData, {"alert": notification.alert}
    payload = WebhookPayload(
        type=kind,
        timestamp=notification.created_at,
        data=data_type(
            **fields,
            notification_id=notification.id,
            subscription_id=notification.subscription_id,
            subscription_name=notification.subscription_name,
            chain_id=notification.chain_id,
            height=notification.height,
            time=notification.time,
            tx_hash=notification.tx_hash,
            tx_code=notification.tx_code,
            events=notification.events,
            summary=summary,
            labels=notification.labels,
            log=notification.tx_log if notification.tx_code else None,
            messages=notification.tx_messages,
        ),
    )
    return _encoder.encode(payload)


def webhook_body(notification: Notification, chain: Chain | None) -> bytes:
    """The exact bytes a webhook destination receives for `notification` (the console shows them
    too): its stored summary, or, for a record without one, the summary rendered for `chain`."""
    return notification_payload(notification, notification.summary or render(notification, chain).summary)


def test_payload(destination_id: str, now: datetime) -> bytes:
    payload = WebhookPayload(
        type=WEBHOOK_TEST,
        timestamp=now,
        data=TestData(destination_id=destination_id, message="This is a test event from Mempools."),
    )
    return _encoder.encode(payload)

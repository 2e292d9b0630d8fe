"""System notices: messages from Mempools itself (a destination was disabled, a `/test`).

They travel exactly like chain notifications (stored in the history, queued in the outbox,
retried, rate-limited), so one path is exercised and there is nothing special to deliver. They
carry the reserved subscription id `SYSTEM_SUBSCRIPTION_ID` and one `mempools.*` event.
"""

from __future__ import annotations

from datetime import datetime

from core.chain.blocks import Attribute, Event
from core.dispatch.outbox import Outbox
from core.dispatch.render import SYSTEM_EVENT_PREFIX, SYSTEM_SUBSCRIPTION_ID
from core.ids import notification_id
from core.models import Notification, OutboxEntry
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.text import ellipsize
from core.support.timeutil import to_millis

SUMMARY_LIMIT = 280


def queue_notice(
    repos: Repositories,
    outbox: Outbox,
    batch: WriteBatch,
    *,
    owner_id: str,
    destination_id: str,
    kind: str,
    title: str,
    message: str,
    now: datetime,
    attributes: tuple[tuple[str, str], ...] = (),
) -> Notification | None:
    """Add a notice for one destination to `batch` (None if that very notice exists already)."""
    notice = Notification(
        id=notification_id("mempools", 0, f"{kind}:{destination_id}:{to_millis(now)}", SYSTEM_SUBSCRIPTION_ID),
        owner_id=owner_id,
        subscription_id=SYSTEM_SUBSCRIPTION_ID,
        subscription_name=title,
        chain_id="mempools",
        height=0,
        time=now,
        tx_hash=None,
        tx_index=None,
        tx_code=None,
        events=(
            Event(
                type=SYSTEM_EVENT_PREFIX + kind,
                attributes=(Attribute(key="message", value=message), *(Attribute(k, v) for k, v in attributes)),
            ),
        ),
        destination_ids=(destination_id,),
        summary=ellipsize(message, SUMMARY_LIMIT),
        created_at=now,
    )
    if not repos.notifications.add(notice, batch):
        return None
    outbox.enqueue(
        [OutboxEntry(notification_id=notice.id, destination_id=destination_id, owner_id=owner_id, due_at=now)],
        batch,
        notification=notice,
    )
    return notice

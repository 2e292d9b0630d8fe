"""The sample notification behind `/test`: queued through the outbox like any real one.

Going through the outbox (rather than sending a message directly) tests the whole path a real
notification takes: the destination lookup, the dispatcher, the channel's formatting, its rate
limits and its error handling (a blocked bot disables the destination here too). It is recorded
in the history as a Mempools system notice, so `/history` shows it.

Composition-root glue: it writes a notification and an outbox entry in one batch. It belongs
next to `core.dispatch.service.DeliveryService` (asked for in the bot report); until then the
lead wires `OutboxSampleSender(repos, outbox)` into `ChatActions(send_sample=...)`.
"""

from __future__ import annotations

from core.chain.blocks import Attribute, Event
from core.ids import notification_id
from core.models import Destination, Notification, OutboxEntry
from core.outbox import Outbox
from core.render import SYSTEM_EVENT_PREFIX, SYSTEM_SUBSCRIPTION_ID
from core.repositories import Repositories
from core.services.clock import Clock, utcnow
from core.store.base import WriteBatch
from core.timeutil import to_millis

SAMPLE_TITLE = "Mempools: test notification"
SAMPLE_MESSAGE = "This is a test notification. Notifications for this chat work."


class OutboxSampleSender:
    """`SampleSender` for `bot.actions.ChatActions`: one system notice, durable and retried."""

    def __init__(self, repos: Repositories, outbox: Outbox, *, clock: Clock = utcnow) -> None:
        self._repos = repos
        self._outbox = outbox
        self._clock = clock

    async def __call__(self, owner_id: str, destination: Destination) -> str:
        now = self._clock()
        notice = Notification(
            id=notification_id("mempools", 0, f"test:{destination.id}:{to_millis(now)}", SYSTEM_SUBSCRIPTION_ID),
            owner_id=owner_id,
            subscription_id=SYSTEM_SUBSCRIPTION_ID,
            subscription_name=SAMPLE_TITLE,
            chain_id="mempools",
            height=0,
            time=now,
            tx_hash=None,
            tx_index=None,
            tx_code=None,
            events=(
                Event(
                    type=SYSTEM_EVENT_PREFIX + "test",
                    attributes=(
                        Attribute(key="message", value=SAMPLE_MESSAGE),
                        Attribute(key="destination", value=destination.name),
                    ),
                ),
            ),
            destination_ids=(destination.id,),
            summary=SAMPLE_MESSAGE,
            created_at=now,
        )
        batch = WriteBatch()
        if self._repos.notifications.add(notice, batch):
            entry = OutboxEntry(notification_id=notice.id, destination_id=destination.id, owner_id=owner_id, due_at=now)
            self._outbox.enqueue([entry], batch)
            self._repos.store.write(batch)
            self._outbox.notify()
        return notice.id

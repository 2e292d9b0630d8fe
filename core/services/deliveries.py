"""Owner-facing delivery operations: list dead letters and attempts, redeliver.

Front doors (API, bots) call these; every call names the owner and never reveals whether an
object exists when it is someone else's (NotFoundError either way).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from core.dispatch.notices import queue_notice
from core.dispatch.outbox import Outbox
from core.errors import NotFoundError, ValidationError
from core.models import DeadLetter, Destination, Notification, OutboxEntry
from core.store.base import WriteBatch
from core.store.repositories import Repositories
from core.support.timeutil import to_millis, utcnow

SAMPLE_TITLE = "Mempools: test notification"
SAMPLE_MESSAGE = "This is a test notification. Notifications for this chat work."

#: `recover` queues at most this many dead letters per call (one write batch)...
RECOVER_MAX_QUEUED = 500
#: ...and walks at most this many of the owner's dead letters (other destinations' included):
#: a call costs a few tens of milliseconds on the loop whatever the backlog, and says `more`.
RECOVER_MAX_SCANNED = 5_000


class Recovery(msgspec.Struct, frozen=True, kw_only=True):
    """What one `recover` call queued, and whether dead letters of the window may remain."""

    queued: int
    more: bool
    next_cursor: str | None  # pass it back to resume (calling again without it also works)


class DeliveryService:
    def __init__(self, repos: Repositories, outbox: Outbox, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.repos = repos
        self.outbox = outbox
        self.clock = clock

    def _notification(self, owner_id: str, notification_id: str) -> Notification:
        notification = self.repos.notifications.get(notification_id)
        if notification is None or notification.owner_id != owner_id:
            raise NotFoundError(f"notification {notification_id} not found")
        return notification

    def _destination(self, owner_id: str, destination_id: str) -> Destination:
        destination = self.repos.destinations.get(destination_id)
        if destination is None or destination.owner_id != owner_id:
            raise NotFoundError(f"destination {destination_id} not found")
        return destination

    async def send_sample(self, owner_id: str, destination: Destination) -> str:
        """`/test` in the bots: a sample notice to `destination`, queued like any notification,
        so it tests the whole path (formatting, rate limits, a blocked bot disabling the chat).
        Returns the notice's id; it shows in the history."""
        if destination.owner_id != owner_id:
            raise NotFoundError(f"destination {destination.id} not found")
        now = self.clock()
        batch = WriteBatch()
        notice = queue_notice(
            self.repos,
            self.outbox,
            batch,
            owner_id=owner_id,
            destination_id=destination.id,
            kind="test",
            title=SAMPLE_TITLE,
            message=SAMPLE_MESSAGE,
            now=now,
            attributes=(("destination", destination.name),),
        )
        if notice is None:
            raise ValidationError("a test notification was just sent; try again in a moment")
        await self.repos.store.commit(batch)
        self.outbox.notify()
        return notice.id

    def pending_of(self, notification_id: str) -> list[OutboxEntry]:
        """The notification's deliveries still in the outbox (one prefix scan of its entries)."""
        return list(self.outbox.entries.scan(notification_id))

    def dead_letters_of(self, notification_id: str) -> list[DeadLetter]:
        return list(self.outbox.dead_letters.scan(notification_id))

    async def redeliver(
        self, owner_id: str, notification_id: str, destination_id: str | None = None
    ) -> list[OutboxEntry]:
        """Queue a notification again, with a fresh retry schedule, due now.

        With `destination_id`: to that destination (it must be the owner's and enabled). Without:
        to every destination holding a dead letter of it, or, when there is none, to every
        destination it was meant for that still exists. An entry already waiting is not queued
        twice; one waiting for a retry (due later) is made due now. Returns the entries queued
        or made due now.
        """
        notification = self._notification(owner_id, notification_id)
        if destination_id is not None:
            targets = [self._destination(owner_id, destination_id)]
        else:
            dead = [d for d in self.outbox.dead_letters.scan(notification_id) if d.owner_id == owner_id]
            ids = [d.destination_id for d in dead] or list(notification.destination_ids)
            targets = [
                d for d in (self.repos.destinations.get(i) for i in ids) if d is not None and d.owner_id == owner_id
            ]
            if not targets:
                raise NotFoundError(f"notification {notification_id} has no destination to redeliver to")
        disabled = [d for d in targets if not d.enabled]
        if disabled:
            names = ", ".join(f'"{d.name}"' for d in disabled)
            raise ValidationError(f"destination {names} is disabled; enable it before redelivering")
        now = self.clock()
        batch = WriteBatch()
        entries: list[OutboxEntry] = []
        hastened: list[OutboxEntry] = []
        for destination in targets:
            self.outbox.dead_letters.delete(notification_id, destination.id, batch=batch)
            waiting = self.outbox.get(notification_id, destination.id)
            if waiting is not None:
                if waiting.due_at > now:  # waiting for a retry: the owner asks for it now
                    hastened.append(self.outbox.hasten(waiting, now, batch))
                continue
            last = next(self.repos.attempts.scan(notification_id, destination.id, reverse=True, limit=1), None)
            entries.append(
                OutboxEntry(
                    notification_id=notification_id,
                    destination_id=destination.id,
                    owner_id=owner_id,
                    due_at=now,
                    attempts_before=last.attempt if last is not None else 0,
                )
            )
        self.outbox.enqueue(entries, batch, notification=notification)
        await self.repos.store.commit(batch)
        self.outbox.notify()
        return entries + hastened

    async def recover(
        self, owner_id: str, destination_id: str, since: datetime, *, cursor: str | None = None
    ) -> Recovery:
        """Queue again every dead letter of the owner's destination that died at or after `since`.

        Oldest first, at most RECOVER_MAX_QUEUED per call and RECOVER_MAX_SCANNED of the owner's
        dead letters walked (`more` says the window may hold more: call again, with `next_cursor`
        or without). A dead letter queued again is lifted in the same batch, so a second call
        does not find it and nothing is queued twice; one whose delivery is already waiting in
        the outbox (redelivered since) is lifted and not counted. Each is queued as `redeliver`
        does it: due now, a fresh retry schedule, its attempt numbering continued.
        """
        destination = self._destination(owner_id, destination_id)
        if not destination.enabled:
            raise ValidationError(f'destination "{destination.name}" is disabled; enable it before recovering')
        if since.tzinfo is None:
            raise ValidationError("since: a time with an offset (RFC 3339), e.g. 2026-01-31T12:00:00Z")
        if since > self.clock():
            raise ValidationError("since: must not be in the future")
        page = self.outbox.dead_letters.page(
            "owner",
            owner_id,
            limit=RECOVER_MAX_QUEUED,
            cursor=cursor,
            reverse=False,
            start=(to_millis(since),),
            keep=lambda d: d.destination_id == destination_id,
            max_scanned=RECOVER_MAX_SCANNED,
        )
        now = self.clock()
        batch = WriteBatch()
        queued = 0
        for dead in page.items:
            notification = self.repos.notifications.get(dead.notification_id)
            if notification is None or notification.owner_id != owner_id:
                continue  # its notification is gone (retention): nothing left to deliver
            self.outbox.dead_letters.delete(dead.notification_id, destination_id, batch=batch)
            if self.outbox.get(dead.notification_id, destination_id) is not None:
                continue  # already queued again
            last = next(self.repos.attempts.scan(dead.notification_id, destination_id, reverse=True, limit=1), None)
            entry = OutboxEntry(
                notification_id=dead.notification_id,
                destination_id=destination_id,
                owner_id=owner_id,
                due_at=now,
                attempts_before=last.attempt if last is not None else 0,
            )
            queued += self.outbox.enqueue([entry], batch, notification=notification)
        if len(batch):
            await self.repos.store.commit(batch)
            self.outbox.notify()
        return Recovery(queued=queued, more=page.next_cursor is not None, next_cursor=page.next_cursor)

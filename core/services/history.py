"""What each account was sent: notifications, delivery attempts, dead letters; and chain gaps."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from core.errors import NotFoundError, ValidationError
from core.models import DeadLetter, DeliveryAttempt, Gap, Notification
from core.services.deliveries import DeliveryService, Recovery
from core.services.guards import is_key
from core.store.collection import Page, decode_cursor, encode_cursor
from core.store.repositories import Repositories
from core.support.timeutil import to_millis

MAX_PAGE = 200


#: Where a notification's deliveries stand (`GET /v1/notifications?outcome=`), from its records:
#: `dead` - a destination holds a dead letter of it (its retries ran out, not redelivered yet);
#: `retrying` - not dead, and a delivery is still in the outbox (before its first attempt or
#: waiting for a retry); `delivered` - neither, and at least one attempt was delivered.
Outcome = Literal["delivered", "retrying", "dead"]

#: A filter that reads more than the index entry (tx hash, height, outcome) walks at most this
#: many index entries per page; a page that stops there has a `next_cursor` to walk on.
FILTER_MAX_SCANNED = 10_000
#: `outcome` reads the notification's outbox entries, dead letters and attempts per record
#: (about 16 us each, measured): fewer per page, so a page blocks the loop ~35 ms at most.
OUTCOME_MAX_SCANNED = 2_000


class PendingDelivery(msgspec.Struct, kw_only=True):
    """A delivery still in the outbox: when its next attempt is due (now or past: any moment)."""

    destination_id: str
    attempts: int  # attempts made so far for this destination, redeliveries included
    next_attempt_at: datetime
    last_error: str | None = None


class NotificationDetail(msgspec.Struct, kw_only=True):
    notification: Notification
    attempts: list[DeliveryAttempt]
    pending: list[PendingDelivery] = []


_GAP_CURSOR = msgspec.json.Decoder(dict[str, Annotated[int, msgspec.Meta(ge=1)]])


def _encode_gap_cursor(below: dict[str, int]) -> str:
    return encode_cursor(msgspec.json.encode(below))


def _decode_gap_cursor(cursor: str) -> dict[str, int]:
    try:
        return _GAP_CURSOR.decode(decode_cursor(cursor))
    except msgspec.DecodeError:
        raise ValidationError("cursor is not valid") from None


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit: between 1 and {MAX_PAGE}")
    return limit


class SubscriptionActivity(msgspec.Struct, frozen=True, kw_only=True):
    """When a subscription last fired and how often (a chat's card shows both)."""

    last_fired: datetime | None
    count: int
    capped: bool = False  # the count stopped at the cap: "at least `count`"


#: Counting walks index keys; past this many a card says "10000+" instead of walking on.
ACTIVITY_COUNT_CAP = 10_000

#: A destination's recent attempts are read off the account's newest notifications (there is no
#: index by destination): at most this many are looked at, so the page costs the same for all.
DESTINATION_ATTEMPTS_SCANNED = 400


class DestinationAttempt(msgspec.Struct, kw_only=True):
    """One delivery attempt to a destination, with what it delivered (the console's list)."""

    notification_id: str
    subscription_name: str
    summary: str | None
    attempt: DeliveryAttempt


class HistoryService:
    """Read-only history (newest first, cursor-paginated) plus redelivery through the outbox.

    `since` is inclusive and `until` exclusive, at millisecond precision of the block time: both
    become bounds of the time-ordered index scan, so a narrow window costs what it returns.
    """

    def __init__(
        self,
        repos: Repositories,
        delivery: DeliveryService,
        *,
        chain_ids: Callable[[], Sequence[str]] = list,
    ) -> None:
        self._repos = repos
        self._delivery = delivery
        self._chain_ids = chain_ids

    def notifications(
        self,
        owner_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        subscription_id: str | None = None,
        chain_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        tx_hash: str | None = None,
        height_from: int | None = None,
        height_to: int | None = None,
        outcome: Outcome | None = None,
    ) -> Page[Notification]:
        """The owner's notifications, newest block time first, matching every filter given.

        Time and subscription are bounds of the index scan; chain, tx hash, heights (both
        inclusive) and outcome are checked per record, at most FILTER_MAX_SCANNED per page.
        """
        _check_limit(limit)
        if height_from is not None and height_to is not None and height_from > height_to:
            raise ValidationError("height_from: must not be greater than height_to")
        wanted_tx = tx_hash.upper() if tx_hash is not None else None
        start = (to_millis(since),) if since is not None else None
        stop = (to_millis(until),) if until is not None else None
        if since is not None and until is not None and since >= until:
            return Page(items=[], next_cursor=None)
        per_record = chain_id is not None or wanted_tx is not None or outcome is not None
        per_record = per_record or height_from is not None or height_to is not None
        max_scanned = OUTCOME_MAX_SCANNED if outcome is not None else FILTER_MAX_SCANNED

        def keep(n: Notification) -> bool:
            return (
                n.owner_id == owner_id
                and (chain_id is None or n.chain_id == chain_id)
                and (wanted_tx is None or n.tx_hash == wanted_tx)
                and (height_from is None or n.height >= height_from)
                and (height_to is None or n.height <= height_to)
                and (outcome is None or self.outcome_of(n) == outcome)
            )

        if subscription_id is not None:
            # A deleted subscription's notifications stay in the history, and stay findable by
            # its id; `keep` still shows only the caller's own, whoever the id belonged to.
            sub = self._repos.subscriptions.get(subscription_id) if is_key(subscription_id) else None
            if not is_key(subscription_id) or (sub is not None and sub.owner_id != owner_id):
                raise NotFoundError("subscription not found")
            return self._repos.notifications.page(
                "subscription",
                subscription_id,
                limit=limit,
                cursor=cursor,
                start=start,
                stop=stop,
                keep=keep,
                max_scanned=max_scanned,
            )
        return self._repos.notifications.page(
            "owner",
            owner_id,
            limit=limit,
            cursor=cursor,
            start=start,
            stop=stop,
            keep=keep if per_record else None,
            max_scanned=max_scanned,
        )

    def outcome_of(self, notification: Notification) -> Outcome | None:
        """`Outcome` of a notification (None: no delivery settled or waiting, e.g. only skipped)."""
        nid = notification.id
        if any(d.owner_id == notification.owner_id for d in self._delivery.dead_letters_of(nid)):
            return "dead"
        if self._delivery.pending_of(nid):
            return "retrying"
        if any(a.outcome == "delivered" for a in self._repos.attempts.of_notification(nid)):
            return "delivered"
        return None

    def activity(self, owner_id: str, subscription_id: str, *, cap: int = ACTIVITY_COUNT_CAP) -> SubscriptionActivity:
        """Last fired and count of the owner's subscription; NotFoundError for another's."""
        sub = self._repos.subscriptions.get(subscription_id) if is_key(subscription_id) else None
        if sub is None or sub.owner_id != owner_id:
            raise NotFoundError("subscription not found")
        newest, count = self._repos.notifications.activity_of_subscription(subscription_id, cap=cap)
        return SubscriptionActivity(
            last_fired=newest.time if newest is not None else None, count=count, capped=count >= cap
        )

    def notification(self, owner_id: str, notification_id: str) -> NotificationDetail:
        found = self._repos.notifications.get(notification_id) if is_key(notification_id) else None
        if found is None or found.owner_id != owner_id:
            raise NotFoundError("notification not found")
        pending = [
            PendingDelivery(
                destination_id=e.destination_id,
                attempts=e.attempts_before + e.attempts,
                next_attempt_at=e.due_at,
                last_error=e.last_error,
            )
            for e in self._delivery.pending_of(found.id)
            if e.owner_id == owner_id
        ]
        return NotificationDetail(
            notification=found, attempts=self._repos.attempts.of_notification(found.id), pending=pending
        )

    def destination_attempts(
        self, owner_id: str, destination_id: str, *, limit: int = 20, scanned: int = DESTINATION_ATTEMPTS_SCANNED
    ) -> list[DestinationAttempt]:
        """The newest attempts to the owner's destination, newest first, from its `scanned` newest
        notifications; NotFoundError for another account's destination (as for a missing one)."""
        dest = self._repos.destinations.get(destination_id) if is_key(destination_id) else None
        if dest is None or dest.owner_id != owner_id:
            raise NotFoundError("destination not found")
        found: list[DestinationAttempt] = []
        cursor: str | None = None
        seen = 0
        while seen < scanned:
            batch = self.notifications(owner_id, limit=min(MAX_PAGE, scanned - seen), cursor=cursor)
            seen += len(batch.items)
            for n in batch.items:
                if destination_id not in n.destination_ids:
                    continue
                found.extend(
                    DestinationAttempt(
                        notification_id=n.id, subscription_name=n.subscription_name, summary=n.summary, attempt=a
                    )
                    for a in self._repos.attempts.of_notification(n.id)
                    if a.destination_id == destination_id
                )
            if batch.next_cursor is None or not batch.items:
                break
            cursor = batch.next_cursor
        found.sort(key=lambda f: f.attempt.at, reverse=True)
        return found[:limit]

    def of_ids(self, owner_id: str, notification_ids: Sequence[str]) -> dict[str, Notification]:
        """The owner's notifications among `notification_ids` (a page of dead letters names
        them): one point read each; unknown ids and other accounts' are left out."""
        found: dict[str, Notification] = {}
        for nid in notification_ids:
            n = self._repos.notifications.get(nid) if is_key(nid) else None
            if n is not None and n.owner_id == owner_id:
                found[nid] = n
        return found

    def dead_letters(self, owner_id: str, *, limit: int = 50, cursor: str | None = None) -> Page[DeadLetter]:
        _check_limit(limit)
        return self._repos.dead_letters.page_of_owner(owner_id, limit=limit, cursor=cursor)

    def gaps(self, *, chain_id: str | None = None, limit: int = 100, cursor: str | None = None) -> Page[Gap]:
        """Heights a chain's endpoints could not serve, newest first; gaps are public per chain.

        Each chain's gaps are read newest height first and merged by the time they were
        recorded. The cursor says, per chain, the last height already returned: resuming is a
        seek in each chain's range, so a page costs what it returns, whatever the total.
        """
        _check_limit(limit)
        if chain_id is not None and not is_key(chain_id):
            return Page(items=[], next_cursor=None)
        chains = [chain_id] if chain_id is not None else list(self._chain_ids())
        below = _decode_gap_cursor(cursor) if cursor is not None else {}
        streams = [self._gaps_below(cid, below.get(cid)) for cid in chains]
        merged = heapq.merge(*streams, key=lambda g: g.recorded_at, reverse=True)
        items = list(itertools.islice(merged, limit + 1))
        if len(items) <= limit:
            return Page(items=items, next_cursor=None)
        items = items[:limit]
        for gap in items:
            below[gap.chain_id] = gap.height  # newest first: the last one seen is the lowest
        return Page(items=items, next_cursor=_encode_gap_cursor(below))

    def _gaps_below(self, chain_id: str, height: int | None) -> Iterator[Gap]:
        if height is None:
            return self._repos.gaps.scan(chain_id, reverse=True)
        return self._repos.gaps.scan_below(chain_id, height)

    async def redeliver(self, owner_id: str, notification_id: str, destination_id: str | None = None) -> list[str]:
        """Queue the notification again (core.dispatch's redelivery); returns the destinations queued.

        Without `destination_id`: to the destinations holding a dead letter of it, else to all of
        its destinations that still exist. A delivery already waiting is not queued twice: when
        it waits for a retry, it is made due now (and counts as queued).
        """
        if not is_key(notification_id) or (destination_id is not None and not is_key(destination_id)):
            raise NotFoundError("notification not found")
        if destination_id is not None:
            found = self._repos.notifications.get(notification_id)
            if found is None or found.owner_id != owner_id:
                raise NotFoundError("notification not found")
            if destination_id not in found.destination_ids:
                raise ValidationError(f"destination_id: {destination_id!r} did not receive this notification")
        entries = await self._delivery.redeliver(owner_id, notification_id, destination_id)
        return [e.destination_id for e in entries]

    async def recover(
        self, owner_id: str, destination_id: str, since: datetime, *, cursor: str | None = None
    ) -> Recovery:
        """Queue again the destination's dead letters since `since` (`DeliveryService.recover`)."""
        if not is_key(destination_id):
            raise NotFoundError("destination not found")
        return await self._delivery.recover(owner_id, destination_id, since, cursor=cursor)

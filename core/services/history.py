"""What each account was sent: notifications, delivery attempts, dead letters; and chain gaps."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Annotated

import msgspec

from core.errors import NotFoundError, ValidationError
from core.models import DeadLetter, DeliveryAttempt, Gap, Notification
from core.services.deliveries import DeliveryService
from core.services.guards import is_key
from core.store.collection import Page, decode_cursor, encode_cursor
from core.store.repositories import Repositories
from core.support.timeutil import to_millis

MAX_PAGE = 200


class NotificationDetail(msgspec.Struct, kw_only=True):
    notification: Notification
    attempts: list[DeliveryAttempt]


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
    ) -> Page[Notification]:
        _check_limit(limit)
        start = (to_millis(since),) if since is not None else None
        stop = (to_millis(until),) if until is not None else None
        if since is not None and until is not None and since >= until:
            return Page(items=[], next_cursor=None)

        def keep(n: Notification) -> bool:
            return n.owner_id == owner_id and (chain_id is None or n.chain_id == chain_id)

        if subscription_id is not None:
            # A deleted subscription's notifications stay in the history, and stay findable by
            # its id; `keep` still shows only the caller's own, whoever the id belonged to.
            sub = self._repos.subscriptions.get(subscription_id) if is_key(subscription_id) else None
            if not is_key(subscription_id) or (sub is not None and sub.owner_id != owner_id):
                raise NotFoundError("subscription not found")
            return self._repos.notifications.page(
                "subscription", subscription_id, limit=limit, cursor=cursor, start=start, stop=stop, keep=keep
            )
        return self._repos.notifications.page(
            "owner",
            owner_id,
            limit=limit,
            cursor=cursor,
            start=start,
            stop=stop,
            keep=keep if chain_id is not None else None,
        )

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
        return NotificationDetail(notification=found, attempts=self._repos.attempts.of_notification(found.id))

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
        its destinations that still exist. Deliveries already waiting are not queued twice.
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

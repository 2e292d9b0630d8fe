"""History: notifications (newest first), their delivery attempts, redelivery, dead letters, gaps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, get_args

from litestar import get, post
from litestar.params import QueryParameter

from api.deps import CallerDep, HistoryDep, PathId
from api.pagination import Cursor, DeadLetterPage, GapPage, Limit, NotificationPage
from api.problems import problems
from api.schemas import RedeliverOut
from core.errors import ValidationError
from core.services.history import NotificationDetail, Outcome

TAGS = ["history"]

#: Heights are CometBFT int64s; past this a value is a typo, not a height.
MAX_HEIGHT = 2**63 - 1
_HEX = frozenset("0123456789abcdefABCDEF")
_OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)

# These filters arrive as text and are checked here, so that a bad value is a 422 problem that
# names the parameter (the framework's own validation answers 400); `schema_extra` keeps the
# OpenAPI document saying what they really accept.
Height = Annotated[
    str | None,
    QueryParameter(
        description="Block height, inclusive.",
        schema_extra={"type": "integer", "minimum": 1, "maximum": MAX_HEIGHT},
    ),
]
TxHash = Annotated[
    str | None,
    QueryParameter(
        description="The transaction's hash: 64 hex digits, either case.",
        schema_extra={"type": "string", "pattern": "^[0-9A-Fa-f]{64}$"},
    ),
]
OutcomeParam = Annotated[
    str | None,
    QueryParameter(
        description="dead: a dead letter of it waits; retrying: a delivery is still queued (first "
        "attempt or a retry); delivered: neither, and an attempt was delivered.",
        schema_extra={"type": "string", "enum": list(_OUTCOMES)},
    ),
]


def _height(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not 1 <= int(raw) <= MAX_HEIGHT:
        raise ValidationError(f"{name}: a block height, a whole number from 1 to {MAX_HEIGHT}")
    return int(raw)


def _tx_hash(raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw) != 64 or not _HEX.issuperset(raw):
        raise ValidationError("tx_hash: 64 hex digits")
    return raw


def _outcome(raw: str | None) -> Outcome | None:
    if raw is None:
        return None
    for outcome in _OUTCOMES:
        if raw == outcome:
            return outcome
    raise ValidationError(f"outcome: one of {', '.join(_OUTCOMES)}")


def _utc(moment: datetime | None) -> datetime | None:
    """A time without an offset is read as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@get("/v1/notifications", tags=TAGS, responses=problems(401, 404, 422))
async def list_notifications(
    caller: CallerDep,
    history: HistoryDep,
    cursor: Cursor = None,
    limit: Limit = 50,
    subscription_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
    chain_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
    since: Annotated[datetime | None, QueryParameter(description="Block time from (inclusive), RFC 3339.")] = None,
    until: Annotated[datetime | None, QueryParameter(description="Block time up to (exclusive), RFC 3339.")] = None,
    outcome: OutcomeParam = None,
    tx_hash: TxHash = None,
    height_from: Height = None,
    height_to: Height = None,
) -> NotificationPage:
    """Notifications of the account, newest block time first; follow `next_cursor` for more.

    Filters combine. A page may hold fewer than `limit` items and still have a `next_cursor`
    (a per-record filter walks a bounded stretch of the history per page)."""
    page = history.notifications(
        caller.account_id,
        limit=limit,
        cursor=cursor,
        subscription_id=subscription_id,
        chain_id=chain_id,
        since=_utc(since),
        until=_utc(until),
        tx_hash=_tx_hash(tx_hash),
        height_from=_height("height_from", height_from),
        height_to=_height("height_to", height_to),
        outcome=_outcome(outcome),
    )
    return NotificationPage(items=page.items, next_cursor=page.next_cursor)


@get("/v1/notifications/{notification_id:str}", tags=TAGS, responses=problems(401, 404))
async def get_notification(notification_id: PathId, caller: CallerDep, history: HistoryDep) -> NotificationDetail:
    """One notification with every delivery attempt, and its deliveries still queued (`pending`,
    each with `next_attempt_at`)."""
    return history.notification(caller.account_id, notification_id)


@post(
    "/v1/notifications/{notification_id:str}/redeliver",
    tags=TAGS,
    status_code=202,
    responses=problems(401, 404, 422),
)
async def redeliver_notification(
    notification_id: PathId,
    caller: CallerDep,
    history: HistoryDep,
    destination_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
) -> RedeliverOut:
    """Queue it again for its destinations (or only `destination_id`); dead letters are lifted,
    and a delivery waiting for a retry is made due now."""
    queued = await history.redeliver(caller.account_id, notification_id, destination_id)
    return RedeliverOut(notification_id=notification_id, queued_destination_ids=queued)


@get("/v1/dead-letters", tags=TAGS, responses=problems(401, 422))
async def list_dead_letters(
    caller: CallerDep, history: HistoryDep, cursor: Cursor = None, limit: Limit = 50
) -> DeadLetterPage:
    """Deliveries whose retries ran out, newest first; redeliver them through their notification."""
    page = history.dead_letters(caller.account_id, limit=limit, cursor=cursor)
    return DeadLetterPage(items=page.items, next_cursor=page.next_cursor)


@get("/v1/gaps", tags=TAGS, responses=problems(401, 422))
async def list_gaps(
    caller: CallerDep,
    history: HistoryDep,
    chain_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> GapPage:
    """Heights no RPC endpoint could serve (per chain, the same for every account), newest first."""
    page = history.gaps(chain_id=chain_id, limit=limit, cursor=cursor)
    return GapPage(items=page.items, next_cursor=page.next_cursor)


HANDLERS = [list_notifications, get_notification, redeliver_notification, list_dead_letters, list_gaps]

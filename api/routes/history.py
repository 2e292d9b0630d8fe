"""History: notifications (newest first), their delivery attempts, redelivery, dead letters, gaps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Response, get, post
from litestar.params import QueryParameter

from api.deps import CallerDep, HistoryDep, PathId, RecordJsonDep
from api.history_filters import MAX_HEIGHT, OUTCOMES, as_utc, parse_height, parse_outcome, parse_tx_hash
from api.page_json import encoded_json
from api.pagination import Cursor, DeadLetterPage, GapPage, Limit, NotificationPage
from api.problems import problems
from api.schemas import RedeliverOut
from core.services.history import NotificationDetail

TAGS = ["history"]


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
        schema_extra={"type": "string", "enum": list(OUTCOMES)},
    ),
]


@get("/v1/notifications", tags=TAGS, responses=problems(401, 404, 422))
async def list_notifications(
    caller: CallerDep,
    history: HistoryDep,
    record_json: RecordJsonDep,
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
) -> Response[NotificationPage]:
    """Notifications of the account, newest block time first; follow `next_cursor` for more.

    Filters combine. A page may hold fewer than `limit` items and still have a `next_cursor`
    (a per-record filter walks a bounded stretch of the history per page)."""
    # The body is the page's JSON joined from each record's, encoded once (api/page_json.py).
    page = history.notifications(
        caller.account_id,
        limit=limit,
        cursor=cursor,
        subscription_id=subscription_id,
        chain_id=chain_id,
        since=as_utc(since),
        until=as_utc(until),
        tx_hash=parse_tx_hash(tx_hash),
        height_from=parse_height("height_from", height_from),
        height_to=parse_height("height_to", height_to),
        outcome=parse_outcome(outcome),
    )
    return encoded_json(record_json.page(page.items, page.next_cursor))


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

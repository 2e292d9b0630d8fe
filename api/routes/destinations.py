"""Destinations: webhooks made here, Telegram chats and Discord channels made by the bots."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import delete, get, patch, post
from litestar.params import JSONBody
from msgspec import UnsetType

from api.deps import CallerDep, DestinationsDep, HistoryDep, PathId
from api.pagination import DestinationPage
from api.problems import problems
from api.schemas import DestinationCreate, DestinationOut, DestinationPatch, RecoverOut, RecoverRequest, destination_out
from core.dispatch.webhook import TestEventResult
from core.errors import ValidationError
from core.models import QuietHours

TAGS = ["destinations"]


@post("/v1/destinations", tags=TAGS, responses=problems(401, 403, 422))
async def create_destination(
    data: JSONBody[DestinationCreate], caller: CallerDep, destinations: DestinationsDep
) -> DestinationOut:
    """A webhook. The answer carries its `whsec_` signing secret, this once."""
    dest = await destinations.create_webhook(caller.account_id, data.url, name=data.name)
    return destination_out(dest, with_secret=True)


@get("/v1/destinations", tags=TAGS, responses=problems(401))
async def list_destinations(caller: CallerDep, destinations: DestinationsDep) -> DestinationPage:
    """Every destination of the account, in one page (secrets are never listed)."""
    return DestinationPage(items=[destination_out(d) for d in destinations.list(caller.account_id)], next_cursor=None)


@get("/v1/destinations/{destination_id:str}", tags=TAGS, responses=problems(401, 404))
async def get_destination(destination_id: PathId, caller: CallerDep, destinations: DestinationsDep) -> DestinationOut:
    return destination_out(destinations.get(caller.account_id, destination_id))


@patch("/v1/destinations/{destination_id:str}", tags=TAGS, responses=problems(401, 404, 422))
async def update_destination(
    destination_id: PathId, data: JSONBody[DestinationPatch], caller: CallerDep, destinations: DestinationsDep
) -> DestinationOut:
    """Rename, enable/disable, change the URL, `rotate_secret` (the old secret stays valid 24 h),
    or set a chat's `quiet_hours` (null: off)."""
    window = data.quiet_hours
    dest = await destinations.update(
        caller.account_id,
        destination_id,
        name=data.name,
        enabled=data.enabled,
        url=data.url,
        quiet_hours=window
        if isinstance(window, UnsetType) or window is None
        else QuietHours(start=window.start, end=window.end, timezone=window.timezone),
    )
    if data.rotate_secret:
        dest = await destinations.rotate_secret(caller.account_id, destination_id)
    return destination_out(dest, with_secret=data.rotate_secret)


@delete("/v1/destinations/{destination_id:str}", tags=TAGS, status_code=204, responses=problems(401, 404))
async def delete_destination(destination_id: PathId, caller: CallerDep, destinations: DestinationsDep) -> None:
    """Delete it; subscriptions that used it keep their other destinations."""
    await destinations.delete(caller.account_id, destination_id)


@post(
    "/v1/destinations/{destination_id:str}/test",
    tags=TAGS,
    status_code=200,
    responses=problems(401, 404, 422, 503),
)
async def test_destination(destination_id: PathId, caller: CallerDep, destinations: DestinationsDep) -> TestEventResult:
    """Send a signed test event now and report what the endpoint answered."""
    return await destinations.send_test(caller.account_id, destination_id)


def _since(raw: str | None) -> datetime:
    """`since` of a recover request: an RFC 3339 time (UTC when it has no offset)."""
    if raw is None:
        raise ValidationError("since: required, an RFC 3339 time such as 2026-01-31T12:00:00Z")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationError("since: not an RFC 3339 time (e.g. 2026-01-31T12:00:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@post(
    "/v1/destinations/{destination_id:str}/recover",
    tags=TAGS,
    status_code=200,
    responses=problems(401, 404, 422),
)
async def recover_destination(
    destination_id: PathId, data: JSONBody[RecoverRequest], caller: CallerDep, history: HistoryDep
) -> RecoverOut:
    """Queue again every dead letter of this destination since `since`, oldest first, at most
    500 per call: `more` says to call again (with `cursor`: `next_cursor`, or without)."""
    done = await history.recover(caller.account_id, destination_id, _since(data.since), cursor=data.cursor)
    return RecoverOut(queued=done.queued, more=done.more, next_cursor=done.next_cursor)


HANDLERS = [
    create_destination,
    list_destinations,
    get_destination,
    update_destination,
    delete_destination,
    test_destination,
    recover_destination,
]

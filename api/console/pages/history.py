"""History: the account's notifications (filtered, cursor pages) and one notification's page
(its events, the exact webhook payload, every attempt, redelivery).

The list reads one page through `HistoryService.notifications`, as `GET /v1/notifications`
does, plus each row's outcome (a few point reads: dead letter, waiting delivery, attempts), so
a huge history costs what one page costs. Filters are a GET
form: a filtered view is a URL one can share. A bad value is said beside its field (422), with
the API's wording (api/history_filters.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from api.console.forms import read_form
from api.console.render import page
from api.console.session import ViewerDep
from api.deps import ChainsDep, DestinationsDep, HistoryDep, PathId, SubscriptionsDep
from api.history_filters import OUTCOMES, as_utc, parse_height, parse_outcome, parse_tx_hash
from core.dispatch.payload import webhook_body
from core.errors import NotFoundError, ValidationError
from core.models import Destination, Notification, Subscription
from core.services.history import Outcome
from core.support.timeutil import utcnow

PAGE_SIZE = 50
#: The quick choices of the time filter: `last=<key>` means since that long ago.
QUICK_RANGES: dict[str, tuple[str, timedelta]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
}
#: The filter fields, in the form's order (each a query parameter of the page).
FILTER_FIELDS = (
    "subscription_id",
    "chain_id",
    "last",
    "since",
    "until",
    "outcome",
    "tx_hash",
    "height_from",
    "height_to",
)
_MAX_FIELD = 128


class HistoryFilters(msgspec.Struct, kw_only=True):
    """The filters as `HistoryService.notifications` takes them."""

    subscription_id: str | None = None
    chain_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    outcome: Outcome | None = None
    tx_hash: str | None = None
    height_from: int | None = None
    height_to: int | None = None


def _given(value: str | None) -> str | None:
    """A form field as sent: an empty field is no filter."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _time(name: str, raw: str | None) -> datetime | None:
    """A `datetime-local` value (`2026-01-31T12:00`, read as UTC) or an RFC 3339 time."""
    if raw is None:
        return None
    try:
        return as_utc(datetime.fromisoformat(raw))
    except ValueError:
        raise ValidationError(f"{name}: not a time (e.g. 2026-01-31T12:00, UTC)") from None


def parse_filters(raw: Mapping[str, str | None], now: datetime) -> tuple[HistoryFilters, dict[str, str]]:
    """The filters, and a message per field whose value is not valid."""
    errors: dict[str, str] = {}
    out = HistoryFilters()

    def check(field: str, parse: Any) -> Any:
        try:
            return parse()
        except ValidationError as exc:
            errors[field] = str(exc)
            return None

    for field, value in raw.items():
        if value is not None and len(value) > _MAX_FIELD:
            errors[field] = f"{field}: at most {_MAX_FIELD} characters"
    if errors:
        return out, errors
    out.subscription_id = raw.get("subscription_id")
    out.chain_id = raw.get("chain_id")
    last = raw.get("last")
    if last is not None and last != "custom":
        if last not in QUICK_RANGES:
            errors["last"] = f"last: one of {', '.join(QUICK_RANGES)} or custom"
        else:
            out.since = now - QUICK_RANGES[last][1]
    else:
        out.since = check("since", lambda: _time("since", raw.get("since")))
        out.until = check("until", lambda: _time("until", raw.get("until")))
    out.outcome = check("outcome", lambda: parse_outcome(raw.get("outcome")))
    out.tx_hash = check("tx_hash", lambda: parse_tx_hash(raw.get("tx_hash")))
    out.height_from = check("height_from", lambda: parse_height("height_from", raw.get("height_from")))
    out.height_to = check("height_to", lambda: parse_height("height_to", raw.get("height_to")))
    return out, errors


def _field_of(message: str) -> str | None:
    """The filter a service's message is about (`height_from: ...`)."""
    name = message.split(":", 1)[0]
    return name if name in FILTER_FIELDS else None


def _subscription_choices(
    current: list[Subscription], rows: list[Notification], selected: str | None
) -> list[tuple[str, str]]:
    """(id, label) of the select: the account's subscriptions, then deleted ones the page shows
    (the history keeps their name), and the selected one if it is neither."""
    choices = [(s.id, s.name) for s in current]
    known = {s.id for s in current}
    for n in rows:
        if n.subscription_id not in known:
            known.add(n.subscription_id)
            choices.append((n.subscription_id, f"{n.subscription_name} (deleted)"))
    if selected is not None and selected not in known:
        choices.append((selected, f"{selected} (deleted)"))
    return choices


@get("/history")
async def history_page(
    viewer: ViewerDep,
    history: HistoryDep,
    subscriptions: SubscriptionsDep,
    chains: ChainsDep,
    cursor: str | None = None,
    subscription_id: str | None = None,
    chain_id: str | None = None,
    last: str | None = None,
    since: str | None = None,
    until: str | None = None,
    outcome: str | None = None,
    tx_hash: str | None = None,
    height_from: str | None = None,
    height_to: str | None = None,
) -> Template:
    raw = {
        "subscription_id": _given(subscription_id), "chain_id": _given(chain_id), "last": _given(last),
        "since": _given(since), "until": _given(until), "outcome": _given(outcome), "tx_hash": _given(tx_hash),
        "height_from": _given(height_from), "height_to": _given(height_to),
    }  # fmt: skip
    cursor = _given(cursor)
    filters, errors = parse_filters(raw, utcnow())
    rows: list[Notification] = []
    next_cursor: str | None = None
    problem: str | None = None
    if not errors:
        try:
            found = history.notifications(
                viewer.account_id, limit=PAGE_SIZE, cursor=cursor,
                **msgspec.structs.asdict(filters),
            )  # fmt: skip
            rows, next_cursor = found.items, found.next_cursor
        except NotFoundError:
            pass  # another account's subscription: nothing, as for an id that never existed
        except ValidationError as exc:
            field = _field_of(str(exc))
            if field is None:
                problem = str(exc)  # the cursor
            else:
                errors[field] = str(exc)
    status = 422 if errors or problem else 200
    given = {k: v for k, v in raw.items() if v is not None}
    return page(
        "history/list.html",
        viewer,
        section="history",
        title="History",
        status_code=status,
        rows=rows,
        row_outcomes={n.id: history.outcome_of(n) for n in rows},
        filters=raw,
        errors=errors,
        problem=problem,
        filtered=bool(given),
        live=not given and cursor is None and status == 200,
        older_url=f"/console/history?{urlencode(given | {'cursor': next_cursor})}" if next_cursor else None,
        first_url=f"/console/history?{urlencode(given)}" if cursor else None,
        subscription_choices=_subscription_choices(subscriptions.list(viewer.account_id), rows, raw["subscription_id"]),
        chains=chains.list(),
        outcomes=OUTCOMES,
        quick_ranges=QUICK_RANGES,
    )


def _names(destinations: list[Destination]) -> dict[str, str]:
    return {d.id: d.name for d in destinations}


@get("/history/{notification_id:str}")
async def notification_page(
    notification_id: PathId,
    viewer: ViewerDep,
    history: HistoryDep,
    chains: ChainsDep,
    destinations: DestinationsDep,
    queued: int | None = None,
) -> Template:
    detail = history.notification(viewer.account_id, notification_id)  # another account's: 404
    n = detail.notification
    chain = chains.find(n.chain_id)
    payload = msgspec.json.format(webhook_body(n, chain), indent=2).decode()
    return page(
        "history/notification.html",
        viewer,
        section="history",
        title=n.summary or "Notification",
        n=n,
        chain=chain,
        tx_url=chain.tx_url(n.tx_hash) if chain is not None and n.tx_hash else None,
        payload=payload,
        attempts=detail.attempts,
        pending=detail.pending,
        destination_names=_names(destinations.list(viewer.account_id)),
        queued=queued,
    )


@post("/history/{notification_id:str}/redeliver")
async def redeliver(
    request: Request[Any, Any, Any],
    notification_id: PathId,
    viewer: ViewerDep,
    history: HistoryDep,
    destinations: DestinationsDep,
) -> Template | Response[Any]:
    """The same call as `POST /v1/notifications/{id}/redeliver`; answered inline for htmx."""
    form = await read_form(request)
    destination_id = form.get("destination_id")
    destination_id = _given(destination_id) if isinstance(destination_id, str) else None
    queued = await history.redeliver(viewer.account_id, notification_id, destination_id)
    if request.headers.get("hx-request") != "true":
        return Redirect(f"/console/history/{notification_id}?queued={len(queued)}", status_code=303)
    names = _names(destinations.list(viewer.account_id))
    return page(
        "history/_redelivered.html",
        viewer,
        title="Redelivered",
        queued=[names.get(d, d) for d in queued],
    )


HANDLERS = [history_page, notification_page, redeliver]

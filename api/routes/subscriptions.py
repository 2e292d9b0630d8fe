"""Subscriptions: queries (or a preset) on one chain, delivered to the account's destinations."""

from __future__ import annotations

from typing import Annotated

from litestar import delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from api.deps import CallerDep, PathId, SubscriptionsDep
from api.pagination import SubscriptionPage
from api.problems import problems
from api.schemas import SubscriptionCreate, SubscriptionOut, SubscriptionPatch, preset_params

TAGS = ["subscriptions"]


@post("/v1/subscriptions", tags=TAGS, responses=problems(401, 403, 422))
async def create_subscription(
    data: JSONBody[SubscriptionCreate], caller: CallerDep, subscriptions: SubscriptionsDep
) -> SubscriptionOut:
    """From `queries`, or from a `preset` with `params`. A bad query is a 422 with its `position`."""
    sub = await subscriptions.create(
        caller.account_id,
        chain_id=data.chain_id,
        name=data.name,
        queries=data.queries,
        preset=data.preset,
        params=preset_params(data.params),
        destination_ids=data.destination_ids,
        enabled=data.enabled,
        silent=data.silent,
    )
    return SubscriptionOut.of(sub)


@get("/v1/subscriptions", tags=TAGS, responses=problems(401))
async def list_subscriptions(
    caller: CallerDep,
    subscriptions: SubscriptionsDep,
    chain_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
    enabled: FromQuery[bool | None] = None,
) -> SubscriptionPage:
    """The account's subscriptions, optionally only one chain's, or only enabled/paused ones (one page)."""
    found = subscriptions.list(caller.account_id, chain_id=chain_id, enabled=enabled)
    return SubscriptionPage(items=[SubscriptionOut.of(s) for s in found], next_cursor=None)


@get("/v1/subscriptions/{subscription_id:str}", tags=TAGS, responses=problems(401, 404))
async def get_subscription(
    subscription_id: PathId, caller: CallerDep, subscriptions: SubscriptionsDep
) -> SubscriptionOut:
    return SubscriptionOut.of(subscriptions.get(caller.account_id, subscription_id))


@patch("/v1/subscriptions/{subscription_id:str}", tags=TAGS, responses=problems(401, 404, 422))
async def update_subscription(
    subscription_id: PathId,
    data: JSONBody[SubscriptionPatch],
    caller: CallerDep,
    subscriptions: SubscriptionsDep,
) -> SubscriptionOut:
    """Change name, queries, destinations, sound (`silent`), or pause (`enabled: false`) and resume."""
    sub = await subscriptions.update(
        caller.account_id,
        subscription_id,
        name=data.name,
        queries=data.queries,
        destination_ids=data.destination_ids,
        enabled=data.enabled,
        silent=data.silent,
    )
    return SubscriptionOut.of(sub)


@delete("/v1/subscriptions/{subscription_id:str}", tags=TAGS, status_code=204, responses=problems(401, 404))
async def delete_subscription(subscription_id: PathId, caller: CallerDep, subscriptions: SubscriptionsDep) -> None:
    """Delete it; its notifications stay in the history."""
    await subscriptions.delete(caller.account_id, subscription_id)


HANDLERS = [create_subscription, list_subscriptions, get_subscription, update_subscription, delete_subscription]

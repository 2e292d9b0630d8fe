"""Subscriptions: an account's queries on one chain, and where their matches are delivered.

Every change is committed to the store; the live matcher follows the store's writes
(`core/services/matcher_feed.py`), so a change takes effect at the next block without a restart,
on whichever node it was made.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core.errors import NotFoundError, QuotaExceededError, ValidationError
from core.ids import new_id
from core.models import Subscription
from core.monitor.models import ValidatorWatch, Watch
from core.query.parser import normalize
from core.query.presets import MONITOR_PRESETS, get_preset
from core.services.chains import ChainService
from core.services.clock import Clock, utcnow
from core.services.destinations import DestinationService
from core.services.guards import is_key
from core.services.validators import ValidatorDirectory, ValidatorIdentity, resolved_watch
from core.store.repositories import Repositories

MAX_QUERIES = 20
MAX_NAME = 100


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise ValidationError(f"name: 1 to {MAX_NAME} printable characters")
    return name


def normalise_queries(queries: list[str]) -> list[str]:
    """Each query parsed and in canonical form; a `QuerySyntaxError` says where the first bad one fails."""
    if not queries:
        raise ValidationError("queries: at least one query is required")
    if len(queries) > MAX_QUERIES:
        raise ValidationError(f"queries: at most {MAX_QUERIES} queries per subscription")
    return list(dict.fromkeys(normalize(q) for q in queries))


class SubscriptionService:
    """CRUD of subscriptions, owner-checked and quota-checked."""

    def __init__(
        self,
        repos: Repositories,
        chains: ChainService,
        destinations: DestinationService,
        *,
        max_per_account: int,
        validators: ValidatorDirectory | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self._repos = repos
        self._chains = chains
        self._destinations = destinations
        self._validators = validators or ValidatorDirectory(lambda _chain_id: None)
        self.max_per_account = max_per_account
        self._clock = clock

    async def create(
        self,
        owner_id: str,
        *,
        chain_id: str,
        name: str,
        queries: list[str] | None = None,
        preset: str | None = None,
        params: Mapping[str, Any] | None = None,
        destination_ids: list[str] | None = None,
        enabled: bool = True,
        silent: bool = False,
    ) -> Subscription:
        """From raw `queries`, or from a `preset` with its `params` (exactly one of the two).

        Without `destination_ids` it delivers to all of the account's enabled destinations (the
        returned subscription lists them); `ValidationError` if there are none.
        """
        chain = self._chains.require(chain_id)
        clean_name = _check_name(name)
        post_filter = None
        monitor: Watch | None = None
        stored_params: dict[str, str] | None = None
        if (queries is None) == (preset is None):
            raise ValidationError("give either queries or a preset (with params), not both")
        if preset is not None:
            get_preset(preset)  # an unknown preset is refused before anything is asked of the chain
            stored_params, found = await self._validators.normalise_params(preset, params or {}, chain)
            result = get_preset(preset).compile(stored_params, chain)
            queries, post_filter, monitor = result.queries, result.post_filter, result.monitor
            if isinstance(monitor, ValidatorWatch):
                monitor = self._identified(monitor, found)
                stored_params["validator"] = monitor.operator or monitor.consensus
        elif params:
            raise ValidationError("params: only used with a preset")
        assert queries is not None
        normalised = [] if preset in MONITOR_PRESETS else normalise_queries(queries)
        dest_ids = self._destinations_for(owner_id, destination_ids)
        if len(self._repos.subscriptions.of_owner(owner_id)) >= self.max_per_account:
            raise QuotaExceededError(f"at most {self.max_per_account} subscriptions per account")
        now = self._clock()
        sub = Subscription(
            id=new_id("sub"),
            owner_id=owner_id,
            chain_id=chain.id,
            name=clean_name,
            queries=normalised,
            destination_ids=dest_ids,
            enabled=enabled,
            silent=silent,
            preset=preset,
            params=stored_params,
            post_filter=post_filter,
            monitor=monitor,
            created_at=now,
            updated_at=now,
        )
        await self._repos.subscriptions.save(sub)
        return sub

    @staticmethod
    def _identified(watch: ValidatorWatch, found: ValidatorIdentity | None) -> ValidatorWatch:
        """The watch with the validator the chain knows; a consensus address alone still counts
        missed blocks when the chain cannot be asked, an operator address alone cannot."""
        if found is not None:
            return resolved_watch(watch, found)
        if not watch.consensus_hex:
            raise ValidationError(
                "validator: this chain's validators cannot be looked up (no REST endpoint configured), so an "
                "operator address cannot be matched to its consensus address; give the consensus address "
                "(…valcons1…) instead"
            )
        return watch

    def _destinations_for(self, owner_id: str, destination_ids: builtins.list[str] | None) -> builtins.list[str]:
        """Where a subscription delivers: the given ids (owned), or else all enabled destinations.

        A subscription that delivers nowhere would match silently for ever, so an empty list is
        refused, and so is omitting the ids while the account has no destination to default to.
        """
        if destination_ids is not None:
            if not destination_ids:
                raise ValidationError(
                    "destination_ids: an empty list would deliver nowhere; name at least one destination, "
                    "or omit destination_ids to use all of the account's enabled destinations"
                )
            return self._destinations.require_owned(owner_id, destination_ids)
        owned = self._destinations.list(owner_id)
        if not owned:
            raise ValidationError(
                "destination_ids: this account has no destinations yet: create one first "
                "(POST /v1/destinations, or /start in a Telegram or Discord chat), then the subscription; "
                "without destination_ids it goes to all of the account's enabled destinations"
            )
        enabled = [d.id for d in owned if d.enabled]
        if not enabled:
            raise ValidationError(
                "destination_ids: none of this account's destinations is enabled: enable one "
                "(PATCH /v1/destinations/{id} with enabled: true) or name the destinations in destination_ids"
            )
        return enabled

    def list(self, owner_id: str, *, chain_id: str | None = None, enabled: bool | None = None) -> list[Subscription]:
        return [
            s
            for s in self._repos.subscriptions.of_owner(owner_id)
            if (chain_id is None or s.chain_id == chain_id) and (enabled is None or s.enabled == enabled)
        ]

    def get(self, owner_id: str, subscription_id: str) -> Subscription:
        sub = self._repos.subscriptions.get(subscription_id) if is_key(subscription_id) else None
        if sub is None or sub.owner_id != owner_id:
            raise NotFoundError("subscription not found")
        return sub

    async def update(
        self,
        owner_id: str,
        subscription_id: str,
        *,
        name: str | None = None,
        queries: builtins.list[str] | None = None,
        destination_ids: builtins.list[str] | None = None,
        enabled: bool | None = None,
        silent: bool | None = None,
    ) -> Subscription:
        """Change what is given; new queries replace a preset's (the subscription becomes custom).

        `silent`: its notifications arrive without a sound from the next match on (those already
        matched keep the sound they were made with)."""
        sub = self.get(owner_id, subscription_id)
        if name is not None:
            sub.name = _check_name(name)
        if queries is not None:
            sub.queries = normalise_queries(queries)
            sub.preset, sub.params, sub.post_filter, sub.monitor = None, None, None, None
        if destination_ids is not None:
            sub.destination_ids = self._destinations_for(owner_id, destination_ids)
        if enabled is not None:
            sub.enabled = enabled
        if silent is not None:
            sub.silent = silent
        return await self._save(sub)

    async def _save(self, sub: Subscription) -> Subscription:
        """Commit a change; the matcher picks it up from the store, so it holds from the next block."""
        sub.updated_at = self._clock()
        await self._repos.subscriptions.save(sub)
        return sub

    async def pause(self, owner_id: str, subscription_id: str) -> Subscription:
        return await self.update(owner_id, subscription_id, enabled=False)

    async def resume(self, owner_id: str, subscription_id: str) -> Subscription:
        """Enabled again, and unmuted: "resume" means notify from now on."""
        sub = self.get(owner_id, subscription_id)
        sub.enabled, sub.muted_until = True, None
        return await self._save(sub)

    async def mute(self, owner_id: str, subscription_id: str, duration: timedelta) -> Subscription:
        """Silent for `duration` from now (the block processor skips it until then); it stays
        enabled, so it speaks again by itself."""
        if duration <= timedelta(0):
            raise ValidationError("a mute lasts a positive time")
        sub = self.get(owner_id, subscription_id)
        sub.muted_until = self._clock() + duration
        return await self._save(sub)

    async def delete(self, owner_id: str, subscription_id: str) -> None:
        """Gone from the store (and so from the matcher); its past notifications stay in the history."""
        sub = self.get(owner_id, subscription_id)
        await self._repos.subscriptions.remove(sub.id)

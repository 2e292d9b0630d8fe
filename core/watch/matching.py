"""The live set of subscriptions the watchers match blocks against.

One `SubscriptionIndex` per chain, fed from the store at start and kept current by every
committed write of a subscription record (`core/services/matcher_feed.py` observes the store),
whoever made it, so a change takes effect at the next block without a restart. Subscriptions
with a watch (`Subscription.monitor`: a validator, a voter, governance) have no queries: they go
to the chain's `WatchIndex` instead, which the chain's monitor reads (core/monitor).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from core.models import Subscription
from core.monitor.index import WatchIndex
from core.query.index import SubscriptionIndex


class SubscriptionMatcher:
    """Enabled subscriptions by chain, indexed by their queries."""

    def __init__(self) -> None:
        self._indexes: dict[str, SubscriptionIndex] = {}
        self._watches: dict[str, WatchIndex] = {}
        self._subscriptions: dict[str, Subscription] = {}

    def load(self, subscriptions: Iterable[Subscription]) -> None:
        for sub in subscriptions:
            self.upsert(sub)

    def upsert(self, sub: Subscription) -> None:
        """Add or replace `sub`; a paused subscription leaves the index."""
        old = self._subscriptions.get(sub.id)
        if old is not None and (old.chain_id != sub.chain_id or (old.monitor is None) != (sub.monitor is None)):
            self.remove(sub.id)
        if not sub.enabled:
            self.remove(sub.id)
            return
        if sub.monitor is not None:
            self.watches(sub.chain_id).add(sub)
        else:
            index = self._indexes.setdefault(sub.chain_id, SubscriptionIndex())
            index.update(sub.id, sub.queries, sub.post_filter)
        self._subscriptions[sub.id] = sub

    def remove(self, subscription_id: str) -> None:
        old = self._subscriptions.pop(subscription_id, None)
        if old is None:
            return
        if old.monitor is not None:
            self.watches(old.chain_id).remove(subscription_id)
        else:
            self._indexes[old.chain_id].remove(subscription_id)

    def watches(self, chain_id: str) -> WatchIndex:
        """The chain's validator, voter and governance watches (empty if there are none)."""
        index = self._watches.get(chain_id)
        if index is None:
            index = self._watches[chain_id] = WatchIndex()
        return index

    def match(self, chain_id: str, events_map: Mapping[str, Sequence[str]]) -> list[Subscription]:
        """Subscriptions of `chain_id` that fire on this scope (queries, then post-filter), in id order."""
        index = self._indexes.get(chain_id)
        if index is None:
            return []
        return [self._subscriptions[sub_id] for sub_id in sorted(index.match(events_map))]

    def count(self, chain_id: str | None = None) -> int:
        if chain_id is None:
            return len(self._subscriptions)
        return sum(1 for s in self._subscriptions.values() if s.chain_id == chain_id)

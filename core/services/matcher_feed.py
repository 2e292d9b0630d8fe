"""Keeps the live subscription matcher in step with the store, whoever wrote the subscription.

The matcher mirrors stored subscriptions. Updating it from the writer's own code path would
miss every write made elsewhere: in cluster mode a subscription created on another node reaches
this node only as a write its change applier applies into the local replica. So the matcher
follows the store's committed writes (`KVStore.observe`), one code path for both modes.
"""

from __future__ import annotations

from core.models import Subscription
from core.store.collection import Collection
from core.store.keys import prefix
from core.watch.matching import SubscriptionMatcher


class MatcherFeed:
    """Decodes the subscription records of every committed write and upserts or removes them.

    A put is the whole record (the batch holds the final version), a delete removes its id;
    other keys (index entries, other tables) are skipped by their prefix.
    """

    def __init__(self, subscriptions: Collection[Subscription], matcher: SubscriptionMatcher) -> None:
        self._subscriptions = subscriptions
        self._matcher = matcher
        self._record_prefix = prefix(subscriptions.table)
        subscriptions.store.observe(self._written)

    def _written(self, ops: list[tuple[bytes, bytes | None]]) -> None:
        record_prefix = self._record_prefix
        for key, value in ops:
            if not key.startswith(record_prefix):
                continue
            if value is None:
                self._matcher.remove(key[len(record_prefix) :].decode())
            else:
                self._matcher.upsert(self._subscriptions.decode(value))

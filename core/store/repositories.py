"""Repositories: one `Collection` per record type, with the indexes the front doors need.

Services use these; front doors never do. Key layout: docs/STORAGE.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from core.models import (
    Account,
    AddressLabel,
    ApiKey,
    ChainCursor,
    DeadLetter,
    DeliveryAttempt,
    Destination,
    DiscordDestination,
    Gap,
    Identity,
    IdentityKind,
    Notification,
    Subscription,
    TelegramDestination,
)
from core.monitor.models import ChainMonitorState, MonitorGap, ProposalState, ValidatorState
from core.store.base import KVStore, WriteBatch
from core.store.collection import Collection, Index, Page
from core.store.keys import key, prefix
from core.support.timeutil import to_millis


class AccountRepository(Collection[Account]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "acc",
            Account,
            lambda a: (a.id,),
            [Index("email", lambda a: [(a.email.lower(),)] if a.email else [], unique=True)],
        )

    def by_email(self, email: str) -> Account | None:
        return self.get_unique("email", email.lower())


class IdentityRepository(Collection[Identity]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "idn",
            Identity,
            lambda i: (i.kind, i.external_id),
            [Index("account", lambda i: [(i.account_id,)])],
        )

    def find(self, kind: IdentityKind, external_id: str) -> Identity | None:
        return self.get(kind, external_id)

    def of_account(self, account_id: str) -> list[Identity]:
        return [i for _, i in self.scan_index("account", account_id)]


class ApiKeyRepository(Collection[ApiKey]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "key",
            ApiKey,
            lambda k: (k.id,),
            [
                Index("hash", lambda k: [(k.key_hash,)], unique=True),
                Index("account", lambda k: [(k.account_id,)]),
            ],
        )

    def by_hash(self, key_hash: str) -> ApiKey | None:
        return self.get_unique("hash", key_hash)

    def of_account(self, account_id: str) -> list[ApiKey]:
        return [k for _, k in self.scan_index("account", account_id)]


class SubscriptionRepository(Collection[Subscription]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "sub",
            Subscription,
            lambda s: (s.id,),
            [
                Index("owner", lambda s: [(s.owner_id,)]),
                Index("chain", lambda s: [(s.chain_id,)]),
                Index("destination", lambda s: [(d,) for d in s.destination_ids]),
            ],
        )

    def of_owner(self, owner_id: str) -> list[Subscription]:
        return [s for _, s in self.scan_index("owner", owner_id)]

    def of_chain(self, chain_id: str) -> Iterator[Subscription]:
        return (s for _, s in self.scan_index("chain", chain_id))

    def using_destination(self, destination_id: str) -> list[Subscription]:
        return [s for _, s in self.scan_index("destination", destination_id)]


def _destination_targets(d: Destination) -> list[tuple[str, ...]]:
    """What a destination delivers to, so a chat or channel is found without a scan."""
    if isinstance(d, TelegramDestination):
        # A topic is one more part under its chat: `for_target("telegram", chat)` (a prefix scan)
        # still finds every topic's destination, which is what a chat that moved needs, and a
        # topicless destination keeps the key it had before topics existed.
        if d.message_thread_id is not None:
            return [("telegram", str(d.chat_id), str(d.message_thread_id))]
        return [("telegram", str(d.chat_id))]
    if isinstance(d, DiscordDestination):
        target = d.webhook_url or str(d.channel_id or "") or f"user:{d.user_id}"
        return [("discord", target)]
    return []


class DestinationRepository(Collection[Destination]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "dst",
            Destination,  # type: ignore[arg-type]  # a tagged union decodes by its "kind"
            lambda d: (d.id,),
            [
                Index("owner", lambda d: [(d.owner_id,)]),
                Index("target", _destination_targets),
            ],
        )

    def of_owner(self, owner_id: str) -> list[Destination]:
        return [d for _, d in self.scan_index("owner", owner_id)]

    def for_target(self, kind: str, *target: str) -> list[Destination]:
        """Destinations delivering to `target` (a Telegram chat: its topics' ones too)."""
        return [d for _, d in self.scan_index("target", kind, *target)]


#: Notifications kept decoded for history pages (core.store.collection.PageCache), by stored
#: size: 4 MiB is ~6,000 typical transfer notifications, ~12 MB of memory decoded.
NOTIFICATION_PAGE_CACHE_BYTES = 4 * 1024 * 1024


class NotificationRepository(Collection[Notification]):
    """History. Time-ordered indexes use the block time, which re-processing reproduces exactly."""

    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "ntf",
            Notification,
            lambda n: (n.id,),
            [
                Index("owner", lambda n: [(n.owner_id, to_millis(n.time))]),
                Index("subscription", lambda n: [(n.subscription_id, to_millis(n.time))]),
                Index("time", lambda n: [(to_millis(n.time),)]),
            ],
            page_cache_bytes=NOTIFICATION_PAGE_CACHE_BYTES,
        )

    def add(self, notification: Notification, batch: WriteBatch) -> bool:
        """Store a new notification; False (and nothing written) if the id is already there."""
        if self.store.get(self.record_key(notification.id)) is not None:
            return False
        self.put(notification, batch)
        return True

    def page_of_owner(self, owner_id: str, *, limit: int, cursor: str | None = None) -> Page[Notification]:
        return self.page("owner", owner_id, limit=limit, cursor=cursor)

    def page_of_subscription(
        self, subscription_id: str, *, limit: int, cursor: str | None = None
    ) -> Page[Notification]:
        return self.page("subscription", subscription_id, limit=limit, cursor=cursor)

    def activity_of_subscription(self, subscription_id: str, *, cap: int) -> tuple[Notification | None, int]:
        """The newest notification of a subscription and how many it has (counted up to `cap`):
        the count walks the index keys only, never decoding a record."""
        newest = next((n for _, n in self.scan_index("subscription", subscription_id, reverse=True, limit=1)), None)
        entries = prefix(self._index_table(self.indexes["subscription"]), subscription_id)
        return newest, sum(1 for _ in self.store.scan(entries, limit=cap))

    def older_than(self, cutoff: datetime, limit: int) -> list[Notification]:
        """The oldest notifications from before `cutoff` (by block time), for retention."""
        return [n for _, n in self.scan_index("time", stop=(to_millis(cutoff),), limit=limit)]


class AttemptRepository(Collection[DeliveryAttempt]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "att",
            DeliveryAttempt,
            lambda a: (a.notification_id, a.destination_id, a.attempt),
        )

    def of_notification(self, notification_id: str) -> list[DeliveryAttempt]:
        return list(self.scan(notification_id))


class DeadLetterRepository(Collection[DeadLetter]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "dlq",
            DeadLetter,
            lambda d: (d.notification_id, d.destination_id),
            [
                Index("owner", lambda d: [(d.owner_id, to_millis(d.dead_at))]),
                Index("time", lambda d: [(to_millis(d.dead_at),)]),
            ],
        )

    def older_than(self, cutoff: datetime, limit: int) -> list[DeadLetter]:
        return [d for _, d in self.scan_index("time", stop=(to_millis(cutoff),), limit=limit)]

    def page_of_owner(self, owner_id: str, *, limit: int, cursor: str | None = None) -> Page[DeadLetter]:
        return self.page("owner", owner_id, limit=limit, cursor=cursor)


class CursorRepository(Collection[ChainCursor]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(store, "cur", ChainCursor, lambda c: (c.chain_id,))


class GapRepository(Collection[Gap]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(store, "gap", Gap, lambda g: (g.chain_id, g.height))

    def of_chain(self, chain_id: str) -> list[Gap]:
        return list(self.scan(chain_id))

    def scan_below(self, chain_id: str, height: int) -> Iterator[Gap]:
        """The chain's gaps under `height`, highest first (a page of `GET /v1/gaps` resuming)."""
        base = prefix(self.table, chain_id)
        for _, raw in self.store.scan(base, stop=base + key(height), reverse=True):
            yield self.decode(raw)


class AddressLabelRepository(Collection[AddressLabel]):
    """Address books: one record per (owner, address), so an owner's book is one prefix scan."""

    def __init__(self, store: KVStore) -> None:
        super().__init__(store, "lbl", AddressLabel, lambda a: (a.owner_id, a.address))

    def of_owner(self, owner_id: str, limit: int | None = None) -> list[AddressLabel]:
        return list(self.scan(owner_id, limit=limit))


class ValidatorStateRepository(Collection[ValidatorState]):
    """Watched validators' missed-block state, per chain (core/monitor/validators.py)."""

    def __init__(self, store: KVStore) -> None:
        super().__init__(store, "vst", ValidatorState, lambda v: (v.chain_id, v.consensus_hex))

    def of_chain(self, chain_id: str) -> list[ValidatorState]:
        return list(self.scan(chain_id))


class ChainMonitorRepository(Collection[ChainMonitorState]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(store, "cms", ChainMonitorState, lambda c: (c.chain_id,))


class ProposalStateRepository(Collection[ProposalState]):
    """Proposals in their voting period that a chain's monitor follows (core/monitor/governance.py)."""

    def __init__(self, store: KVStore) -> None:
        super().__init__(store, "gps", ProposalState, lambda p: (p.chain_id, p.proposal_id))

    def of_chain(self, chain_id: str) -> list[ProposalState]:
        return list(self.scan(chain_id))


class MonitorGapRepository(Collection[MonitorGap]):
    """Heights whose validator signatures could not be counted (their set could not be had)."""

    def __init__(self, store: KVStore) -> None:
        super().__init__(store, "mgp", MonitorGap, lambda g: (g.chain_id, g.height))

    def latest(self, chain_id: str, limit: int = 20) -> list[MonitorGap]:
        return list(self.scan(chain_id, reverse=True, limit=limit))


class Repositories:
    """Every repository over one store: what the composition root hands to services."""

    def __init__(self, store: KVStore) -> None:
        self.store = store
        self.accounts = AccountRepository(store)
        self.identities = IdentityRepository(store)
        self.api_keys = ApiKeyRepository(store)
        self.subscriptions = SubscriptionRepository(store)
        self.destinations = DestinationRepository(store)
        self.notifications = NotificationRepository(store)
        self.attempts = AttemptRepository(store)
        self.dead_letters = DeadLetterRepository(store)
        self.cursors = CursorRepository(store)
        self.gaps = GapRepository(store)
        self.address_labels = AddressLabelRepository(store)
        self.validator_states = ValidatorStateRepository(store)
        self.chain_monitors = ChainMonitorRepository(store)
        self.proposal_states = ProposalStateRepository(store)
        self.monitor_gaps = MonitorGapRepository(store)

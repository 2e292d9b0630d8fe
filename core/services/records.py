"""Records only the services need: login sessions and one-time link codes, each in its own table.

Both store a SHA-256 of the secret (session token) or the code itself (short-lived, single use),
so a copy of the database does not hand out live sessions.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from core.store.base import KVStore
from core.store.collection import Collection, Index
from core.support.timeutil import to_millis


class Session(msgspec.Struct, kw_only=True):
    """A browser login. `id` is the SHA-256 (hex) of the cookie's token; the token itself is not kept."""

    id: str
    account_id: str
    created_at: datetime
    expires_at: datetime


class LinkCode(msgspec.Struct, kw_only=True):
    """A one-time code that joins a chat identity to `account_id` (`/link CODE` in a bot)."""

    code: str
    account_id: str
    created_at: datetime
    expires_at: datetime


class SessionRepository(Collection[Session]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "ses",
            Session,
            lambda s: (s.id,),
            [Index("account", lambda s: [(s.account_id,)]), Index("expires", lambda s: [(to_millis(s.expires_at),)])],
        )

    def of_account(self, account_id: str) -> list[Session]:
        return [s for _, s in self.scan_index("account", account_id)]

    def expired(self, now: datetime, limit: int) -> list[Session]:
        return [s for _, s in self.scan_index("expires", stop=(to_millis(now),), limit=limit)]


class LinkCodeRepository(Collection[LinkCode]):
    def __init__(self, store: KVStore) -> None:
        super().__init__(
            store,
            "lnk",
            LinkCode,
            lambda c: (c.code,),
            [Index("account", lambda c: [(c.account_id,)]), Index("expires", lambda c: [(to_millis(c.expires_at),)])],
        )

    def of_account(self, account_id: str) -> list[LinkCode]:
        return [c for _, c in self.scan_index("account", account_id)]

    def expired(self, now: datetime, limit: int) -> list[LinkCode]:
        return [c for _, c in self.scan_index("expires", stop=(to_millis(now),), limit=limit)]

"""Whether the store accepts writes right now, and since when it has not.

RocksDB can refuse writes for a while (a full disk, an I/O error) and the rest of the process
must say so instead of pretending: `/ready` reports it and the API answers 503 while it lasts.
The store updates this object on every failed and every succeeded write; readers only look.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.support.timeutil import utcnow


class StoreHealth:
    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self.refusing_since: datetime | None = None
        self.reason: str | None = None

    @property
    def refusing(self) -> bool:
        return self.refusing_since is not None

    def refused(self, reason: str) -> bool:
        """A write was refused; True when this starts an incident (the caller logs it once)."""
        self.reason = reason
        if self.refusing_since is None:
            self.refusing_since = self._clock()
            return True
        return False

    def accepted(self) -> bool:
        """A write succeeded; True when this ends an incident."""
        if self.refusing_since is None:
            return False
        self.refusing_since = self.reason = None
        return True

    def describe(self) -> str:
        """One line for `/ready`: "open", or since when and why writes are refused."""
        if self.refusing_since is None:
            return "open"
        since = self.refusing_since.isoformat(timespec="seconds").replace("+00:00", "Z")
        return f"refusing writes since {since}: {self.reason}"

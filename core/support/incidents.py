"""Log a failure once when it starts and once when it ends, not on every retry.

A node that is down for an hour must produce two log lines, not thousands: each incident is
keyed (e.g. "rpc:osmosis-1"), the first failure is logged as a warning, repeats only counted,
and recovery is logged with the count.
"""

from __future__ import annotations

import logging
import time


class IncidentLog:
    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._open: dict[str, tuple[float, int]] = {}

    def failure(self, key: str, message: str, *args: object) -> bool:
        """Record a failure; returns True (and logs) only for the first one of an incident."""
        started, count = self._open.get(key, (time.monotonic(), 0))
        self._open[key] = (started, count + 1)
        if count == 0:
            self.logger.warning(message, *args)
            return True
        return False

    def resolved(self, key: str, message: str = "%s recovered after %d failures in %.1f s") -> None:
        entry = self._open.pop(key, None)
        if entry is not None:
            started, count = entry
            self.logger.info(message, key, count, time.monotonic() - started)

    def is_open(self, key: str) -> bool:
        return key in self._open

"""The clock services read, injected so tests can move time (session and key expiry, link codes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.support.timeutil import utcnow

Clock = Callable[[], datetime]

__all__ = ["Clock", "utcnow"]

"""The one exponential backoff: how long to wait after the n-th failure in a row.

The watcher, the RPC pool's endpoint cooldown, the new-block subscription and the supervisor all
retry something that failed; they wait `first`, then twice that, and so on up to `cap`, so one
formula (and one place to change it) serves them all. Jitter, where wanted, is the caller's.
"""

from __future__ import annotations

#: Past this many doublings the cap has long been reached; it keeps `2 ** n` a small float.
_MAX_DOUBLINGS = 30


def backoff(failures: int, *, first: float, cap: float) -> float:
    """Seconds to wait after `failures` consecutive failures: `first` after the first, doubling, at most `cap`.

    `failures` <= 0 gives `first / 2` (and halves again below), so a caller may count from 0.
    """
    return min(cap, first * 2.0 ** min(failures - 1, _MAX_DOUBLINGS))

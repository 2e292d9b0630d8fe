"""Missed heights inside the slashing window, kept as runs, and the thresholds they cross.

x/slashing counts a validator's missed blocks over its last `signed_blocks_window` heights and
jails it when more than `window * (1 - min_signed_per_window)` of them are missed. The same count
is kept here from the blocks' commit signatures, as runs of consecutive missed heights: a
validator that signs costs nothing, one that is down for a day is one run, and the count at any
height is a short sum.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.monitor.models import MissedRun


def trimmed(runs: list[MissedRun], low: int) -> list[MissedRun]:
    """`runs` without the heights below `low` (those have left the window)."""
    if not runs or runs[0].start >= low:
        return runs
    kept = [r for r in runs if r.end >= low]
    if kept and kept[0].start < low:
        kept[0] = MissedRun(low, kept[0].end)
    return kept


def with_miss(runs: list[MissedRun], height: int) -> list[MissedRun]:
    """`runs` with `height` missed (heights come in increasing order)."""
    if runs and runs[-1].end == height - 1:
        return [*runs[:-1], MissedRun(runs[-1].start, height)]
    return [*runs, MissedRun(height, height)]


def missed(runs: Sequence[MissedRun]) -> int:
    return sum(r.end - r.start + 1 for r in runs)


def percent(missed_count: int, window: int) -> float:
    """The share of the window missed, in percent (0 while the window is not known)."""
    return 100.0 * missed_count / window if window > 0 else 0.0


def level(value: float, thresholds: Sequence[float]) -> int:
    """How many of the (ascending) thresholds `value` has reached."""
    return sum(1 for t in thresholds if value >= t)


def format_percent(value: float) -> str:
    """5.0 -> "5%", 0.5 -> "0.5%", 12.3456 -> "12.35%"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text or '0'}%"

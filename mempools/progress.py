"""Progress of catch-up after downtime: a live line on a terminal, periodic log lines otherwise.

Fed by every watcher's commit callback; it stays silent while a chain is within a few blocks of
its tip (following, not catching up), so a healthy process prints nothing.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TextIO

from core.watch.watcher import WatcherStats

log = logging.getLogger("mempools.progress")

BEHIND = 10  # blocks behind the tip that count as catching up


class _Rate:
    """Blocks per second over roughly the last ten seconds."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []

    def add(self, now: float, cursor: int) -> float:
        self.samples.append((now, cursor))
        while len(self.samples) > 2 and now - self.samples[0][0] > 10:
            self.samples.pop(0)
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


class CatchUpProgress:
    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        log_every: float = 15.0,
        redraw_every: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.log_every = log_every
        self.redraw_every = redraw_every
        self.clock = clock
        self._rates: dict[str, _Rate] = {}
        self._lines: dict[str, str] = {}
        self._last_output = 0.0
        self._shown = False

    def update(self, stats: WatcherStats) -> None:
        now = self.clock()
        rate = self._rates.setdefault(stats.chain_id, _Rate()).add(now, stats.cursor)
        if stats.lag < BEHIND:
            if self._lines.pop(stats.chain_id, None) is not None:
                self._emit(now, force=True, done=f"{stats.chain_id} caught up at {stats.cursor}")
            return
        eta = stats.lag / rate if rate > 0 else None
        self._lines[stats.chain_id] = (
            f"{stats.chain_id} {stats.cursor}/{stats.tip} {self._bar(stats)} {rate:,.0f} blocks/s ETA {_duration(eta)}"
        )
        self._emit(now)

    def _bar(self, stats: WatcherStats, width: int = 20) -> str:
        span = max(1, stats.tip - stats.started_height)
        done = min(width, int(width * (stats.cursor - stats.started_height) / span))
        return "[" + "#" * done + "." * (width - done) + "]"

    def _emit(self, now: float, *, force: bool = False, done: str | None = None) -> None:
        interval = self.redraw_every if self.tty else self.log_every
        if not force and now - self._last_output < interval:
            return
        self._last_output = now
        if self.tty:
            text = " | ".join(self._lines.values()) or (done or "")
            self.stream.write("\r\x1b[2K" + "catching up: " * bool(self._lines) + text + ("\n" if done else ""))
            self.stream.flush()
        else:
            for line in self._lines.values():
                log.info("catching up: %s", line)
            if done:
                log.info("%s", done)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"

"""Catch-up progress: a live line on a terminal, log lines elsewhere, silence when following."""

from __future__ import annotations

import io
import logging

import pytest

from core.watch.watcher import WatcherStats
from mempools.progress import CatchUpProgress


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run(progress: CatchUpProgress, clock: Clock) -> None:
    stats = WatcherStats(chain_id="osmosis-1", cursor=1000, tip=2000, started_height=1000)
    for step in range(1, 1001):
        clock.now = step * 0.01  # 100 blocks/s
        stats.cursor = 1000 + step
        progress.update(stats)


def test_terminal_gets_a_live_line_with_rate_and_eta() -> None:
    out, clock = io.StringIO(), Clock()
    _run(CatchUpProgress(out, tty=True, clock=clock), clock)
    text = out.getvalue()
    assert "catching up: osmosis-1 1515/2000 [##########..........] 100 blocks/s ETA 4s" in text
    assert text.count("\r") < 60  # redrawn a few times a second, not per block
    assert text.endswith("osmosis-1 caught up at 1991\n")


def test_without_a_terminal_it_logs_periodically(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="mempools.progress"):
        _run(CatchUpProgress(io.StringIO(), tty=False, log_every=2.0, clock=clock), clock)
    lines = [r.getMessage() for r in caplog.records]
    assert 4 <= len(lines) <= 7
    assert lines[0].startswith("catching up: osmosis-1")
    assert lines[-1] == "osmosis-1 caught up at 1991"


def test_following_the_tip_prints_nothing() -> None:
    out, clock = io.StringIO(), Clock()
    progress = CatchUpProgress(out, tty=True, clock=clock)
    stats = WatcherStats(chain_id="c", cursor=100, tip=102)
    for i in range(50):
        clock.now = i
        stats.cursor, stats.tip = 100 + i, 102 + i
        progress.update(stats)
    assert out.getvalue() == ""

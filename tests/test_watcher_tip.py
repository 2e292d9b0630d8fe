"""The tip a watcher reports stays fresh while it is busy catching up, with no websocket to tell it.

`/ready` and `/metrics` compute the lag from `stats.tip`: a tip frozen at the start of a long
catch-up would make a process that falls further behind look as if it were gaining.
"""

from __future__ import annotations

from pathlib import Path

from core.store import open_store
from mempools.devnet.faults import Faults
from mempools.devnet.server import DevnetServer
from tests.polling import until
from tests.test_watcher import HISTORY, Harness, _devnet


async def test_the_tip_is_polled_while_catching_up_without_a_websocket(tmp_path: Path) -> None:
    chain = _devnet()
    store = open_store(tmp_path / "data")
    faults = Faults(latency_ms=20, websocket=False)  # ~40 ms a height: catch-up takes seconds
    async with DevnetServer(chain, run_clock=False, faults=faults) as devnet:
        harness = Harness(store, chain, [devnet.url])
        harness.watcher.window = 1
        harness.start()
        try:
            await until(lambda: harness.watcher.stats.cursor >= 3, timeout=30)
            devnet.advance(100)
            await until(lambda: harness.watcher.stats.tip == chain.tip, timeout=30)
            assert harness.watcher.stats.cursor < HISTORY, "the new tip was only seen after catching up"
            assert harness.watcher.stats.lag > 100
            await harness.reach(chain.tip, timeout=60)
        finally:
            await harness.stop()
            store.close()

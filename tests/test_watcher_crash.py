"""`kill -9` of `mempools serve` during catch-up, again and again: no height skipped, nothing doubled."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import httpx

from core.models import WebhookDestination
from core.store import open_store
from core.store.repositories import Repositories
from core.support.timeutil import utcnow
from mempools.devnet.chain import DevnetChain
from tests.processes import DevnetProcess, MempoolsProcess, write_devnet_config
from tests.seeding import put_now
from tests.test_watcher import CHAIN_ID, _subscriptions, expected_notifications

HISTORY = 1500
SEED = 11
TXS = 4


def _seed_store(path: Path, chain: DevnetChain) -> list:
    store = open_store(path)
    try:
        repos = Repositories(store)
        put_now(
            repos.destinations,
            WebhookDestination(
                id="dst_1", owner_id="acc_1", name="h", url="http://127.0.0.1:9/", secret="whsec_x", created_at=utcnow()
            ),
        )
        subs = _subscriptions(chain)
        for sub in subs:
            put_now(repos.subscriptions, sub)
        return subs
    finally:
        store.close()


def _height(url: str) -> int:
    """The last fully processed height, as `/metrics` reports it (0 before the first block)."""
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(rf'^mempools_chain_height{{chain="{CHAIN_ID}"}} (\S+)$', metrics, re.MULTILINE)
    return int(float(match.group(1))) if match else 0


def _wait_for_height(url: str, height: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _height(url) < height and time.monotonic() < deadline:
        time.sleep(0.01)


def _cursor(path: Path) -> int:
    store = open_store(path)
    try:
        cursor = Repositories(store).cursors.get(CHAIN_ID)
        return 0 if cursor is None else cursor.height
    finally:
        store.close()


def test_kill_9_during_catch_up_skips_and_duplicates_nothing(tmp_path: Path) -> None:
    devnet = DevnetProcess(CHAIN_ID, history=HISTORY, seed=SEED, txs_per_block=TXS)
    try:
        rpc = devnet.url()
        data = tmp_path / "data"
        reference = devnet.reference()
        subs = _seed_store(data, reference)
        config = write_devnet_config(tmp_path / "config.toml", data, rpc, CHAIN_ID)
        # Kill when the catch-up has passed a random height (by /ready), not after a random time:
        # how long a catch-up takes depends on the machine, where it is cut must not.
        targets = sorted(random.Random(5).sample(range(50, HISTORY - 150), 6))
        cursors: list[int] = []
        kills = 0
        while True:
            server = MempoolsProcess("serve", "--config", str(config))
            url = server.api_url()
            if kills < len(targets):
                _wait_for_height(url, targets[kills])
                server.kill()
                kills += 1
                cursors.append(_cursor(data))
                continue
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                ready = httpx.get(f"{url}/ready", timeout=5).json()
                if ready["checks"].get(f"chain:{CHAIN_ID}", "").startswith(f"at {HISTORY},"):
                    break
                time.sleep(0.2)
            assert server.stop() == 0, server.output
            break
        # The kills really landed in the middle of catch-up.
        assert sum(1 for c in cursors if 1 < c < HISTORY) >= 3, cursors
        assert cursors == sorted(cursors)
        store = open_store(data)
        try:
            repos = Repositories(store)
            assert repos.cursors.get(CHAIN_ID).height == HISTORY
            stored = [n.id for n in repos.notifications.scan()]
            expected = expected_notifications(reference, subs, range(1, HISTORY + 1))
            assert set(stored) == expected
            assert len(stored) == len(expected)
            history = repos.notifications.page_of_owner("acc_1", limit=100_000)
            assert len(history.items) == len(expected), "the history index holds a duplicate"
            assert repos.gaps.of_chain(CHAIN_ID) == []
        finally:
            store.close()
    finally:
        devnet.kill()

"""`mempools serve` with its data directory on a small tmpfs that fills up: a bad minute, not a broken process.

While the disk is full: API writes answer a 503 problem, /ready is 503 and names the store, the
watcher waits (the process stays up, the log stays short). Once the ballast is deleted, all of
it resumes by itself: /ready is 200 again, the watcher goes on from where it stopped and every
notification of every height is there exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from core.devnet.chain import ChainConfig as DevnetConfig
from core.devnet.chain import DevnetChain
from core.devnet.server import DevnetServer
from core.repositories import Repositories
from core.store import open_store
from tests.processes import MempoolsProcess, write_devnet_config
from tests.test_watcher import CHAIN_ID, expected_notifications
from tests.test_watcher_crash import _seed_store
from tests.tmpfs import fill, small_tmpfs

HISTORY = 40
SUBSCRIPTION = {"chain_id": CHAIN_ID, "name": "mine", "queries": ["tm.event = 'Tx' AND message.action EXISTS"]}


async def _ready(http: httpx.AsyncClient, url: str, check, timeout: float = 60) -> httpx.Response:
    """Poll /ready until `check(response)` holds; the last answer on timeout, in the assertion."""
    deadline = time.monotonic() + timeout
    while True:
        r = await http.get(f"{url}/ready")
        if check(r):
            return r
        assert time.monotonic() < deadline, r.text
        await asyncio.sleep(0.1)


def _behind(r: httpx.Response) -> int:
    """How many blocks /ready says the chain is behind (from "at H, N behind" or "N blocks behind")."""
    text = r.json()["checks"][f"chain:{CHAIN_ID}"]
    words = text.replace(",", "").split()
    return int(words[words.index("behind") - 1]) if "behind" in words else -1


async def test_a_full_disk_pauses_everything_and_it_all_resumes_by_itself(tmp_path: Path) -> None:
    chain = DevnetChain(DevnetConfig(chain_id=CHAIN_ID, block_time=0, history=HISTORY, txs_per_block=4, seed=5))
    with small_tmpfs(tmp_path / "disk", 24) as disk:
        data = disk / "data"
        subs = _seed_store(data, chain)
        async with DevnetServer(chain, run_clock=False) as devnet:
            config = write_devnet_config(tmp_path / "config.toml", data, devnet.url, CHAIN_ID)
            server = MempoolsProcess("serve", "--config", str(config))
            try:
                url = await asyncio.to_thread(server.api_url)
                async with httpx.AsyncClient(timeout=10) as http:
                    await _ready(http, url, lambda r: r.status_code == 200 and f"at {HISTORY}," in r.text)
                    account = {"email": "ops@example.com", "password": "correct horse battery"}
                    assert (await http.post(f"{url}/v1/accounts", json=account)).status_code == 201
                    assert (await http.post(f"{url}/v1/sessions", json=account)).status_code == 201

                    # The disk fills up; the chain goes on.
                    ballast = fill(disk)
                    lines_at_fill = len(server.lines)
                    devnet.advance(10)
                    refusing = await _ready(http, url, lambda r: r.status_code == 503 and _behind(r) >= 10)
                    assert refusing.headers["content-type"].startswith("application/json")
                    store_check = refusing.json()["checks"]["store"]
                    assert store_check.startswith("refusing writes since ")
                    assert store_check.endswith(": No space left on device")

                    for _ in range(10):  # every write is refused politely, none is a 500
                        r = await http.post(f"{url}/v1/subscriptions", json=SUBSCRIPTION)
                        assert r.status_code == 503, r.text
                        assert r.headers["content-type"] == "application/problem+json"
                        assert r.headers["retry-after"] == "60"
                        problem = r.json()
                        assert problem["type"] == "/problems/store-unavailable"
                        assert problem["detail"] == "the store is refusing writes: No space left on device"
                    r = await http.post(f"{url}/v1/accounts", json={**account, "email": "late@example.com"})
                    assert r.status_code == 503 and r.json()["type"] == "/problems/store-unavailable"
                    assert (await http.get(f"{url}/v1/me")).status_code == 200  # reads still work

                    devnet.advance(10)
                    await _ready(http, url, lambda r: r.status_code == 503 and _behind(r) >= 20)
                    assert server.proc.poll() is None, server.output
                    during = server.lines[lines_at_fill:]
                    assert len(during) <= 6, "".join(during)  # one line per incident, not one per try
                    assert "Traceback" not in "".join(during)

                    # Space is back: everything resumes by itself.
                    ballast.unlink()
                    tip = chain.tip
                    back = await _ready(http, url, lambda r: r.status_code == 200 and f"at {tip}," in r.text)
                    assert back.json()["checks"]["store"] == "open"
                    r = await http.post(f"{url}/v1/subscriptions", json=SUBSCRIPTION)
                    assert r.status_code == 201, r.text
                assert await asyncio.to_thread(server.stop) == 0, server.output
            finally:
                await asyncio.to_thread(server.kill)
        assert "Traceback" not in server.output, server.output

        store = open_store(data)
        try:
            repos = Repositories(store)
            assert repos.cursors.get(CHAIN_ID).height == tip
            seeded = {s.id for s in subs}
            stored = [n.id for n in repos.notifications.scan() if n.subscription_id in seeded]
            expected = expected_notifications(chain, subs, range(1, tip + 1))
            assert len(stored) == len(expected) and set(stored) == expected
            history = repos.notifications.page_of_owner("acc_1", limit=100_000)
            assert len(history.items) == len(expected), "the history index holds a duplicate"
            assert repos.gaps.of_chain(CHAIN_ID) == []
        finally:
            store.close()

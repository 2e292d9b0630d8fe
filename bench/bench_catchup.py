"""Catch-up rate: the watcher against a strictly serial fetch-decode-commit loop, same run.

The watcher runs twice: one block per commit (`max_blocks_per_commit=1`, as before grouping) and
grouped (the default 32); `commits` is how many batches the grouped run committed. CPU ms/block
is this process's CPU time (the devnet is another process), steadier than b/s on a busy machine.

A devnet runs in its own process (generated blocks, 8 txs each) with 0 ms and 50 ms of added
latency; both loops process the same heights into fresh RocksDB stores with 1,000 address
subscriptions loaded. At 0 ms the serial loop's time is split into fetch, decode, match and
commit, to show where the time goes.

    .venv/bin/python bench/bench_catchup.py [--blocks 400]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.chain.decoder import BlockDecoder  # noqa: E402
from core.chain.pool import EndpointPool  # noqa: E402
from core.chain.rpc import RpcClient  # noqa: E402
from core.dispatch.outbox import Outbox  # noqa: E402
from core.models import Chain, Subscription  # noqa: E402
from core.store import open_store  # noqa: E402
from core.store.repositories import Repositories  # noqa: E402
from core.support.timeutil import utcnow  # noqa: E402
from core.watch.matching import SubscriptionMatcher  # noqa: E402
from core.watch.processor import BlockProcessor  # noqa: E402
from core.watch.watcher import ChainWatcher  # noqa: E402
from mempools.devnet.addresses import AddressBook  # noqa: E402

CHAIN_ID = "bench-1"
SEED = 3
TXS = 8


def start_devnet(history: int, latency_ms: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mempools",
            "devnet",
            "--port",
            "0",
            "--block-time",
            "0",
            "--history",
            str(history),
            "--txs-per-block",
            str(TXS),
            "--seed",
            str(SEED),
            "--chain-id",
            CHAIN_ID,
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if m := re.search(r"serving (http://\S+)", line):
            return proc, m.group(1)
    raise RuntimeError("devnet did not start")


def subscriptions(n: int) -> list[Subscription]:
    book = AddressBook("cosmos", SEED, accounts=20)
    other = AddressBook("cosmos", SEED + 1000, accounts=n)
    addresses = book.accounts[:10] + other.accounts[: n - 10]
    now = utcnow()
    return [
        Subscription(
            id=f"sub_{i:06d}",
            owner_id=f"acc_{i % 100}",
            chain_id=CHAIN_ID,
            name=f"s{i}",
            queries=[f"transfer.recipient = '{a}'", f"transfer.sender = '{a}'"],
            destination_ids=["dst_1"],
            created_at=now,
            updated_at=now,
        )
        for i, a in enumerate(addresses)
    ]


def make_processor(tmp: Path, name: str, subs: list[Subscription]):
    store = open_store(tmp / name)
    repos = Repositories(store)
    matcher = SubscriptionMatcher()
    matcher.load(subs)
    chain = Chain(id=CHAIN_ID, name="Bench", bech32_prefix="cosmos")
    return store, repos, matcher, BlockProcessor(chain, matcher, repos, Outbox(store))


async def serial(url: str, heights: range, tmp: Path, subs: list[Subscription], split: bool) -> dict[str, float]:
    store, _repos, matcher, processor = make_processor(tmp, f"serial-{time.monotonic_ns()}", subs)
    client = RpcClient(url, chain_id=CHAIN_ID)
    decoder = BlockDecoder()
    t = {"fetch": 0.0, "decode": 0.0, "match": 0.0, "commit": 0.0}
    start = time.perf_counter()
    for h in heights:
        a = time.perf_counter()
        results = await client.block_results(h)
        block = await client.block(h)
        b = time.perf_counter()
        decoded = decoder.decode(results, block)
        c = time.perf_counter()
        if split:
            for scope in decoded.scopes:
                matcher.match(CHAIN_ID, scope.events_map)
        d = time.perf_counter()
        await processor.process(decoded)
        e = time.perf_counter()
        t["fetch"] += b - a
        t["decode"] += c - b
        t["match"] += d - c
        t["commit"] += (e - d) - (d - c if split else 0.0)  # process() matches again: count it once
    t["total"] = time.perf_counter() - start
    await client.aclose()
    store.close()
    return t


async def watcher(
    url: str, heights: range, tmp: Path, subs: list[Subscription], window: int, per_commit: int
) -> tuple[float, float, int]:
    """Seconds to catch up `heights`, this process's CPU seconds for it, and the batches committed."""
    store, repos, _matcher, processor = make_processor(tmp, f"watcher-{window}-{time.monotonic_ns()}", subs)
    pool = EndpointPool(CHAIN_ID, [url])
    w = ChainWatcher(
        CHAIN_ID, pool, processor, repos, start_height=heights.start, window=window, max_blocks_per_commit=per_commit
    )
    stop = asyncio.Event()
    start, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(w.run(stop))
    while w.stats.cursor < heights.stop - 1:  # noqa: ASYNC110  # a benchmark polling its subject
        await asyncio.sleep(0.002)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    stop.set()
    await task
    await pool.aclose()
    store.close()
    return elapsed, cpu, w.commits


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=400)
    args = parser.parse_args()
    subs = subscriptions(1000)
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for latency, blocks in ((0.0, args.blocks), (50.0, max(100, args.blocks // 2))):
            proc, url = start_devnet(blocks + 10, latency)
            try:
                heights = range(2, blocks + 2)
                await serial(url, range(1, 3), tmp, subs, split=False)  # warm the devnet's caches
                s = await serial(url, heights, tmp, subs, split=latency == 0.0)
                one = await watcher(url, heights, tmp, subs, window=32, per_commit=1)
                grouped = await watcher(url, heights, tmp, subs, window=32, per_commit=32)
                rows.append((latency, blocks, s, one, grouped))
            finally:
                proc.terminate()
                proc.wait()
    print(
        f"{'latency':>8} {'blocks':>7} {'serial b/s':>11} {'1/commit b/s':>13} {'grouped b/s':>12} "
        f"{'commits':>8} {'ratio':>7} {'CPU ms/block 1/commit':>22} {'grouped':>8}"
    )
    for latency, blocks, s, (t1, c1, _), (tg, cg, commits) in rows:
        sr, r1, rg = blocks / s["total"], blocks / t1, blocks / tg
        print(
            f"{latency:>6.0f}ms {blocks:>7} {sr:>11.1f} {r1:>13.1f} {rg:>12.1f} {commits:>8} {rg / sr:>6.1f}x "
            f"{c1 / blocks * 1000:>22.2f} {cg / blocks * 1000:>8.2f}"
        )
    latency, blocks, s, _, _ = rows[0]
    print("\nserial loop at 0 ms, time per block:")
    for part in ("fetch", "decode", "match", "commit"):
        print(f"  {part:<7} {s[part] / blocks * 1000:7.2f} ms  ({s[part] / s['total'] * 100:4.1f}%)")


if __name__ == "__main__":
    asyncio.run(main())

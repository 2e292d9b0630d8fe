"""Fairness between tenants: another account's delivery latency while one account floods slow
webhooks (a benchmark, not a test).

    .venv/bin/python bench/bench_fairness.py [--slow-endpoints 16] [--slow-delay 3] [--seconds 8] [--flooders 1]

Account B has 4 webhooks that answer at once and gets 20 notifications every 0.25 s (as blocks
arrive). Account A has `--slow-endpoints` webhooks that answer 200 after `--slow-delay` seconds and
a backlog of 200 entries per endpoint, committed before B's traffic starts (more than the claim
limit and than the 64 workers can hold; it succeeds, so the failing pool never applies); with
`--flooders N`, N such accounts do it at once. B's
latency is from the commit of its block to the arrival of the request at B's endpoint, as B sees
it. The same run measures B alone first (the baseline) and prints the flooded figures against it.

The Dispatcher runs as `serve` runs it (default `[dispatch]` limits, real RocksDB, real HTTP on
127.0.0.1); the receivers run in this process (B's latency includes sharing the loop with them).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

B_ENDPOINTS = 4
B_PER_BLOCK = 20
B_INTERVAL = 0.25
A_BACKLOG_PER_ENDPOINT = 200


async def scenario(
    *, flood: bool, flooders: int, slow_endpoints: int, slow_delay: float, seconds: float, grace: float
) -> dict:
    from core.dispatch.dispatcher import Dispatcher
    from core.dispatch.http import HttpClient
    from core.dispatch.outbox import Outbox
    from core.dispatch.webhook import WebhookChannel
    from core.store import WriteBatch, open_store
    from core.store.repositories import Repositories
    from core.support.timeutil import utcnow
    from tests.fakes.records import COSMOS, entry_for, make_notification, webhook_destination
    from tests.fakes.webhook_receiver import Reply, WebhookReceiver
    from tests.seeding import put_now

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "db")
        repos, outbox = Repositories(store), Outbox(store)
        heights = iter(range(10_000_000))

        def commit(owner: str, destinations: list[str], count: int) -> tuple[list[str], float]:
            now = utcnow()
            batch, ids = WriteBatch(), []
            for i in range(count):
                destination = destinations[i % len(destinations)]
                notification = make_notification(owner, (destination,), height=next(heights), created_at=now)
                repos.notifications.add(notification, batch)
                outbox.enqueue([entry_for(notification, destination, now)], batch, notification=notification)
                ids.append(notification.id)
            store.write(batch)
            outbox.notify()
            return ids, time.monotonic()

        async with WebhookReceiver(default=Reply(delay=slow_delay)) as slow, WebhookReceiver() as fast:
            a_hooks = {f"acc_a{k}": [f"dst_a{k}_{i}" for i in range(slow_endpoints)] for k in range(flooders)}
            b_hooks = [f"dst_b{i}" for i in range(B_ENDPOINTS)]
            put_now(
                repos.destinations,
                *(
                    webhook_destination(did, owner, slow.url(f"/{did}"))
                    for owner, hooks in a_hooks.items()
                    for did in hooks
                ),
                *(webhook_destination(did, "acc_b", fast.url(f"/b{i}")) for i, did in enumerate(b_hooks)),
            )
            client = HttpClient(allow_private_networks=True, total_timeout=slow_delay + 30)
            dispatcher = Dispatcher(outbox, repos, {"webhook": WebhookChannel(client)}, {COSMOS.id: COSMOS}.get)
            stop = asyncio.Event()
            runner = asyncio.create_task(dispatcher.run(stop, drain_deadline_s=0.1))
            if flood:
                for owner, hooks in a_hooks.items():
                    commit(owner, hooks, A_BACKLOG_PER_ENDPOINT * slow_endpoints)
                while len(slow.received) < min(16, slow_endpoints):  # noqa: ASYNC110  # A holds workers
                    await asyncio.sleep(0.01)
            sent: dict[str, float] = {}
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                ids, at = commit("acc_b", b_hooks, B_PER_BLOCK)
                sent.update(dict.fromkeys(ids, at))
                await asyncio.sleep(B_INTERVAL)
            deadline = time.monotonic() + grace
            while len(fast.received) < len(sent) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            waited = time.monotonic()
            stop.set()
            await runner
            await client.close()
            store.close()
        arrived = {got.headers["webhook-id"]: got.at for got in fast.received}
        # Deliveries that never arrived count as arriving when the benchmark gave up (a lower bound).
        latencies = [arrived.get(nid, waited) - at for nid, at in sent.items()]
        return {
            "sent": len(sent),
            "arrived": len(fast.received),
            "p50": statistics.median(latencies),
            "p99": statistics.quantiles(latencies, n=100)[98],
            "max": max(latencies),
            "a_delivered": len(slow.received),
        }


async def main(args: argparse.Namespace) -> None:
    common = {
        "flooders": args.flooders,
        "slow_endpoints": args.slow_endpoints,
        "slow_delay": args.slow_delay,
        "seconds": args.seconds,
        "grace": args.grace,
    }
    baseline = await scenario(flood=False, **common)
    flooded = await scenario(flood=True, **common)
    print(
        f"B: {B_PER_BLOCK} deliveries every {B_INTERVAL} s for {args.seconds:g} s to {B_ENDPOINTS} webhooks that "
        f"answer at once; {args.flooders} account(s) A with {args.slow_endpoints} webhooks each answering 200 "
        f"after {args.slow_delay:g} s, {A_BACKLOG_PER_ENDPOINT * args.slow_endpoints:,} entries each due first; "
        "default [dispatch] limits"
    )
    print(f"  {'':<22} {'arrived':>9} {'p50':>9} {'p99':>9} {'max':>9} {'p99 / baseline':>15}")
    for name, row in (("B alone (baseline)", baseline), ("B while A floods", flooded)):
        print(
            f"  {name:<22} {row['arrived']:>4}/{row['sent']:<4} {row['p50'] * 1000:>7.0f}ms "
            f"{row['p99'] * 1000:>7.0f}ms {row['max'] * 1000:>7.0f}ms {row['p99'] / baseline['p99']:>14.1f}x"
        )
    print(f"  A's requests that reached its slow endpoints meanwhile: {flooded['a_delivered']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flooders", type=int, default=1, help="accounts flooding their slow webhooks")
    parser.add_argument("--slow-endpoints", type=int, default=16, help="slow webhooks of each flooding account")
    parser.add_argument("--slow-delay", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--grace", type=float, default=20.0, help="how long to wait for B's last deliveries")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parser.parse_args()))

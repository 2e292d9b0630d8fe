"""REST API benchmark: first page of `GET /v1/notifications` with 100k notifications stored.

The app (real services, real RocksDB in a temp dir) runs under uvicorn on 127.0.0.1 in this
process; the load comes from separate processes (so they do not share the server's GIL), each
keeping `--connections` keep-alive HTTP/1.1 connections busy for `--seconds`. The baseline is
`GET /health` measured the same way in the same run; the figures are printed as requests per
second, p50/p99 latency and the ratio to the baseline. A benchmark never fails on a timing.

    .venv/bin/python bench/bench_api.py [--notifications 100000] [--seconds 5] [--clients 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from argon2 import PasswordHasher

from api.app import create_app
from api.readiness import Readiness
from core.chain.blocks import Attribute, Event
from core.config import ChainConfig, Config, Denom
from core.dispatch.outbox import Outbox
from core.ids import notification_id
from core.models import Account, Notification, Subscription
from core.services import Services
from core.services.passwords import Passwords
from core.store import WriteBatch, open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher

CHAIN = "benchchain-1"
ADDR = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"


def seed(repos: Repositories, owner: str, sub_id: str, count: int) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    events = (
        Event(
            type="transfer",
            attributes=(Attribute("recipient", ADDR), Attribute("sender", ADDR), Attribute("amount", "1500000uatom")),
        ),
        Event(type="message", attributes=(Attribute("action", "/cosmos.bank.v1beta1.MsgSend"),)),
    )
    batch = WriteBatch()
    for i in range(count):
        moment = start + timedelta(seconds=6 * i)
        n = Notification(
            id=notification_id(CHAIN, i + 1, "tx:0", sub_id),
            owner_id=owner,
            subscription_id=sub_id,
            subscription_name="bench",
            chain_id=CHAIN,
            height=i + 1,
            time=moment,
            tx_hash=f"{i + 1:064X}",
            tx_index=0,
            tx_code=0,
            events=events,
            destination_ids=("dst_bench",),
            summary="1.5 ATOM received",
            created_at=moment,
        )
        repos.notifications.put(n, batch)
        if len(batch) >= 30_000:
            repos.store.write(batch)
            batch = WriteBatch()
    repos.store.write(batch)


async def _setup(services: Services) -> tuple[Account, str, Subscription]:
    """The bench account with an API key, a destination and one subscription (the services are async)."""
    account = await services.accounts.register("bench@example.com", "bench password")
    _, token = await services.accounts.create_api_key(account.id, "bench")
    await services.destinations.ensure_telegram_chat(account.id, 1)  # a subscription needs a destination
    sub = await services.subscriptions.create(account.id, chain_id=CHAIN, name="bench", queries=["tm.event = 'Tx'"])
    return account, token, sub


# -- load client (separate process) ------------------------------------------------------------
async def _worker(port: int, request: bytes, deadline: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode(errors="replace"))
            latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


def _client(port: int, path: str, token: str, connections: int, seconds: float, out: mp.Queue) -> None:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nAccept-Encoding: identity\r\n\r\n"
    ).encode()
    latencies: list[float] = []

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(_worker(port, request, deadline, latencies) for _ in range(connections)))

    asyncio.run(main())
    out.put(latencies)


def measure(port: int, path: str, token: str, *, clients: int, connections: int, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    procs = [ctx.Process(target=_client, args=(port, path, token, connections, seconds, out)) for _ in range(clients)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    latencies: list[float] = []
    for _ in procs:
        latencies += out.get()
    for p in procs:
        p.join()
    elapsed = max(seconds, time.perf_counter() - started - 0.5)  # process start-up is not load
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {"requests": len(latencies), "rps": len(latencies) / seconds, "p50": pick(0.5), "p99": pick(0.99),
            "elapsed": elapsed}  # fmt: skip


# -- server ------------------------------------------------------------------------------------
class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=2, help="load processes")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections per process")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "db")
        repos = Repositories(store)
        config = Config(
            chains=[ChainConfig(id=CHAIN, name="Bench", rpc=["http://127.0.0.1:9"], bech32_prefix="cosmos",
                                denoms=[Denom(base="uatom", display="ATOM", exponent=6)])]
        )  # fmt: skip
        services = Services.build(
            config, repos, SubscriptionMatcher(), Outbox(store),
            passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
        )  # fmt: skip
        account, token, sub = asyncio.run(_setup(services))
        t0 = time.perf_counter()
        seed(repos, account.id, sub.id, args.notifications)
        print(f"seeded {args.notifications} notifications in {time.perf_counter() - t0:.1f} s")

        app = create_app(lambda: Readiness(ready=True, checks={}), services, api_config=config.api)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = _Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)

        runs = [
            ("GET /health (baseline)", "/health"),
            ("GET /v1/notifications (limit 50)", "/v1/notifications"),
            ("GET /v1/notifications?limit=200", "/v1/notifications?limit=200"),
            ("GET /v1/notifications?chain_id=...", f"/v1/notifications?chain_id={CHAIN}"),
        ]
        measure(port, "/health", token, clients=1, connections=4, seconds=1.0)  # warm-up
        results = []
        for label, path in runs:
            r = measure(port, path, token, clients=args.clients, connections=args.connections, seconds=args.seconds)
            results.append((label, r))
        base = results[0][1]["rps"]
        print(f"\n{args.clients} load processes x {args.connections} connections, {args.seconds:.0f} s each\n")
        print(f"{'request':40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs /health':>11}")
        for label, r in results:
            print(f"{label:40} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps'] / base:10.2f}x")
        server.should_exit = True
        thread.join(5)
        store.close()


if __name__ == "__main__":
    main()

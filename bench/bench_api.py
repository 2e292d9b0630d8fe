"""REST API benchmark: first page of `GET /v1/notifications` with 100k notifications stored.

The product app (real services, real RocksDB in a temp dir) and a bare Litestar app (one route,
no middleware, no auth, returning the same page's JSON from memory) run side by side in this
process, each on 127.0.0.1 under the server `mempools serve` uses (mempools/http_server.py).
Both are loaded by the same generator in the same run: wrk (64 connections, 1 thread) when it
is installed, pinned to another CPU than the server when there are two; otherwise (said so
loudly) this file's own multi-process keep-alive client. Figures: requests per second, p50/p99
latency, the ratio to the bare page, and the server's CPU time per request (this process's CPU
time over the requests served: the load runs in other processes), which a busy neighbour on the
machine disturbs far less than the rates. A benchmark never fails on a timing.

    .venv/bin/python bench/bench_api.py [--notifications 100000] [--seconds 5] [--connections 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
import uvicorn
from argon2 import PasswordHasher
from litestar import Litestar, get

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
from mempools.http_server import uvicorn_config

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


# -- baseline: the same page from memory -------------------------------------------------------
def bare_app(page: bytes) -> Litestar:
    """A bare Litestar app whose one route returns `page` (decoded once) for Litestar to encode:
    what the product's page would cost with no store, no auth and no middleware."""
    body: dict[str, object] = msgspec.json.decode(page)

    @get("/page", sync_to_thread=False)
    def serve_page() -> dict[str, object]:
        return body

    return Litestar(route_handlers=[serve_page], logging_config=None, openapi_config=None)


# -- load generator: wrk ----------------------------------------------------------------------
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk_measure(port: int, path: str, token: str, *, connections: int, seconds: float, cpu: int | None) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
               "-H", f"Authorization: Bearer {token}", "-H", "Accept-Encoding: identity",
               f"http://127.0.0.1:{port}{path}"]  # fmt: skip
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{path}: {errors.group(1)} error responses\n{out}")
    return {"rps": rps, "p50": _ms(pct["50"]), "p99": _ms(pct["99"])}


# -- load generator: fallback (separate processes) -------------------------------------------
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


def own_measure(port: int, path: str, token: str, *, connections: int, seconds: float, clients: int = 2) -> dict:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    per = max(1, connections // clients)
    procs = [ctx.Process(target=_client, args=(port, path, token, per, seconds, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    latencies: list[float] = []
    for _ in procs:
        latencies += out.get()
    for p in procs:
        p.join()
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {"rps": len(latencies) / seconds, "p50": pick(0.5), "p99": pick(0.99)}


# -- servers ----------------------------------------------------------------------------------
class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


def serve(app: object, config: Config) -> tuple[int, _Server, threading.Thread]:
    """`app` under the product's server configuration, in a thread of its own, on a free port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn_config(app, config.api, lifespan="off", loop="asyncio"))  # as `mempools serve`
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return sock.getsockname()[1], server, thread


def fetch(port: int, path: str, token: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                     "Accept-Encoding: identity\r\nConnection: close\r\n\r\n".encode())  # fmt: skip
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is shown")
    parser.add_argument("--own-client", action="store_true", help="use the built-in client even if wrk is here")
    parser.add_argument("--no-page-cache", action="store_true", help="read every page's records from RocksDB")
    args = parser.parse_args()

    use_wrk = shutil.which("wrk") is not None and not args.own_client
    cpus = sorted(os.sched_getaffinity(0))
    wrk_cpu: int | None = None
    if use_wrk and len(cpus) >= 2:
        wrk_cpu = cpus[-1]
        os.sched_setaffinity(0, set(cpus[:-1]))  # the server (and its threads) apart from wrk
    if not use_wrk:
        print("*** wrk is not installed (apt-get install wrk): using the built-in multi-process client, "
              "whose figures are lower and not comparable with wrk's ***")  # fmt: skip

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
        if args.no_page_cache:
            repos.notifications._page_cache = None  # what a page costs the first time it is read
        account, token, sub = asyncio.run(_setup(services))
        t0 = time.perf_counter()
        seed(repos, account.id, sub.id, args.notifications)
        print(f"seeded {args.notifications} notifications in {time.perf_counter() - t0:.1f} s")

        app = create_app(lambda: Readiness(ready=True, checks={}), services, api_config=config.api)
        port, server, thread = serve(app, config)
        page = fetch(port, "/v1/notifications", token)
        bare_port, bare_server, bare_thread = serve(bare_app(page), config)
        assert len(fetch(bare_port, "/page", token)) == len(page), "the bare page must be the same size"

        runs = [
            ("bare Litestar: the same page from memory", bare_port, "/page"),
            ("GET /v1/notifications (first page, 50)", port, "/v1/notifications"),
            ("GET /health", port, "/health"),
            ("GET /v1/notifications?limit=200", port, "/v1/notifications?limit=200"),
            ("GET /v1/notifications?chain_id=...", port, f"/v1/notifications?chain_id={CHAIN}"),
        ]

        def measure(p: int, path: str, seconds: float) -> dict:
            cpu0 = time.process_time()  # this process is the servers: the load runs in others
            if use_wrk:
                r = wrk_measure(p, path, token, connections=args.connections, seconds=seconds, cpu=wrk_cpu)
            else:
                r = own_measure(p, path, token, connections=args.connections, seconds=seconds)
            r["cpu_us"] = (time.process_time() - cpu0) / (r["rps"] * seconds) * 1e6
            return r

        measure(bare_port, "/page", 1.0)  # warm-up
        measure(port, "/v1/notifications", 1.0)
        rounds: dict[str, list[dict]] = {label: [] for label, _, _ in runs}
        for _ in range(args.rounds):  # interleaved: a neighbour's load spreads over every line
            for label, p, path in runs:
                rounds[label].append(measure(p, path, args.seconds))
        # Per line, the round with the median throughput (its latencies with it).
        results = [(label, sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]) for label, rs in rounds.items()]
        base = results[0][1]["rps"]
        how = f"wrk, 1 thread, pinned to CPU {wrk_cpu}" if use_wrk and wrk_cpu is not None else (
            "wrk, 1 thread" if use_wrk else "built-in client, 2 processes")  # fmt: skip
        loop = server.config.loop
        server_cpus = sorted(os.sched_getaffinity(0))
        print(f"\npage: {len(page)} bytes; {args.connections} connections; median of {args.rounds} rounds "
              f"of {args.seconds:g} s; {how}; server on CPUs {server_cpus}, {loop} loop\n")  # fmt: skip
        print(f"{'request':44} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs bare':>8} {'CPU us/req':>11}")
        for label, r in results:
            print(f"{label:44} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps'] / base:7.2f}x "
                  f"{r['cpu_us']:11.0f}")  # fmt: skip
        for s, t in ((server, thread), (bare_server, bare_thread)):
            s.should_exit = True
            t.join(5)
        store.close()


if __name__ == "__main__":
    main()

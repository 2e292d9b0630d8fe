"""`mempools demo`: a devnet, the server and a webhook receiver; notifications scroll by."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from core.config import LoggingConfig
from mempools.demo import run_demo
from mempools.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="see mempools work offline in one command (no accounts, no tokens)")
    parser.add_argument("--port", type=int, default=8080, help="API port (0 picks a free one; default 8080)")
    parser.add_argument("--data", metavar="DIR", help="keep the demo's data here (default: a temp dir)")
    parser.add_argument("--block-time", type=float, default=1.0, help="seconds between devnet blocks")
    parser.add_argument("--seconds", type=float, default=None, help="stop by itself after this long")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    setup_logging(LoggingConfig(level="WARNING"))
    return asyncio.run(_run(args))


async def _run(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.seconds is not None:
        loop.call_later(args.seconds, stop.set)
    data = Path(args.data) if args.data else None
    return await run_demo(stop, data=data, port=args.port, block_time=args.block_time)

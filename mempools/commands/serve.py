"""`mempools serve`: run everything configured, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from core.config import Config, load_config
from mempools.logs import setup_logging
from mempools.runtime import Runtime


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the API, watchers, dispatcher and bots")
    parser.add_argument("--config", metavar="PATH", help="TOML config file (default: built-in defaults)")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(config.logging)
    asyncio.run(_run(config))
    return 0


async def _open(config: Config) -> Runtime:
    """The runtime; in cluster mode after a first attempt to join, so that a NATS server cluster mode
    cannot use is refused (one line, exit 2) before anything is opened. An unreachable one is not
    final: the node starts, answers /ready 503 with the reason, and keeps trying.

    The cluster code is imported here, not at the top: a single node never loads the NATS client.
    """
    if config.cluster is None:
        return Runtime.open(config)
    from core.cluster.node import ClusterNode

    connection = await ClusterNode.first_join(config.cluster)
    return Runtime.open(config, connection=connection)


async def _run(config: Config) -> None:
    runtime = await _open(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.run(stop)

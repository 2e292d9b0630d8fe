"""`mempools serve`: run everything configured, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal

from core.config import ClusterConfig, load_config
from core.errors import ClusterError
from mempools.logs import setup_logging
from mempools.runtime import Runtime


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the API, watchers, dispatcher and bots")
    parser.add_argument("--config", metavar="PATH", help="TOML config file (default: built-in defaults)")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    setup_logging(config.logging)
    if config.cluster is not None:
        _refuse_cluster_mode(config.cluster)
    runtime = Runtime.open(config)
    asyncio.run(_run(runtime))
    return 0


def _refuse_cluster_mode(cluster: ClusterConfig) -> None:
    """Check the cluster (a too-old server or a dropped setting is refused), then say it cannot run yet.

    Imported here, not at the top: a single node must never load the NATS client.
    """
    from core.cluster.startup import NOT_COMPLETE, prepare_cluster

    asyncio.run(prepare_cluster(cluster))
    raise ClusterError(NOT_COMPLETE)


async def _run(runtime: Runtime) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await runtime.run(stop)

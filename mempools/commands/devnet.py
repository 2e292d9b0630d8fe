"""`mempools devnet`: a local CometBFT RPC node with generated (or replayed) blocks and fault knobs.

Used for offline demos, trying subscriptions, tests and benchmarks. Runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from core.errors import ValidationError
from mempools.devnet import ChainConfig, DevnetChain, DevnetServer, Faults


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction between 0 and 1")
    return value


def _rate_text(text: str) -> str:
    _rate(text)
    return text


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "devnet",
        help="run a local CometBFT RPC node with generated blocks (offline demos, tests)",
        description="Serve /status, /block, /block_results and websocket NewBlock on loopback. "
        "Also /validators and the Cosmos REST paths of staking, slashing and gov. Control: POST /devnet/inject, "
        "/devnet/advance, /devnet/warp, /devnet/validators/{action}, /devnet/gov/proposals, /devnet/gov/votes; "
        "GET|POST /devnet/faults. See docs/DEVNET.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument(
        "--port",
        type=_non_negative_int,
        default=26657,
        help="0 picks a free port (default: %(default)s, as a node's RPC)",
    )
    p.add_argument("--chain-id", default="devnet-1", help="the chain id it reports (default: %(default)s)")
    p.add_argument("--prefix", default="cosmos", help="bech32 prefix of addresses (default: %(default)s)")
    p.add_argument("--denom", default="uatom", help="base denom of generated amounts (default: %(default)s)")
    p.add_argument(
        "--block-time",
        type=_non_negative_float,
        default=1.0,
        help="seconds per block; 0 = blocks only via /devnet/advance or --on-demand (default: %(default)s)",
    )
    p.add_argument(
        "--txs-per-block",
        type=_non_negative_int,
        default=5,
        help="transactions generated per block (default: %(default)s)",
    )
    p.add_argument(
        "--history", type=_non_negative_int, default=0, help="blocks available at start (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="same seed, same chain (default: %(default)s)")
    p.add_argument(
        "--validators",
        type=_positive_int,
        default=4,
        help="validators in the set, with commit signatures (default: %(default)s)",
    )
    p.add_argument(
        "--gov-version",
        choices=("v1", "v1beta1"),
        default="v1",
        help="v1: SDK 0.50 gov events and REST; v1beta1: SDK 0.45 (default: %(default)s)",
    )
    p.add_argument(
        "--signed-blocks-window",
        type=_positive_int,
        default=100,
        help="x/slashing signed_blocks_window (default: %(default)s)",
    )
    p.add_argument(
        "--min-signed-per-window",
        type=_rate_text,
        default="0.5",
        help="x/slashing min_signed_per_window, a decimal fraction (default: %(default)s)",
    )
    p.add_argument("--on-demand", action="store_true", help="every /status call makes one new block")
    p.add_argument(
        "--replay",
        action="append",
        default=[],
        metavar="FILE[@HEIGHT]",
        help="serve a recorded /block_results JSON at HEIGHT (default: the next height)",
    )
    faults = p.add_argument_group("faults")
    faults.add_argument(
        "--latency-ms",
        type=_non_negative_float,
        default=0.0,
        help="milliseconds added to every answer (default: %(default)s)",
    )
    faults.add_argument("--error-rate", type=_rate, default=0.0, help="fraction answered 503 (default: %(default)s)")
    faults.add_argument("--timeout-rate", type=_rate, default=0.0, help="fraction that hang (default: %(default)s)")
    faults.add_argument(
        "--truncate-rate", type=_rate, default=0.0, help="fraction with truncated JSON (default: %(default)s)"
    )
    faults.add_argument(
        "--prune-below", type=_non_negative_int, default=0, help="heights below are pruned (default: %(default)s, none)"
    )
    faults.add_argument("--lag", type=_non_negative_int, default=0, help="report tip minus N (default: %(default)s)")
    faults.add_argument(
        "--wrong-chain-id", default=None, help="claim to be this chain instead (default: the real chain id)"
    )
    faults.add_argument(
        "--rest-failing",
        action="append",
        default=[],
        metavar="PATH_PREFIX",
        help="REST paths starting with this answer 500, e.g. /cosmos/gov; repeatable (default: none)",
    )
    p.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    if args.error_rate + args.timeout_rate + args.truncate_rate > 1.0:
        print("mempools: --error-rate + --timeout-rate + --truncate-rate must not exceed 1", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    chain = DevnetChain(
        ChainConfig(
            chain_id=args.chain_id,
            prefix=args.prefix,
            denom=args.denom,
            block_time=args.block_time,
            txs_per_block=args.txs_per_block,
            history=args.history,
            seed=args.seed,
            validators=args.validators,
            gov_version=args.gov_version,
            signed_blocks_window=args.signed_blocks_window,
            min_signed_per_window=args.min_signed_per_window,
        )
    )
    for spec in args.replay:
        path, _, at = spec.partition("@")
        try:
            height = chain.replay(Path(path).read_bytes(), int(at) if at else None)
        except (OSError, ValueError, ValidationError) as exc:
            print(f"mempools: cannot replay {spec}: {exc}", file=sys.stderr)
            return 2
        print(f"replaying {path} at height {height}", flush=True)
    faults = Faults(
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        truncate_rate=args.truncate_rate,
        prune_below=args.prune_below,
        lag=args.lag,
        wrong_chain_id=args.wrong_chain_id,
        rest_failing=set(args.rest_failing),
    )
    server = DevnetServer(chain, faults=faults, host=args.host, port=args.port, on_demand=args.on_demand)
    try:
        asyncio.run(_run(server))
    except OSError as exc:
        print(f"mempools: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run(server: DevnetServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    chain = server.chain
    print(
        f"devnet {chain.config.chain_id} serving {server.url} (websocket {server.ws_url}), "
        f"tip {chain.tip}, block time {chain.config.block_time}s; Ctrl-C to stop",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await server.stop()
        print("devnet stopped", flush=True)

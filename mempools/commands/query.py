"""`mempools query`: check, evaluate and generate CometBFT queries from the shell.

    mempools query check "QUERY"      exit 0 + normalised form on stdout, or exit 2 + the
                                      positioned error and a caret line on stderr
    mempools query eval               JSON lines in ({"query", "events"}), one JSON line out per
                                      line in, in order, flushed: {"match": bool} or {"error": str}
    mempools query presets            the presets and their parameters
    mempools query preset NAME k=v..  the queries (and post-filter) a preset generates;
      [--chain ID [--config PATH]]    for a configured chain (its bech32 prefix and denoms),
                                      exactly what POST /v1/subscriptions builds for it; a
                                      validator is looked up on the chain (its REST endpoint),
                                      so one that is not there is refused, and a monitor
                                      preset prints its watch

`eval` never stops on a bad line: an invalid query, malformed JSON, a wrong shape and a blank
line each answer `{"error": ...}`, so output line N always answers input line N.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import IO

import msgspec

from core.chain.queries import NodeQueries
from core.chain.rest import ChainRestClient
from core.chain.validators import ValidatorSet
from core.config import load_config
from core.errors import ConfigError, UpstreamError, ValidationError
from core.monitor.models import ValidatorWatch
from core.query.compiler import CompiledQuery, compile_query
from core.query.errors import QuerySyntaxError
from core.query.parser import MAX_QUERY_LENGTH, parse
from core.query.presets import PRESETS, ChainLike, get_preset
from core.services.validators import ValidatorDirectory, ValidatorIdentity, resolved_watch


class _EvalLine(msgspec.Struct):
    query: str
    events: dict[str, list[str]]


class _Prefix(msgspec.Struct, frozen=True):
    """A chain known only by its bech32 prefix (`--prefix`): no denoms."""

    bech32_prefix: str
    denoms: tuple[object, ...] = ()


def _chain(args: argparse.Namespace) -> ChainLike | None:
    """The chain the preset is built for; `ValidationError` / `ConfigError` if it cannot be had."""
    if args.chain is None:
        if args.config is not None:
            raise ValidationError("--config: only used with --chain")
        return _Prefix(bech32_prefix=args.prefix) if args.prefix else None
    config = load_config(args.config)
    chain = config.chain(args.chain)
    if chain is None:
        raise ValidationError(
            f"--chain: unknown chain {args.chain!r}; configured: {', '.join(c.id for c in config.chains)}"
        )
    return chain.to_chain()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("query", help="check, evaluate and generate CometBFT queries")
    qsub = parser.add_subparsers(dest="query_command", metavar="SUBCOMMAND")
    qsub.required = True

    check = qsub.add_parser("check", help="validate a query and print its normalised form")
    check.add_argument("query", help="the query text, e.g. \"tm.event = 'Tx'\"")
    check.add_argument(
        "--no-length-limit", action="store_true", help=f"do not apply the node's {MAX_QUERY_LENGTH}-byte limit"
    )
    check.set_defaults(handler=_check_handler)

    ev = qsub.add_parser("eval", help="evaluate JSON lines {query, events} read from stdin")
    ev.set_defaults(handler=lambda args: run_eval(sys.stdin.buffer, sys.stdout.buffer))

    presets = qsub.add_parser("presets", help="list the presets and their parameters")
    presets.set_defaults(handler=lambda args: _list_presets(sys.stdout))

    preset = qsub.add_parser("preset", help="print the queries a preset generates")
    preset.add_argument("name", help="preset name (see `mempools query presets`)")
    preset.add_argument("params", nargs="*", metavar="KEY=VALUE", help="preset parameters")
    where = preset.add_mutually_exclusive_group()
    where.add_argument(
        "--chain", metavar="ID", help="a configured chain: checks addresses and reads display denoms (ATOM) as it"
    )
    where.add_argument("--prefix", help="only the chain's bech32 prefix, to check addresses (e.g. osmo)")
    preset.add_argument("--config", metavar="PATH", help="TOML config file for --chain (default: built-in defaults)")
    preset.set_defaults(handler=_preset_handler)


def run_check(text: str, out: IO[str], err: IO[str], *, max_length: int | None = MAX_QUERY_LENGTH) -> int:
    try:
        query = parse(text, max_length=max_length)
    except QuerySyntaxError as exc:
        print(f"invalid query: {exc}", file=err)
        print(exc.caret_lines, file=err)
        return 2
    print(query, file=out)
    return 0


def _check_handler(args: argparse.Namespace) -> int:
    return run_check(args.query, sys.stdout, sys.stderr, max_length=None if args.no_length_limit else MAX_QUERY_LENGTH)


@lru_cache(maxsize=256)
def _compiled(text: str) -> CompiledQuery | QuerySyntaxError:
    try:
        return compile_query(text)
    except QuerySyntaxError as exc:
        return exc


_DECODER = msgspec.json.Decoder(_EvalLine)
_ENCODER = msgspec.json.Encoder()


def eval_line(line: bytes) -> dict[str, object]:
    """The answer to one input line (without its line break)."""
    if not line.strip():
        return {"error": 'blank line: expected a JSON object {"query": ..., "events": ...}'}
    try:
        req = _DECODER.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return {"error": f"malformed line: {exc}"}
    compiled = _compiled(req.query)
    if isinstance(compiled, QuerySyntaxError):
        return {"error": f"invalid query: {compiled}"}
    return {"match": compiled.matches(req.events)}


def run_eval(inp: Iterable[bytes], out: IO[bytes]) -> int:
    """Answer every line of `inp` on `out`, one JSON line each, flushed as it goes."""
    for raw in inp:
        out.write(_ENCODER.encode(eval_line(raw.rstrip(b"\r\n"))) + b"\n")
        out.flush()
    return 0


def _list_presets(out: IO[str]) -> int:
    for p in PRESETS.values():
        print(f"{p.name}: {p.title}", file=out)
        print(f"    {p.description}", file=out)
        for param in p.params:
            need = "required" if param.required else "optional"
            choices = f" ({'|'.join(param.choices)})" if param.choices else ""
            print(f"    {param.name} [{param.type}, {need}]{choices}: {param.help}", file=out)
    return 0


def _preset_handler(args: argparse.Namespace) -> int:
    params: dict[str, str] = {}
    for item in args.params:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"mempools: parameter {item!r} is not KEY=VALUE", file=sys.stderr)
            return 2
        params[key] = value
    try:
        chain = _chain(args)
        found = None
        if args.chain is not None and _names_a_validator(args.name, params) and _has_rest(args):
            # looked up on the chain: one that is not there is refused
            params, found = asyncio.run(_resolve(args, params))
        result = get_preset(args.name).compile(params, chain)
    except (ValidationError, ConfigError) as exc:
        print(f"mempools: {exc}", file=sys.stderr)
        return 2
    except UpstreamError as exc:
        print(f"mempools: {exc}", file=sys.stderr)
        return 1
    if found is not None:
        print(f"validator: {found.moniker} ({found.operator}, {found.consensus})", file=sys.stderr)
    for q in result.queries:
        print(q)
    if result.post_filter is not None:
        print("post-filter: " + msgspec.json.encode(result.post_filter).decode())
    if result.monitor is not None:
        watch = result.monitor
        if found is not None and isinstance(watch, ValidatorWatch):
            watch = resolved_watch(watch, found)
        print("watch: " + msgspec.json.encode(watch).decode())
    return 0


def _has_rest(args: argparse.Namespace) -> bool:
    chain_config = load_config(args.config).chain(args.chain)
    return chain_config is not None and bool(chain_config.rest)


def _names_a_validator(preset: str, params: dict[str, str]) -> bool:
    kinds = ("valoper", "valcons", "validator")
    return any(p.type in kinds and params.get(p.name) for p in get_preset(preset).params)


async def _resolve(args: argparse.Namespace, params: dict[str, str]) -> tuple[dict[str, str], ValidatorIdentity | None]:
    """`params` with the validator found on `--chain` (through its REST endpoint, if configured)."""
    config = load_config(args.config)
    chain_config = config.chain(args.chain)
    assert chain_config is not None  # _chain checked it
    rest = ChainRestClient(chain_config.rest)

    async def no_sets(height: int) -> ValidatorSet:
        raise ValidationError("validator sets are not needed here")

    queries = NodeQueries(chain_config.id, no_sets, rest)
    try:
        directory = ValidatorDirectory(lambda _chain_id: queries)
        return await directory.normalise_params(args.name, params, chain_config.to_chain())
    finally:
        await queries.aclose()

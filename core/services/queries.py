"""Query tools: check a query's syntax, or try it on a real block of a chain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import msgspec

from core.chain.blocks import DecodedBlock, Event, Scope
from core.chain.errors import HeightNotAvailable, RpcError
from core.errors import ValidationError
from core.query.compiler import compile_query
from core.query.filters import TransferFilter
from core.query.parser import normalize
from core.services.chains import ChainService
from core.services.errors import UnavailableError, UpstreamError
from core.services.presets import build_preset

FetchBlock = Callable[[str, int], Awaitable[DecodedBlock]]
#: The chain's latest height, as its RPC endpoints report it.
LatestHeight = Callable[[str], Awaitable[int]]

#: A range test covers at most this many heights (each is a block fetched from the chain's RPC).
MAX_TEST_HEIGHTS = 100
#: Blocks of a range fetched at once: enough to hide round trips, few enough to spare the endpoints.
FETCH_CONCURRENCY = 8


class MatchedScope(msgspec.Struct, kw_only=True):
    kind: str
    index: int | None
    tx_hash: str | None
    code: int | None
    events: list[Event]


class QueryTestResult(msgspec.Struct, kw_only=True):
    chain_id: str
    height: int
    time: str | None
    query: str
    scopes_total: int
    matches: list[MatchedScope]


class HeightResult(msgspec.Struct, kw_only=True):
    """What the query (or preset) matched in one block; `error` when the block could not be read
    (pruned by the chain's nodes, endpoints failing): the other heights still count."""

    height: int
    time: str | None = None
    scopes_total: int = 0
    matches: list[MatchedScope] = []
    error: str | None = None


class QueryTestRun(msgspec.Struct, kw_only=True):
    """A test on the latest block or a range, or of a preset: per height, in ascending order."""

    chain_id: str
    preset: str | None
    # What was tested, canonical (a preset's as `POST /v1/subscriptions` would store them); a
    # scope matches when any query does and the post-filter, if any, accepts it.
    queries: list[str]
    post_filter: TransferFilter | None
    results: list[HeightResult]
    matched_heights: list[int]


def _exactly_one_height(height: int | None, latest: bool, height_from: int | None, height_to: int | None) -> None:
    given = (height is not None) + latest + (height_from is not None or height_to is not None)
    if given != 1:
        raise ValidationError(
            "height, latest, height_from/height_to: give exactly one of them "
            "(a height, latest: true, or a range from height_from to height_to)"
        )
    if (height_from is None) != (height_to is None):
        raise ValidationError("height_from, height_to: a range needs both")
    if height_from is not None and height_to is not None:
        if height_from < 1 or height_from > height_to:
            raise ValidationError("height_from: must be at least 1 and not above height_to")
        if height_to - height_from + 1 > MAX_TEST_HEIGHTS:
            raise ValidationError(
                f"height_from, height_to: at most {MAX_TEST_HEIGHTS} heights at once "
                f"(asked for {height_to - height_from + 1})"
            )
    if height is not None and height < 1:
        raise ValidationError("height: must be at least 1")


class QueryService:
    """`check` is pure; `test` and `run` fetch blocks through `fetch_block(chain_id, height)`,
    and `run` asks `latest_height(chain_id)` for `latest`."""

    def __init__(
        self, chains: ChainService, fetch_block: FetchBlock | None = None, latest_height: LatestHeight | None = None
    ) -> None:
        self._chains = chains
        self._fetch_block = fetch_block
        self._latest_height = latest_height

    def check(self, query: str) -> str:
        """The canonical text, or `QuerySyntaxError` with the position of the problem."""
        return normalize(query)

    async def test(self, chain_id: str, query: str, height: int) -> QueryTestResult:
        compiled = compile_query(query)
        self._chains.require(chain_id)
        if height < 1:
            raise ValidationError("height: must be at least 1")
        if self._fetch_block is None:
            raise UnavailableError("testing against a block is not available in this process")
        try:
            block = await self._fetch_block(chain_id, height)
        except HeightNotAvailable as exc:
            raise ValidationError(f"height {height} is not available from {chain_id}'s RPC endpoints: {exc}") from None
        except RpcError as exc:
            raise UpstreamError(f"{chain_id}'s RPC endpoints could not serve block {height}: {exc}") from None
        matches = [
            MatchedScope(kind=s.kind, index=s.index, tx_hash=s.tx_hash, code=s.code, events=list(s.events))
            for s in block.scopes
            if compiled.matches(s.events_map)
        ]
        return QueryTestResult(
            chain_id=chain_id,
            height=block.height,
            time=block.time,
            query=compiled.text,
            scopes_total=len(block.scopes),
            matches=matches,
        )

    async def run(
        self,
        chain_id: str,
        *,
        query: str | None = None,
        preset: str | None = None,
        params: Mapping[str, str] | None = None,
        height: int | None = None,
        latest: bool = False,
        height_from: int | None = None,
        height_to: int | None = None,
    ) -> QueryTestRun:
        """Test `query`, or the queries and post-filter preset `preset` builds from `params`, on
        one height, the latest block, or `height_from`..`height_to` (at most MAX_TEST_HEIGHTS).

        Exactly one of query/preset and one of height/latest/range, else a ValidationError
        saying so. Blocks are fetched FETCH_CONCURRENCY at a time; a height that cannot be read
        is reported in its result (an UpstreamError only when no height could be read at all
        because the endpoints failed).
        """
        if (query is None) == (preset is None):
            raise ValidationError("query, preset: give exactly one of them (a CometBFT query, or a preset and params)")
        if params is not None and preset is None:
            raise ValidationError("params: only with a preset")
        _exactly_one_height(height, latest, height_from, height_to)
        chain = self._chains.require(chain_id)
        if preset is not None:
            built = build_preset(preset, params or {}, chain)
            if built.monitor is not None:
                raise ValidationError(
                    f"preset: {preset} keeps state across blocks (docs/MONITORING.md), so one block cannot "
                    "show what it would tell; subscribe to it, or test a query preset"
                )
            queries, post_filter = built.queries, built.post_filter
        else:
            assert query is not None
            queries, post_filter = [normalize(query)], None
        compiled = [compile_query(q) for q in queries]
        if self._fetch_block is None:
            raise UnavailableError("testing against a block is not available in this process")
        if latest:
            heights = [await self._latest(chain_id)]
        elif height is not None:
            heights = [height]
        else:
            assert height_from is not None and height_to is not None
            heights = list(range(height_from, height_to + 1))

        def matches(scope: Scope) -> bool:
            return any(c.matches(scope.events_map) for c in compiled) and (
                post_filter is None or post_filter.matches(scope.events_map)
            )

        results = await self._blocks(chain_id, heights, matches)
        if all(r.error is not None and not r.error.startswith("not available") for r in results):
            raise UpstreamError(f"{chain_id}'s RPC endpoints could not serve the blocks: {results[0].error}")
        return QueryTestRun(
            chain_id=chain.id,
            preset=preset,
            queries=queries,
            post_filter=post_filter,
            results=results,
            matched_heights=[r.height for r in results if r.matches],
        )

    async def _latest(self, chain_id: str) -> int:
        if self._latest_height is None:
            raise UnavailableError("the latest height is not available in this process")
        try:
            return await self._latest_height(chain_id)
        except RpcError as exc:
            raise UpstreamError(f"{chain_id}'s RPC endpoints could not say their latest height: {exc}") from None

    async def _blocks(
        self, chain_id: str, heights: Sequence[int], matches: Callable[[Scope], bool]
    ) -> list[HeightResult]:
        fetch = self._fetch_block
        assert fetch is not None
        room = asyncio.Semaphore(FETCH_CONCURRENCY)

        async def one(height: int) -> HeightResult:
            async with room:
                try:
                    block = await fetch(chain_id, height)
                except HeightNotAvailable as exc:
                    return HeightResult(height=height, error=f"not available from {chain_id}'s RPC endpoints: {exc}")
                except RpcError as exc:
                    return HeightResult(height=height, error=f"{chain_id}'s RPC endpoints could not serve it: {exc}")
            found = [
                MatchedScope(kind=s.kind, index=s.index, tx_hash=s.tx_hash, code=s.code, events=list(s.events))
                for s in block.scopes
                if matches(s)
            ]
            return HeightResult(height=block.height, time=block.time, scopes_total=len(block.scopes), matches=found)

        return list(await asyncio.gather(*(one(h) for h in heights)))

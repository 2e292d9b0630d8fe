"""Query tools: check a query's syntax, or try it on a real block of a chain."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from core.chain.blocks import DecodedBlock, Event
from core.chain.errors import HeightNotAvailable, RpcError
from core.errors import ValidationError
from core.query.compiler import compile_query
from core.query.parser import normalize
from core.services.chains import ChainService
from core.services.errors import UnavailableError, UpstreamError

FetchBlock = Callable[[str, int], Awaitable[DecodedBlock]]


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


class QueryService:
    """`check` is pure; `test` fetches the block through `fetch_block(chain_id, height)`."""

    def __init__(self, chains: ChainService, fetch_block: FetchBlock | None = None) -> None:
        self._chains = chains
        self._fetch_block = fetch_block

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

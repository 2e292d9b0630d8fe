"""The chains this instance watches, with their progress (public)."""

from __future__ import annotations

from litestar import get

from api.deps import ChainsDep
from api.pagination import ChainPage


@get("/v1/chains", tags=["chains"])
async def list_chains(chains: ChainsDep) -> ChainPage:
    """Configured chains, in one page: id, name, bech32 prefix, denoms, processed height, tip, lag and status."""
    return ChainPage(items=chains.list(), next_cursor=None)


HANDLERS = [list_chains]

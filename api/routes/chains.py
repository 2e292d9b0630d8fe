"""The chains this instance watches, with their progress (public)."""

from __future__ import annotations

from litestar import get

from api.deps import ChainsDep
from core.services.chains import ChainInfo


@get("/v1/chains", tags=["chains"])
async def list_chains(chains: ChainsDep) -> list[ChainInfo]:
    """Configured chains: id, name, bech32 prefix, denoms, processed height, tip, lag and status."""
    return chains.list()


HANDLERS = [list_chains]

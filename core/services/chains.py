"""The configured chains and how far each watcher has got."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

import msgspec

from core.config import ChainConfig
from core.errors import NotFoundError, ValidationError
from core.models import Chain, Denom

ChainStatus = Literal["ok", "lagging", "starting", "unreachable", "not_watched"]


class ChainProgress(Protocol):
    """What a watcher reports (`core.watch.watcher.WatcherStats` fits)."""

    cursor: int
    tip: int
    last_error: str | None  # why the last request for the tip failed; None once one answered


class RecordedProgress(msgspec.Struct):
    """A chain's progress as its stored cursor tells it: what a cluster node that does not watch
    the chain itself shows (the watching node writes the cursor, with the tip it knew, at every commit)."""

    cursor: int
    tip: int
    last_error: str | None = None


StatsProvider = Callable[[str], ChainProgress | None]


class ChainInfo(msgspec.Struct, kw_only=True):
    id: str
    name: str
    bech32_prefix: str
    denoms: list[Denom]
    explorer_tx_url: str | None
    height: int | None
    tip: int | None
    lag: int | None
    status: ChainStatus
    #: What is wrong when `status` is "unreachable": no endpoint has answered yet, and why.
    status_detail: str | None = None
    #: Queries validator and governance monitoring needs that fail now, each "query: why"
    #: (blocks are still watched and delivered; what the answers would tell is skipped).
    monitoring_problems: list[str] = []


class ChainService:
    """Read-only: chains come from the config; progress from `stats(chain_id)` (the watchers)."""

    def __init__(
        self,
        chains: Sequence[ChainConfig],
        stats: StatsProvider | None = None,
        monitoring_problems: Callable[[str], Mapping[str, str]] | None = None,
    ) -> None:
        self._configs = {c.id: c for c in chains}
        self._chains = {c.id: c.to_chain() for c in chains}
        self._stats = stats
        self._problems = monitoring_problems

    def ids(self) -> list[str]:
        return list(self._chains)

    def find(self, chain_id: str) -> Chain | None:
        """The configured chain, or None (a notification of a chain removed from the config)."""
        return self._chains.get(chain_id)

    def require(self, chain_id: str) -> Chain:
        """The chain, or a ValidationError naming the chains that exist (for create requests)."""
        chain = self._chains.get(chain_id)
        if chain is None:
            known = ", ".join(self._chains) or "none"
            raise ValidationError(f"chain_id: {chain_id!r} is not a configured chain (configured: {known})")
        return chain

    def info(self, chain_id: str) -> ChainInfo:
        chain = self._chains.get(chain_id)
        if chain is None:
            raise NotFoundError("chain not found")
        progress = self._stats(chain_id) if self._stats is not None else None
        height = tip = lag = None
        status: ChainStatus = "not_watched"
        detail: str | None = None
        if progress is not None:
            height, tip = progress.cursor, progress.tip
            lag = max(0, tip - height)
            if tip == 0 and progress.last_error is not None:
                # Offline or a wrong URL: "starting" forever would hide it.
                status, detail = "unreachable", f"no RPC endpoint answered yet: {progress.last_error}"
            elif tip == 0:
                status = "starting"  # the first request has not failed (yet)
            elif lag > self._configs[chain_id].lag_budget_blocks:
                status = "lagging"
            else:
                status = "ok"
        return ChainInfo(
            id=chain.id,
            name=chain.name,
            bech32_prefix=chain.bech32_prefix,
            denoms=list(chain.denoms),
            explorer_tx_url=chain.explorer_tx_url,
            height=height,
            tip=tip,
            lag=lag,
            status=status,
            status_detail=detail,
            monitoring_problems=[
                f"{query}: {why}" for query, why in (self._problems(chain_id) if self._problems else {}).items()
            ],
        )

    def list(self) -> list[ChainInfo]:
        return [self.info(chain_id) for chain_id in self._chains]

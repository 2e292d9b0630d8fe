"""Presets for the front doors: what each one asks for, and what it would build for a chain.

The REST API (`GET /v1/presets`, `POST /v1/presets/{name}/preview`) and a console form read the
presets through here, never `core.query.presets` directly, so a preview is built by the very code
that `SubscriptionService.create` builds a subscription with (`Preset.compile`, then
`normalise_queries`): a preview is exactly the subscription's queries and post-filter, for the
same chain (tests/test_api_presets.py compares the two).
"""

from __future__ import annotations

from collections.abc import Mapping

from msgspec import Struct

from core.errors import NotFoundError
from core.monitor.models import Watch
from core.query.filters import TransferFilter
from core.query.presets import PRESETS, ChainLike, PresetSpec, get_preset
from core.services.chains import ChainService
from core.services.subscriptions import normalise_queries


class PresetBuild(Struct, frozen=True, kw_only=True):
    """What a preset makes from valid params: canonical queries and the optional post-filter."""

    queries: list[str]
    post_filter: TransferFilter | None
    monitor: Watch | None = None


def build_preset(name: str, params: Mapping[str, str], chain: ChainLike | None) -> PresetBuild:
    """Validate `params` and build preset `name` for `chain` (None: no prefix or denom checks).

    `ValidationError` names the bad parameter (or the unknown preset). The queries come out in the
    canonical form a subscription stores them in (`normalise_queries`).
    """
    result = get_preset(name).compile(params, chain)
    if result.monitor is not None:  # a watch: no queries; its validator is looked up when it is made
        return PresetBuild(queries=[], post_filter=None, monitor=result.monitor)
    return PresetBuild(queries=normalise_queries(result.queries), post_filter=result.post_filter)


class PresetPreview(Struct, frozen=True, kw_only=True):
    """What `POST /v1/subscriptions` would store for this preset, params and chain."""

    preset: str
    chain_id: str | None
    queries: list[str]
    post_filter: TransferFilter | None
    monitor: Watch | None = None  # a monitor preset's watch settings (its validator not looked up yet)


class PresetService:
    """Lists the presets and previews one; pure apart from looking chains up."""

    def __init__(self, chains: ChainService) -> None:
        self._chains = chains

    def list(self) -> list[PresetSpec]:
        """Every preset, in display order."""
        return [p.spec for p in PRESETS.values()]

    def get(self, name: str) -> PresetSpec:
        """One preset's spec; `NotFoundError` for a name that is not a preset."""
        preset = PRESETS.get(name)
        if preset is None:
            raise NotFoundError("no preset of that name; GET /v1/presets lists them")
        return preset.spec

    def preview(self, name: str, params: Mapping[str, str], chain_id: str | None = None) -> PresetPreview:
        """The queries and post-filter preset `name` builds from `params` for chain `chain_id`.

        Without a chain the addresses are checked for their checksum only and an amount needs a
        base denom, as in `mempools query preset` without `--chain`.
        """
        self.get(name)
        chain = self._chains.require(chain_id) if chain_id is not None else None
        built = build_preset(name, params, chain)
        return PresetPreview(
            preset=name,
            chain_id=chain.id if chain is not None else None,
            queries=built.queries,
            post_filter=built.post_filter,
            monitor=built.monitor,
        )

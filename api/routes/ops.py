"""Liveness and readiness, for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from msgspec import Struct

from core.readiness import Readiness


class HealthBody(Struct):
    status: str


def ops_handlers(readiness: Callable[[], Readiness]) -> list[Any]:
    """`/health` and `/ready`; `readiness` is asked afresh on every call."""

    @get("/health", sync_to_thread=False, tags=["operations"])
    def health() -> HealthBody:
        """Alive: the process answers."""
        return HealthBody(status="ok")

    @get(
        "/ready",
        sync_to_thread=False,
        tags=["operations"],
        responses={503: ResponseSpec(Readiness, description="Not ready: see `checks`", generate_examples=False)},
    )
    def ready() -> Response[Readiness]:
        """Ready (200) or not (503): the store is open and each chain's watcher is within its lag budget."""
        state = readiness()
        return Response(state, status_code=200 if state.ready else 503)

    return [health, ready]

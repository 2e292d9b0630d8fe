"""Liveness and readiness, for load balancers and orchestrators (no authentication)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Response, get
from litestar.openapi.datastructures import ResponseSpec
from msgspec import Struct

from api.readiness import Readiness

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HealthBody(Struct):
    status: str


def ops_handlers(readiness: Callable[[], Readiness], metrics: Callable[[], bytes] | None = None) -> list[Any]:
    """`/health`, `/ready` and (given `metrics`) `/metrics`; each is computed afresh on every call."""

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

    handlers: list[Any] = [health, ready]
    if metrics is not None:

        @get("/metrics", sync_to_thread=False, tags=["operations"], media_type=METRICS_CONTENT_TYPE)
        def metrics_endpoint() -> Response[bytes]:
            """Prometheus metrics: blocks, lag, matches, deliveries, outbox depth, latency, gaps."""
            return Response(metrics(), media_type=METRICS_CONTENT_TYPE)

        handlers.append(metrics_endpoint)
    return handlers

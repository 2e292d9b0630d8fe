"""The Litestar application: built from core services passed in, never from globals."""

from __future__ import annotations

from collections.abc import Callable

from litestar import Litestar, Response, get
from litestar.openapi import OpenAPIConfig
from msgspec import Struct

from core.readiness import Readiness


class HealthBody(Struct):
    status: str


def create_app(readiness: Callable[[], Readiness]) -> Litestar:
    @get("/health", sync_to_thread=False, tags=["operations"])
    def health() -> HealthBody:
        """Alive: the process answers."""
        return HealthBody(status="ok")

    @get("/ready", sync_to_thread=False, tags=["operations"])
    def ready() -> Response[Readiness]:
        """Ready (200) or not (503): the store is open and each chain's watcher is within its lag budget."""
        state = readiness()
        return Response(state, status_code=200 if state.ready else 503)

    return Litestar(
        route_handlers=[health, ready],
        openapi_config=OpenAPIConfig(title="Mempools API", version="1.0.0", path="/schema"),
        logging_config=None,  # the process configures logging once, in core.logs
    )

"""The Litestar application: built from core services passed in, never from globals.

`create_app` wires the route modules to the services through Litestar's dependency injection
(`accounts`, `destinations`, ... and `caller` for authenticated handlers), and sets the
conventions every route shares: problem+json errors, a body size limit, JSON-only bodies
(forms only under `/console`, the web console: api/console/), no unknown query parameters,
compression, CORS and the OpenAPI 3.1 document at `/schema/openapi.json` (pages: api/docs.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Litestar, Request, Response
from litestar.config.compression import CompressionConfig
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.routes import HTTPRoute
from litestar.template.config import TemplateConfig

from api.auth import SESSION_COOKIE, resolve_caller
from api.console import console_router
from api.console.router import TEMPLATES_DIR, error_page
from api.csrf import OriginPolicy
from api.docs import UNCOMPRESSED, docs_plugins, docs_router, vendor_router
from api.json_depth import MAX_JSON_DEPTH, nests_deeper_than
from api.methods import HeadAsGet
from api.page_json import RecordJson
from api.problems import EXCEPTION_HANDLERS, handle_failure
from api.query_params import QueryParameterCheck
from api.readiness import Readiness
from api.routes import (
    accounts,
    address_book,
    chains,
    destinations,
    history,
    presets,
    queries,
    stream,
    subscriptions,
)
from api.routes.ops import ops_handlers
from api.schemas import request_bodies
from api.settings import ApiSettings
from api.throttle import LoginThrottle, SignupThrottle
from core.config import ApiConfig
from core.services import Services

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _has_body(request: Request[Any, Any, Any]) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


async def require_json_body(request: Request[Any, Any, Any]) -> None:
    """415 for a request body that is not JSON, 400 for JSON nested too deeply to decode safely.

    The body read here (within the size limit) is cached on the connection: the handler's
    decoder gets the same bytes without reading the stream again.
    """
    if request.method in _BODY_METHODS and _has_body(request):
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not (
            media_type.startswith("application/") and media_type.endswith("+json")
        ):
            raise HTTPException(status_code=415, detail="request body must be application/json")
        if nests_deeper_than(await request.body()):
            raise ValidationException(detail=f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def _before_request(check_query: QueryParameterCheck) -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    async def before_request(request: Request[Any, Any, Any]) -> None:
        check_query(request)
        await require_json_body(request)

    return before_request


def _handle_failure(request: Request[Any, Any, Any], exc: Exception) -> Response[Any] | Template:
    """Problems as JSON; under `/console` (a console URL no route has, say) as a console page."""
    path = request.url.path
    if path == "/console" or path.startswith("/console/"):
        return error_page(request, exc)
    return handle_failure(request, exc)


def _provide(value: object) -> Provide:
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


def create_app(
    readiness: Callable[[], Readiness],
    services: Services | None = None,
    *,
    api_config: ApiConfig | None = None,
    throttle: LoginThrottle | None = None,
    signup_throttle: SignupThrottle | None = None,
    metrics: Callable[[], bytes] | None = None,
    stream_heartbeat: float = 15.0,
) -> Litestar:
    """The API app. Without `services` only `/health`, `/ready` and the schema are served.

    `stream_heartbeat`: seconds between heartbeats of an idle `GET /v1/stream`."""
    config = api_config or ApiConfig()
    handlers: list[Any] = [*ops_handlers(readiness, metrics), vendor_router()]
    dependencies: dict[str, Provide] = {}
    check_query = QueryParameterCheck()
    origin_policy = OriginPolicy(public_url=config.public_url, cors_origins=config.cors_origins)
    if services is not None:
        for module in (accounts, chains, destinations, subscriptions, presets, queries, history, address_book, stream):
            handlers.extend(module.HANDLERS)
        handlers.append(console_router(check_query, origin_policy))
        dependencies = {
            "accounts": _provide(services.accounts),
            "chains": _provide(services.chains),
            "destinations": _provide(services.destinations),
            "subscriptions": _provide(services.subscriptions),
            "history": _provide(services.history),
            "address_book": _provide(services.address_book),
            "presets": _provide(services.presets),
            "query_tools": _provide(services.queries),  # not "queries": a body field of that name would clash
            "throttle": _provide(throttle or LoginThrottle()),
            "signups": _provide(signup_throttle or SignupThrottle()),
            "activity": _provide(services.activity),
            "api_settings": _provide(ApiSettings(public_url=config.public_url, stream_heartbeat=stream_heartbeat)),
            "origin_policy": _provide(origin_policy),
            "record_json": _provide(RecordJson()),
            "caller": Provide(resolve_caller),
        }
    app = Litestar(
        route_handlers=handlers,
        dependencies=dependencies,
        exception_handlers=dict.fromkeys(EXCEPTION_HANDLERS, _handle_failure),
        before_request=_before_request(check_query),
        request_max_body_size=config.max_body_bytes,
        compression_config=CompressionConfig(
            backend="brotli", brotli_gzip_fallback=True, minimum_size=1024, exclude_opt_key=UNCOMPRESSED
        ),
        cors_config=(
            CORSConfig(
                allow_origins=config.cors_origins,
                allow_credentials=True,
                allow_headers=["Authorization", "Content-Type"],
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            )
            if config.cors_origins
            else None
        ),
        openapi_config=OpenAPIConfig(
            title="Mempools API",
            version="1.0.0",
            description="Notifications for Cosmos (CometBFT) chains. Authenticate with `Authorization: Bearer mp_...` "
            "(an API key) or the session cookie set by `POST /v1/sessions`. Errors are RFC 9457 problem details.",
            openapi_router=docs_router("/schema"),
            render_plugins=docs_plugins(),  # vendored assets: the docs work offline (api/docs.py)
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(type="http", scheme="bearer", description="An API key, `mp_...`"),
                    "session": SecurityScheme(
                        type="apiKey", security_scheme_in="cookie", name=SESSION_COOKIE, description="Login session"
                    ),
                }
            ),
            security=[{"apiKey": []}, {"session": []}],
        ),
        template_config=TemplateConfig(directory=TEMPLATES_DIR, engine=JinjaTemplateEngine),
        logging_config=None,  # the process configures logging once, in mempools.logs
        debug=False,
    )
    _declare_closed_bodies(app)
    _resolve_dependencies_in_turn(app)
    check_query.learn(app)
    app.asgi_handler = HeadAsGet(
        app.asgi_handler, {route.path_format: route.methods for route in app.routes if isinstance(route, HTTPRoute)}
    )
    return app


def _resolve_dependencies_in_turn(app: Litestar) -> None:
    """Resolve each handler's dependencies one after another instead of concurrently.

    Litestar resolves independent dependencies (here `history` next to `accounts` and
    `origin_policy`, which `caller` needs) in an anyio task group: a group and a task per
    dependency on every request, ~100 us of a 400 us `GET /v1/notifications`. Ours are cached
    constants and one store read; running them in turn (levels kept in order, so a dependency
    still comes after those it needs) awaits the same things without the tasks.
    """
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for _, model in route.route_handler_map.values():
                model.dependency_batches = [{dependency} for level in model.dependency_batches for dependency in level]


def _declare_closed_bodies(app: Litestar) -> None:
    """Say in the OpenAPI document that request bodies refuse unknown fields.

    They do (`forbid_unknown_fields`: a misspelt field is a 400, not silently ignored), but
    Litestar's schema generator does not carry that over as `additionalProperties: false`.
    """
    closed = {body.__name__ for body in request_bodies()}
    for name, schema in (app.openapi_schema.components.schemas or {}).items():
        if name in closed:
            schema.additional_properties = False

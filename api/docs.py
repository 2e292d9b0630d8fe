"""The API's documentation pages (`/schema` Redoc, `/schema/swagger`), working offline.

Litestar's render plugins load Redoc (an unpinned "latest"), Swagger UI, Google Fonts and a
favicon from CDNs by default, so behind a firewall or on a laptop without internet `/schema`
was a blank page. Here every asset is a pinned copy vendored under `api/static/vendor/`
(ORIGIN.md there says where each came from and its checksum) and served by the app itself
under a path that names the version, so it can be cached for a year as `immutable`: a new
version is a new URL.

Two things the bundles would still fetch from other hosts are refused by the pages'
`Content-Security-Policy` (images and fonts from this origin or `data:` only): Redoc's
"API docs by Redocly" logo (it hides itself when the image fails) and any web font. Redoc is
told not to add Google Fonts and falls back to the system's sans-serif. Scripts and styles are
left to the browser's defaults: both UIs use inline code, and a stricter policy could not be
checked here without a browser.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

REDOC_VERSION = "2.5.4"
SWAGGER_UI_VERSION = "5.35.0"

VENDOR_DIR = Path(__file__).parent / "static" / "vendor"
VENDOR_PATH = "/static/vendor"
REDOC = f"{VENDOR_PATH}/redoc-{REDOC_VERSION}"
SWAGGER_UI = f"{VENDOR_PATH}/swagger-ui-dist-{SWAGGER_UI_VERSION}"

#: A year: the path names the version, so a file at a given URL never changes.
VENDOR_CACHE = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)
#: No favicon request at all (the default is a PNG on a CDN; the browser would otherwise ask for /favicon.ico).
NO_FAVICON = "<link rel='icon' href='data:,'>"
DOCS_CSP = "img-src 'self' data:; font-src 'self' data:"
#: Handler opt (the app's `CompressionConfig.exclude_opt_key`): brotli on a 1.7 MB bundle costs
#: ~100 ms of the event loop per request, for ~1.3 MB saved once per browser (the files are
#: immutable); the loop also runs the watchers and the dispatcher, so these go as they are.
UNCOMPRESSED = "uncompressed"


def docs_plugins() -> list[OpenAPIRenderPlugin]:
    """Redoc at `/schema` and Swagger UI at `/schema/swagger`, both from our own vendored files."""
    return [
        RedocRenderPlugin(path="/", js_url=f"{REDOC}/redoc.standalone.js", google_fonts=False, favicon=NO_FAVICON),
        SwaggerRenderPlugin(
            path="/swagger",
            js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            css_url=f"{SWAGGER_UI}/swagger-ui.css",
            standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
            favicon=NO_FAVICON,
        ),
    ]


def docs_router(path: str = "/schema") -> Router:
    """The router the OpenAPI plugins add their pages to: every response carries `DOCS_CSP`."""
    return Router(  # as Litestar's own default router, plus the header
        path=path,
        route_handlers=[],
        include_in_schema=False,
        dto=None,
        return_dto=None,
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=DOCS_CSP)],
    )


def vendor_router() -> Router:
    """The vendored files under `/static/vendor/<name>-<version>/`, cached as immutable."""
    return create_static_files_router(
        path=VENDOR_PATH,
        directories=[VENDOR_DIR],
        cache_control=VENDOR_CACHE,
        name="vendor",
        include_in_schema=False,
        opt={UNCOMPRESSED: True},
    )

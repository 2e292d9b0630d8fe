"""`/schema` and `/schema/swagger` work without internet: nothing is loaded from another host.

The pages are fetched over real HTTP on loopback, every `src`/`href` in them is followed, and
each asset must be ours (same origin), served with the right type and cached as immutable.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from api.docs import VENDOR_DIR
from tests.apikit import Env
from tests.loopback_api import serve_api

PAGES = ["/schema", "/schema/swagger"]
TYPES = {".js": "text/javascript", ".css": "text/css"}


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links.extend(value for name, value in attrs if name in ("src", "href") and value)


def _links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.links


@pytest.mark.parametrize("page", PAGES)
async def test_docs_page_loads_only_our_own_assets(env: Env, page: str) -> None:
    async with serve_api(env.app) as base, httpx.AsyncClient(base_url=base) as client:
        r = await client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        ours = urlsplit(base).netloc
        hosts = set(re.findall(r"https?://([^/'\"\s)]+)", r.text)) - {ours}
        assert not hosts, f"{page} names other hosts: {hosts}"
        assert "fonts.googleapis.com" not in r.text and "cdn.jsdelivr.net" not in r.text
        assets = [link for link in _links(r.text) if not link.startswith("data:")]
        assert any(a.endswith(".js") for a in assets), r.text
        for asset in assets:
            url = urljoin(base + page, asset)
            assert urlsplit(url).netloc == ours, asset
            got = await client.get(url, headers={"accept-encoding": "br, gzip"})
            assert got.status_code == 200, (asset, got.status_code)
            suffix = asset[asset.rfind(".") :]
            assert got.headers["content-type"].startswith(TYPES[suffix]), (asset, got.headers["content-type"])
            cache = {part.strip() for part in got.headers["cache-control"].split(",")}
            assert {"public", "immutable", "max-age=31536000"} <= cache, got.headers["cache-control"]
            assert re.search(r"/(redoc|swagger-ui-dist)-\d+\.\d+\.\d+/", asset), "the path must name the version"
            vendored = VENDOR_DIR / asset.split("/static/vendor/", 1)[1]
            assert got.content == vendored.read_bytes()
            assert "content-encoding" not in got.headers  # sent as is: compressing costs the loop ~100 ms
        # The bundles' own external images and fonts (Redoc's Redocly logo) are refused by the page.
        assert r.headers["content-security-policy"] == "img-src 'self' data:; font-src 'self' data:"


async def test_redoc_is_pinned_and_without_google_fonts(env: Env) -> None:
    async with serve_api(env.app) as base, httpx.AsyncClient(base_url=base) as client:
        html = (await client.get("/schema")).text
    assert "/static/vendor/redoc-2.5.4/redoc.standalone.js" in html
    # No floating version (`redoc@latest`, `/latest/`); the embedded document may say "latest" (a field).
    assert "@latest" not in html and "/latest/" not in html and "googleapis" not in html


async def test_an_unknown_vendor_file_is_a_404_problem(env: Env) -> None:
    async with serve_api(env.app) as base, httpx.AsyncClient(base_url=base) as client:
        r = await client.get("/static/vendor/redoc-2.5.4/nope.js")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json"), r.text


async def test_the_docs_and_their_files_are_not_api_operations(env: Env) -> None:
    async with serve_api(env.app) as base, httpx.AsyncClient(base_url=base) as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/schema", "/static"))]

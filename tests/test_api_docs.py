"""docs/API.md says what the API does: its routes, query parameters and answer fields are the
OpenAPI document's (made from the handlers), and every list answers a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.readiness import Readiness
from tests.apikit import Env

API_MD = Path(__file__).resolve().parent.parent / "docs" / "API.md"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# `GET /v1/x?a=&b=`, `GET/PATCH/DELETE /v1/x/{id}` in backticks
_ROUTE = re.compile(r"`((?:GET|POST|PUT|PATCH|DELETE)(?:/(?:GET|POST|PUT|PATCH|DELETE))*) (/[^`\s?]*)(\?[^`\s]*)?`")
_SHAPE_ROW = re.compile(r"^\| `(\w+)` \| (.+) \|$")
_FIELD = re.compile(r"(?:^|, )`(\w+)`")


def _route_key(path: str) -> str:
    """A path with its parameters' names dropped: `{id}` and `{key_id}` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented_routes(text: str) -> dict[tuple[str, str], set[str]]:
    """(method, path) -> the query parameters the document names for it."""
    routes: dict[tuple[str, str], set[str]] = {}
    for methods, path, query in _ROUTE.findall(text):
        names = {part.split("=", 1)[0] for part in query.lstrip("?").split("&") if part}
        for method in methods.split("/"):
            routes.setdefault((method, _route_key(path)), set()).update(names)
    return routes


def documented_shapes(text: str) -> Iterator[tuple[str, set[str]]]:
    section = text.split("## Shapes", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        if m := _SHAPE_ROW.match(line):
            yield m.group(1), set(_FIELD.findall(m.group(2)))


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = Env(tmp_path_factory.mktemp("docs"))
    app = create_app(lambda: Readiness(ready=True, checks={}), env.services, metrics=lambda: b"")
    yield app.openapi_schema.to_schema()
    env.close()


def openapi_routes(doc: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {
        (method.upper(), _route_key(path)): {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method.upper() in METHODS
    }


def test_the_document_lists_exactly_the_served_routes(openapi: dict[str, Any]) -> None:
    documented = documented_routes(API_MD.read_text())
    served = openapi_routes(openapi)
    assert sorted(set(served) - set(documented)) == [], "served but not in docs/API.md"
    assert sorted(set(documented) - set(served)) == [], "in docs/API.md but not served"


def test_the_documented_query_parameters_are_the_served_ones(openapi: dict[str, Any]) -> None:
    documented = documented_routes(API_MD.read_text())
    served = openapi_routes(openapi)
    mismatched = {route: (documented[route], names) for route, names in served.items() if documented[route] != names}
    assert mismatched == {}, "route: (documented, served)"


def test_the_documented_fields_are_the_served_ones(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    shapes = dict(documented_shapes(API_MD.read_text()))
    assert len(shapes) >= 8
    for name, fields in shapes.items():
        assert name in schemas, f"{name} is documented but not in the OpenAPI document"
        assert fields == set(schemas[name]["properties"]), name


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_list_answers_a_page(openapi: dict[str, Any]) -> None:
    pages = []
    for path, ops in openapi["paths"].items():
        for method, op in ops.items():
            ok = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
            if method.upper() not in METHODS or ok is None:
                continue
            schema = _resolve(openapi, ok["schema"])
            assert schema.get("type") != "array", f"{method.upper()} {path} answers a bare list"
            if "items" in schema.get("properties", {}):
                assert {"items", "next_cursor"} <= set(schema["required"]), f"{method.upper()} {path}"
                pages.append(path)
    assert sorted(pages) == sorted(
        [
            "/v1/address-book",
            "/v1/api-keys",
            "/v1/chains",
            "/v1/dead-letters",
            "/v1/destinations",
            "/v1/gaps",
            "/v1/notifications",
            "/v1/presets",
            "/v1/subscriptions",
        ]
    )


def test_history_filters_are_documented_with_what_they_accept(openapi: dict[str, Any]) -> None:
    """The filters are checked by the handler (422 naming the parameter), so the OpenAPI schema
    of each comes from `schema_extra`: it must still say what the handler accepts."""
    params = {p["name"]: p for p in openapi["paths"]["/v1/notifications"]["get"]["parameters"]}
    assert params["outcome"]["schema"]["enum"] == ["delivered", "retrying", "dead"]
    assert params["tx_hash"]["schema"]["pattern"] == "^[0-9A-Fa-f]{64}$"
    for name in ("height_from", "height_to"):
        assert params[name]["schema"]["type"] == "integer" and params[name]["schema"]["minimum"] == 1
    detail = _resolve(
        openapi,
        openapi["paths"]["/v1/notifications/{notification_id}"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"],
    )
    pending = _resolve(openapi, detail["properties"]["pending"]["items"])
    assert "next_attempt_at" in pending["required"]

"""Unknown query parameters are refused, as unknown body fields are.

A misspelt filter (`?chain=cosmoshub-4`, `?subscription=sub_x`) would otherwise be ignored and
the caller would get an unfiltered list that looks like an answer. Each route's known names are
those Litestar itself parses for the handler and its dependencies (the handler's kwargs model),
read once when the app is built, so the check cannot drift from the signatures.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request
from litestar.enums import ParamType
from litestar.exceptions import ValidationException
from litestar.routes import HTTPRoute

_MAX_NAMED = 20  # a request with thousands of unknown names gets a problem of bounded size


class QueryParameterCheck:
    """A `before_request` hook: 400 naming every query parameter the route does not declare."""

    def __init__(self) -> None:
        self._known: dict[int, frozenset[str]] = {}

    def learn(self, app: Litestar) -> None:
        """Read the declared query parameters of every route handler of `app`."""
        for route in app.routes:
            if not isinstance(route, HTTPRoute):
                continue
            for handler, kwargs_model in route.route_handler_map.values():
                names = {p.field_alias for p in kwargs_model.expected_query_params if p.param_type is ParamType.QUERY}
                self._known[id(handler)] = frozenset(names)

    def __call__(self, request: Request[Any, Any, Any]) -> None:
        if request.method == "OPTIONS":  # a CORS preflight carries the query of the request it asks for
            return
        known = self._known.get(id(request.route_handler))
        if known is None:
            return
        unknown = sorted({name for name in request.query_params if name not in known})[:_MAX_NAMED]
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise ValidationException(
                detail=f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
                f" (this route takes: {allowed})",
                extra=[{"key": name, "message": "unknown query parameter", "source": "query"} for name in unknown],
            )

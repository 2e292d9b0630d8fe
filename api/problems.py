"""RFC 9457 problem details for every error the API returns, whoever raised it.

Core services raise precise `core.errors` types; Litestar raises its own `HTTPException`s for
routing (404, 405), body limits (413), decoding and validation (400). All of them leave here as
`application/problem+json`, so a client parses one error shape. The status, type and wording
of each core error come from the one table in `core/errors.py` (`describe`), which the bots use
too. Anything else, and an `InternalError`, is a bug or the operator's: it is logged once with its
traceback and an error id, and answered with a 500 whose detail gives only that id.

A problem never echoes more than `MAX_ECHO` characters of any one piece of the caller's input
(a 100 KB query string in "Validation failed for GET ...", a long query): longer text is cut
with "…" and its length, so an error answer stays small whatever was sent.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from core.errors import AuthenticationError, MempoolsError, describe
from core.query.errors import QuerySyntaxError

log = logging.getLogger("mempools.api")

PROBLEM_JSON = "application/problem+json"
#: The most characters of one input a problem repeats back (a query syntax error's caret window is ~130).
MAX_ECHO = 256


def bounded(text: str, limit: int = MAX_ECHO) -> str:
    """`text`, or its first `limit` characters followed by "…" and the full length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"


class ProblemField(msgspec.Struct, kw_only=True):
    """One invalid input: where (`key`, e.g. `body.queries[0]` or `limit`) and why."""

    message: str
    key: str | None = None
    source: str | None = None


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem. `position`/`query` come with query syntax errors, `errors` with bad input,
    `error_id` with a 500."""

    type: str
    title: str
    status: int
    detail: str | None = None
    position: int | None = None
    query: str | None = None
    errors: list[ProblemField] | None = None
    retry_after: int | None = None
    error_id: str | None = None  # internal errors (500): the id under which the failure was logged


def problem_type(slug: str) -> str:
    """Problem types are relative URI references, documented in docs/API.md."""
    return f"/problems/{slug}"


#: `<`, `>` and `&` as JSON escapes: the same text once decoded, but no markup in the raw bytes
#: (outside strings JSON has none of the three, so replacing them everywhere is exact).
_MARKUP = ((b"&", b"\\u0026"), (b"<", b"\\u003c"), (b">", b"\\u003e"))


def encode_problem(problem: Problem) -> bytes:
    """The problem as JSON in which echoed input can never read as HTML (`<script>` is `\\u003cscript\\u003e`).

    A problem repeats the caller's input (a bad address, a denom): a client that pastes a detail
    into a page unescaped, or a browser sniffing the type, must not find markup in it.
    """
    raw = msgspec.json.encode(problem)
    for char, escape in _MARKUP:
        raw = raw.replace(char, escape)
    return raw


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=encode_problem(problem),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _domain_problem(request: Request[Any, Any, Any], exc: Exception) -> tuple[Problem, dict[str, str]]:
    view = describe(exc, log, f"{request.method} {request.url.path}")
    headers: dict[str, str] = {}
    problem = Problem(
        type=problem_type(view.slug), title=_title(view.status), status=view.status, detail=bounded(view.message)
    )
    if view.internal:
        problem.error_id = view.error_id
        return problem, headers
    if isinstance(exc, QuerySyntaxError):
        problem.detail = f"{bounded(str(exc))}\n{exc.caret_lines}"  # as exc.render(), the reason bounded
        problem.position = exc.position
        problem.query = bounded(exc.query)
    elif isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="mempools"'
    if view.retry_after is not None:
        headers["Retry-After"] = str(view.retry_after)
        problem.retry_after = view.retry_after
    return problem, headers


def _http_problem(request: Request[Any, Any, Any], exc: HTTPException) -> tuple[Problem, dict[str, str]]:
    status = exc.status_code
    detail = bounded(exc.detail) if exc.detail and exc.detail != _title(status) else None
    problem = Problem(type="about:blank", title=_title(status), status=status, detail=detail)
    if isinstance(exc, ValidationException):
        problem.type = problem_type("invalid-request")
        problem.errors = _fields(exc.extra)
    if status == 404 and detail is None:
        problem.detail = f"no route {bounded(request.url.path)}"
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "retry-after")}
    return problem, headers


def problem_of(request: Request[Any, Any, Any], exc: Exception) -> tuple[Problem, dict[str, str]]:
    """The problem (and the headers that go with it) of any failure: what the API answers, and
    what the web console renders as a page."""
    if isinstance(exc, HTTPException):
        return _http_problem(request, exc)
    if isinstance(exc, UnicodeDecodeError):  # the JSON decoder's: the body is not UTF-8
        return Problem(
            type=problem_type("invalid-request"), title="Bad Request", status=400, detail="body is not valid UTF-8"
        ), {}
    return _domain_problem(request, exc)  # a MempoolsError, or a bug: 500 with an error id


def handle_failure(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return problem_response(*problem_of(request, exc))


def _fields(extra: Any) -> list[ProblemField] | None:
    if not isinstance(extra, list):
        return None
    out = []
    for item in extra:
        if isinstance(item, dict):
            out.append(
                ProblemField(
                    message=bounded(str(item.get("message", "invalid"))),
                    key=None if item.get("key") is None else bounded(str(item.get("key"))),
                    source=None
                    if item.get("source") is None
                    else str(getattr(item["source"], "value", item["source"])),
                )
            )
    return out or None


#: Keyed by the classes Litestar itself maps (its HTTPException among them), so that ours win.
EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    MempoolsError: handle_failure,
    UnicodeDecodeError: handle_failure,
    HTTPException: handle_failure,
    Exception: handle_failure,
}

_DESCRIPTIONS = {
    400: "Malformed request: bad JSON, unknown field, wrong type, parameter out of range",
    401: "Missing, wrong, expired or revoked credentials",
    403: "A quota of the account is reached, or a session-cookie write came from another origin",
    404: "No such object among the caller's",
    409: "Conflicts with existing state",
    413: "Request body too large",
    415: "Request body is not JSON",
    422: "Well-formed but not acceptable (with `position` for query syntax errors)",
    429: "Too many attempts; see Retry-After",
    502: "The chain's RPC endpoints could not answer",
    503: "Not available in this process, too busy, or the store refuses writes for now (see Retry-After)",
}


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem responses a handler can give (400/413/415 always)."""
    every = sorted({400, 413, 415, *codes})
    return {
        code: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS.get(code, _title(code)),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for code in every
    }

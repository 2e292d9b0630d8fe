"""Query tools: syntax check with the parser's positioned message, and a dry run on a real block."""

from __future__ import annotations

from litestar import post
from litestar.params import JSONBody

from api.deps import CallerDep, QueriesDep
from api.problems import problems
from api.schemas import QueryCheck, QueryCheckOut, QueryTest
from core.services.queries import QueryTestResult

TAGS = ["queries"]


@post("/v1/queries/check", tags=TAGS, status_code=200, responses=problems(422))
async def check_query(data: JSONBody[QueryCheck], query_tools: QueriesDep) -> QueryCheckOut:
    """Parse and normalise a CometBFT query; a 422 problem with `position` says what is wrong where."""
    return QueryCheckOut(valid=True, normalized=query_tools.check(data.query))


@post("/v1/queries/test", tags=TAGS, status_code=200, responses=problems(401, 422, 502, 503))
async def test_query(data: JSONBody[QueryTest], caller: CallerDep, query_tools: QueriesDep) -> QueryTestResult:
    """Evaluate a query against one real block of the chain and return the scopes it matches."""
    return await query_tools.test(data.chain_id, data.query, data.height)


HANDLERS = [check_query, test_query]

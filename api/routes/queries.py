"""Query tools: syntax check with the parser's positioned message, and a dry run on a real block."""

from __future__ import annotations

from litestar import post
from litestar.params import JSONBody

from api.deps import CallerDep, QueriesDep
from api.problems import problems
from api.schemas import QueryCheck, QueryCheckOut, QueryTest, preset_params
from core.services.queries import QueryTestResult, QueryTestRun

TAGS = ["queries"]


@post("/v1/queries/check", tags=TAGS, status_code=200, responses=problems(422))
async def check_query(data: JSONBody[QueryCheck], query_tools: QueriesDep) -> QueryCheckOut:
    """Parse and normalise a CometBFT query; a 422 problem with `position` says what is wrong where."""
    return QueryCheckOut(valid=True, normalized=query_tools.check(data.query))


@post("/v1/queries/test", tags=TAGS, status_code=200, responses=problems(401, 422, 502, 503))
async def test_query(
    data: JSONBody[QueryTest], caller: CallerDep, query_tools: QueriesDep
) -> QueryTestResult | QueryTestRun:
    """Evaluate a query, or a preset with its params (post-filter included), against real blocks
    of the chain: one `height`, `latest: true`, or `height_from`..`height_to` (at most 100).

    `{"chain_id", "query", "height"}` answers a `QueryTestResult`; every other form a
    `QueryTestRun`, with a result per height (a pruned height says so in its `error`)."""
    if data.is_classic():
        assert data.query is not None and data.height is not None
        return await query_tools.test(data.chain_id, data.query, data.height)
    return await query_tools.run(
        data.chain_id,
        query=data.query,
        preset=data.preset,
        params=preset_params(data.params),
        height=data.height,
        latest=data.latest,
        height_from=data.height_from,
        height_to=data.height_to,
    )


HANDLERS = [check_query, test_query]

"""A query that fails at `OR` says that CometBFT has none and how to get "either" instead.

People coming from SQL or Tendermint's docs write `a OR b`; the grammar only has AND. The hint
is part of the error's reason, so the CLI, the REST problem and the bots all show it.
"""

from __future__ import annotations

import httpx
import pytest

from mempools.cli import main
from tests.apikit import assert_problem

HINT = "CometBFT queries have no OR; give a subscription several queries instead: it matches when any of them does"
EITHER = "transfer.recipient = 'cosmos1a' OR transfer.sender = 'cosmos1a'"


@pytest.mark.parametrize("query", [EITHER, "transfer.recipient = 'cosmos1a' or transfer.sender = 'cosmos1a'"])
def test_cli_check_on_or_says_to_use_several_queries(query: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "check", query]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    first, shown, caret = err.splitlines()
    assert first == f"invalid query: expected 'AND' or the end of the query, found tag {query[32:34]!r} ({HINT}) at 32"
    assert shown == query and caret == " " * 32 + "^"


def test_cli_check_without_or_has_no_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "check", "transfer.recipient = 'cosmos1a' AND transfer.sender"]) == 2
    assert "OR" not in capsys.readouterr().err


async def test_api_check_on_or_says_to_use_several_queries(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/queries/check", json={"query": EITHER})
    problem = assert_problem(r, 422)
    assert problem["type"] == "/problems/query-syntax"
    assert problem["position"] == 32
    assert problem["detail"].splitlines()[0] == (
        f"expected 'AND' or the end of the query, found tag 'OR' ({HINT}) at 32"
    )

"""The one backoff formula that the watcher, the RPC pool, the new-block subscription and the supervisor share."""

from __future__ import annotations

import pytest

from core.support.backoff import backoff


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.25), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (10_000, 30.0)],
)
def test_doubles_from_first_up_to_the_cap(failures: int, expected: float) -> None:
    assert backoff(failures, first=0.5, cap=30.0) == expected

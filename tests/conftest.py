"""Fixtures shared by the service and API tests (modules override them when they need more)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.apikit import Env, api_client


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """Services and the API app over a real RocksDB store in a temp dir."""
    e = Env(tmp_path)
    yield e
    e.close()


@pytest.fixture
async def client(env: Env) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to `env`'s app."""
    async with api_client(env.app) as c:
        yield c

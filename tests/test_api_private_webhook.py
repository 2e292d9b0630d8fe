"""A webhook on a private address is refused at the API with the config key that allows it.

Someone trying Mempools on one machine points a webhook at localhost first; "only public
addresses" alone leaves them stuck, so the problem names `[webhooks] allow_private_networks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import WebhooksConfig
from tests.apikit import Env, api_client, assert_problem, make_config, signup


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    config = make_config()
    config.webhooks = WebhooksConfig(allow_private_networks=False)  # the default of a real install
    e = Env(tmp_path, config=config)
    yield e
    e.close()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/hook", "http://[::1]:8000/hook", "http://10.1.2.3/hook"])
async def test_a_private_webhook_url_is_a_422_naming_allow_private_networks(env: Env, url: str) -> None:
    async with api_client(env.app) as client:
        _, auth = await signup(client, "alice@example.com")
        r = await client.post("/v1/destinations", json={"kind": "webhook", "url": url}, headers=auth)
        problem = assert_problem(r, 422)
        assert "only public addresses are allowed" in problem["detail"], problem
        assert "set [webhooks] allow_private_networks = true to allow private networks" in problem["detail"], problem
        listed = (await client.get("/v1/destinations", headers=auth)).json()
        assert listed == {"items": [], "next_cursor": None}  # nothing was created


async def test_metadata_addresses_stay_refused_without_the_hint(env: Env) -> None:
    async with api_client(env.app) as client:
        _, auth = await signup(client, "bob@example.com")
        r = await client.post(
            "/v1/destinations", json={"kind": "webhook", "url": "http://169.254.169.254/latest"}, headers=auth
        )
        problem = assert_problem(r, 422)
        assert "cloud metadata addresses are never allowed" in problem["detail"]
        assert "allow_private_networks" not in problem["detail"]

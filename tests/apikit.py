"""Shared set-up for the API and service tests: a real RocksDB store, real services, the real app.

Only the argon2 cost is lowered (still argon2id) so that a test suite registering dozens of
accounts stays fast; everything else is what `mempools serve` builds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from argon2 import PasswordHasher
from litestar import Litestar

from api.app import create_app
from api.readiness import Readiness
from api.throttle import LoginThrottle, SignupThrottle
from core.chain.blocks import Attribute, Event
from core.config import ApiConfig, ChainConfig, Config, Denom, QuotasConfig, WebhooksConfig
from core.dispatch.outbox import Outbox
from core.ids import notification_id
from core.models import Notification
from core.monitor.facts import ChainQueries
from core.services import Services
from core.services.clock import Clock, utcnow
from core.services.destinations import WebhookTester
from core.services.passwords import Passwords
from core.services.queries import FetchBlock, LatestHeight
from core.store import WriteBatch, open_store
from core.store.repositories import Repositories
from core.watch.matching import SubscriptionMatcher

CHAIN = "testchain-1"
OTHER_CHAIN = "otherchain-2"
ALICE = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu"
BOB = "cosmos1xv9tklw7d82sezh9haa573wufgy59vmwe6xxe5"
PASSWORD = "correct horse battery"


def fast_passwords() -> Passwords:
    return Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def make_config(**quotas: int) -> Config:
    return Config(
        chains=[
            ChainConfig(
                id=CHAIN,
                name="Test chain",
                rpc=["http://127.0.0.1:9"],
                bech32_prefix="cosmos",
                denoms=[Denom(base="uatom", display="ATOM", exponent=6)],
            ),
            ChainConfig(id=OTHER_CHAIN, name="Other chain", rpc=["http://127.0.0.1:9"], bech32_prefix="osmo"),
        ],
        api=ApiConfig(cors_origins=["https://app.example"], max_body_bytes=8 * 1024),
        webhooks=WebhooksConfig(allow_private_networks=True),
        quotas=QuotasConfig(**quotas) if quotas else QuotasConfig(),
    )


class Env:
    """Store + repositories + matcher + services + app over a fresh data directory."""

    def __init__(
        self,
        path: Path,
        *,
        config: Config | None = None,
        fetch_block: FetchBlock | None = None,
        latest_height: LatestHeight | None = None,
        tester: WebhookTester | None = None,
        clock: Clock = utcnow,
        throttle: LoginThrottle | None = None,
        signup_throttle: SignupThrottle | None = None,
        passwords: Passwords | None = None,
        stats: Callable[[str], Any] | None = None,
        chain_queries: Callable[[str], ChainQueries | None] | None = None,
    ) -> None:
        self.config = config or make_config()
        self.store = open_store(path / "db")
        self.repos = Repositories(self.store)
        self.outbox = Outbox(self.store, clock=clock)
        self.matcher = SubscriptionMatcher()
        self.services = Services.build(
            self.config,
            self.repos,
            self.matcher,
            self.outbox,
            stats=stats,
            fetch_block=fetch_block,
            latest_height=latest_height,
            tester=tester,
            passwords=passwords or fast_passwords(),
            chain_queries=chain_queries,
            clock=clock,
        )
        self.app: Litestar = create_app(
            lambda: Readiness(ready=True, checks={"store": "open"}),
            self.services,
            api_config=self.config.api,
            throttle=throttle,
            signup_throttle=signup_throttle,
        )

    def close(self) -> None:
        self.store.close()


PROBLEM = "application/problem+json"


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """`r` is an RFC 9457 problem with `status`; returns its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["type"]
    return body


def same_origin(client: httpx.AsyncClient) -> dict[str, str]:
    """The Origin a browser sends on a write from the API's own pages (cookie writes need it)."""
    return {"Origin": str(client.base_url).rstrip("/")}


async def signup(client: httpx.AsyncClient, email: str) -> tuple[str, dict[str, str]]:
    """Register, log in, make an API key; returns (account id, Bearer headers). Cookies are dropped."""
    r = await client.post("/v1/accounts", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    account_id = r.json()["id"]
    r = await client.post("/v1/sessions", json={"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await client.post("/v1/api-keys", json={"name": "tests"}, headers=same_origin(client))
    assert r.status_code == 201, r.text
    client.cookies.clear()
    return account_id, {"Authorization": f"Bearer {r.json()['key']}"}


def transfer_events(amount: str = "1500000uatom", sender: str = ALICE, recipient: str = BOB) -> tuple[Event, ...]:
    return (
        Event(
            type="transfer",
            attributes=(
                Attribute("recipient", recipient),
                Attribute("sender", sender),
                Attribute("amount", amount),
            ),
        ),
    )


def seed_notifications(
    repos: Repositories,
    owner_id: str,
    subscription_id: str,
    count: int,
    *,
    chain_id: str = CHAIN,
    start: datetime,
    step: timedelta = timedelta(seconds=6),
    destination_ids: tuple[str, ...] = (),
    first_height: int = 1,
) -> list[Notification]:
    """`count` notifications one block apart, written a thousand per batch; oldest first."""
    made: list[Notification] = []
    batch = WriteBatch()
    for i in range(count):
        height = first_height + i
        n = Notification(
            id=notification_id(chain_id, height, "tx:0", subscription_id),
            owner_id=owner_id,
            subscription_id=subscription_id,
            subscription_name="seeded",
            chain_id=chain_id,
            height=height,
            time=start + step * i,
            tx_hash=f"{height:064X}",
            tx_index=0,
            tx_code=0,
            events=transfer_events(),
            destination_ids=destination_ids,
            summary=f"1.5 ATOM at {height}",
            created_at=start + step * i,
        )
        repos.notifications.put(n, batch)
        made.append(n)
        if len(batch) >= 3000:
            repos.store.write(batch)
            batch = WriteBatch()
    repos.store.write(batch)
    return made


class MovableClock:
    """A clock tests move forward (session, key and link-code expiry)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def api_client(app: Litestar, base_url: str = "http://testserver.local") -> httpx.AsyncClient:
    """An httpx client calling the ASGI app in the test's own event loop.

    (Litestar's AsyncTestClient runs the app on a portal thread and blocks the test loop while it
    does, which would starve the loopback servers - devnet, webhook receiver - the test runs.)
    """
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 50000)), base_url=base_url)

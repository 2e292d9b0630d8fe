"""What the API's answers look like (issue #14, item 9): every list a page, destinations per
kind, unknown query parameters refused, numeric preset parameters as JSON numbers, and the
history of a deleted subscription still listed by its id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.models import Gap
from tests.apikit import ALICE, CHAIN, OTHER_CHAIN, Env, assert_problem, seed_notifications, signup
from tests.seeding import put_now

T0 = datetime(2024, 5, 1, tzinfo=UTC)
LISTS = ["/v1/chains", "/v1/subscriptions", "/v1/destinations", "/v1/api-keys", "/v1/gaps"]


@pytest.mark.parametrize("path", LISTS)
async def test_every_list_is_a_page(client: httpx.AsyncClient, path: str) -> None:
    _, h = await signup(client, "alice@example.com")
    r = await client.get(path, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "next_cursor"} and isinstance(body["items"], list), body
    assert body["next_cursor"] is None


async def test_destinations_show_the_fields_of_their_kind_only(client: httpx.AsyncClient, env: Env) -> None:
    account_id, h = await signup(client, "alice@example.com")
    created = (
        await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/h"}, headers=h)
    ).json()
    assert created["secret"].startswith("whsec_")
    await env.services.destinations.ensure_telegram_chat(account_id, 4242, chat_title="Alice's group")
    listed = {d["kind"]: d for d in (await client.get("/v1/destinations", headers=h)).json()["items"]}
    common = {"id", "kind", "name", "enabled", "disabled_reason", "failing_since", "created_at"}
    assert set(listed["webhook"]) == common | {"url", "previous_secret_expires_at", "secret"}
    assert listed["webhook"]["secret"] is None
    assert set(listed["telegram"]) == common | {"chat_id", "chat_title", "message_thread_id", "quiet_hours"}
    assert listed["telegram"]["chat_id"] == 4242 and listed["telegram"]["chat_title"] == "Alice's group"
    assert listed["telegram"]["message_thread_id"] is None  # not a forum topic


@pytest.mark.parametrize(
    ("url", "unknown"),
    [
        ("/v1/subscriptions?chain={chain}", ["chain"]),
        ("/v1/notifications?subscription=sub_x&limit=5", ["subscription"]),
        ("/v1/destinations?kind=webhook&x=1", ["kind", "x"]),
        ("/v1/gaps?chain_id={chain}&page=2", ["page"]),
        ("/v1/me?verbose=1", ["verbose"]),
    ],
)
async def test_unknown_query_parameters_are_a_400_naming_them(
    client: httpx.AsyncClient, url: str, unknown: list[str]
) -> None:
    _, h = await signup(client, "alice@example.com")
    body = assert_problem(await client.get(url.format(chain=CHAIN), headers=h), 400)
    assert body["type"].endswith("/problems/invalid-request")
    assert [(e["key"], e["source"]) for e in body["errors"]] == [(name, "query") for name in unknown]
    assert ", ".join(unknown) in body["detail"]
    head = await client.head(url.format(chain=CHAIN), headers=h)
    assert head.status_code == 400 and head.content == b""
    # The same request without them is answered; OPTIONS (a CORS preflight) is not refused.
    known = url.split("?")[0] + ("?limit=5" if "limit=5" in url else "")
    assert (await client.get(known, headers=h)).status_code == 200
    assert (await client.options(url.format(chain=CHAIN))).status_code == 204


async def test_unknown_query_parameter_on_a_public_route_and_a_write(client: httpx.AsyncClient) -> None:
    assert assert_problem(await client.get("/v1/chains?verbose=true"), 400)["errors"][0]["key"] == "verbose"
    r = await client.post("/v1/queries/check?strict=1", json={"query": "a.b EXISTS"})
    assert assert_problem(r, 400)["errors"][0]["key"] == "strict"
    assert (await client.post("/v1/queries/check", json={"query": "a.b EXISTS"})).status_code == 200
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    r = await client.options("/v1/notifications?limit=5&chain_id=x", headers=preflight)
    assert r.status_code in (200, 204) and r.headers["access-control-allow-origin"] == "https://app.example"


async def _with_destination(client: httpx.AsyncClient, email: str) -> tuple[str, dict[str, str]]:
    """`signup`, plus a webhook destination: a subscription needs somewhere to deliver."""
    account_id, headers = await signup(client, email)
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/a"}, headers=headers)
    assert r.status_code == 201, r.text
    return account_id, headers


@pytest.mark.parametrize(
    ("sent", "stored"), [(1.5, "1.5"), (0.1, "0.1"), (2, "2"), (1e-6, "0.000001"), ("0.25", "0.25")]
)
async def test_numeric_preset_parameters_may_be_json_numbers(
    client: httpx.AsyncClient, sent: object, stored: str
) -> None:
    _, h = await _with_destination(client, "alice@example.com")
    params = {"address": ALICE, "min_amount": sent, "denom": "ATOM"}
    r = await client.post(
        "/v1/subscriptions",
        json={"chain_id": CHAIN, "name": "big", "preset": "funds_received", "params": params},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert r.json()["params"]["min_amount"] == stored


async def test_an_integer_preset_parameter_as_a_number_and_a_bool_refused(client: httpx.AsyncClient) -> None:
    _, h = await _with_destination(client, "alice@example.com")
    body = {"chain_id": CHAIN, "name": "gov", "preset": "gov_voting_ended", "params": {"proposal_id": 42}}
    r = await client.post("/v1/subscriptions", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["params"]["proposal_id"] == "42"
    body["params"] = {"proposal_id": True}
    assert_problem(await client.post("/v1/subscriptions", json=body, headers=h), 400)


async def test_history_of_a_deleted_subscription_stays_listed_for_its_owner(
    client: httpx.AsyncClient, env: Env
) -> None:
    alice, a = await _with_destination(client, "alice@example.com")
    _, b = await signup(client, "bob@example.com")
    sub = (
        await client.post(
            "/v1/subscriptions", json={"chain_id": CHAIN, "name": "x", "queries": ["tm.event = 'Tx'"]}, headers=a
        )
    ).json()
    made = seed_notifications(env.repos, alice, sub["id"], 3, start=T0)
    url = f"/v1/notifications?subscription_id={sub['id']}"
    # While it exists, another account is told it does not exist.
    assert_problem(await client.get(url, headers=b), 404)

    assert (await client.delete(f"/v1/subscriptions/{sub['id']}", headers=a)).status_code == 204
    r = await client.get(url, headers=a)
    assert r.status_code == 200, r.text
    assert [n["id"] for n in r.json()["items"]] == [n.id for n in reversed(made)]
    # Deleted, its id shows another account nothing of the owner's history.
    r = await client.get(url, headers=b)
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}


async def test_gaps_follow_next_cursor_across_chains(client: httpx.AsyncClient, env: Env) -> None:
    _, h = await signup(client, "alice@example.com")
    expected = []
    for i in range(7):  # heights 1..7 on two chains, recorded one minute apart, alternating
        chain = CHAIN if i % 2 == 0 else OTHER_CHAIN
        gap = Gap(chain_id=chain, height=i + 1, reason="pruned", recorded_at=T0 + timedelta(minutes=i))
        put_now(env.repos.gaps, gap)
        expected.insert(0, (chain, i + 1))
    seen: list[tuple[str, int]] = []
    url = "/v1/gaps?limit=3"
    while True:
        body = (await client.get(url, headers=h)).json()
        seen += [(g["chain_id"], g["height"]) for g in body["items"]]
        if body["next_cursor"] is None:
            break
        url = f"/v1/gaps?limit=3&cursor={body['next_cursor']}"
    assert seen == expected
    assert_problem(await client.get("/v1/gaps?cursor=bm90IGpzb24", headers=h), 422)

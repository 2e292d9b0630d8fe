"""`GET /v1/presets` and `POST /v1/presets/{name}/preview`, against the real app and store.

Hostile input first: unknown presets, missing, extra and wrong-typed params, huge bodies and
script in values all get a problem (never a 500); and a preview is exactly what
`POST /v1/subscriptions` stores for the same preset, params and chain.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.query.presets import PRESETS
from tests.apikit import ALICE, BOB, CHAIN, OTHER_CHAIN, PROBLEM, assert_problem, signup

PREVIEW = "/v1/presets/{}/preview"


async def test_the_list_has_every_preset_with_typed_params(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/presets")  # public, like /v1/chains
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    assert [p["name"] for p in body["items"]] == list(PRESETS)
    by_name = {p["name"]: p for p in body["items"]}
    funds = by_name["funds_received"]
    assert funds["title"] == "Funds received" and funds["description"]
    params = {p["name"]: p for p in funds["params"]}
    assert params["address"] == {
        "name": "address",
        "type": "address",
        "required": True,
        "default": None,
        "description": "Account address (bech32).",
        "choices": None,
    }
    assert params["include_fees"]["choices"] == ["false", "true"]
    assert params["include_fees"]["default"] == "false"
    assert by_name["gov_proposal_submitted"]["params"] == []


async def test_a_preview_is_what_the_subscription_route_builds(client: httpx.AsyncClient) -> None:
    _, auth = await signup(client, "alice@example.com")
    r = await client.post("/v1/destinations", json={"kind": "webhook", "url": "http://127.0.0.1:9/hook"}, headers=auth)
    assert r.status_code == 201, r.text
    cases: list[tuple[str, dict[str, Any]]] = [
        ("funds_received", {"address": ALICE, "min_amount": 1.5}),
        ("funds_either", {"address": ALICE, "denom": "uatom", "min_amount": "7"}),
        ("funds_from_to", {"sender": ALICE, "recipient": BOB}),
        ("tx_outcome", {"signer": ALICE, "outcome": "FAILED"}),
        ("gov_voting_ended", {"proposal_id": 12, "result": "passed"}),
        ("contract_events", {"contract": ALICE, "event": "swap", "attributes": "pair=x,action=y"}),
    ]
    for name, params in cases:
        preview = await client.post(PREVIEW.format(name), json={"params": params, "chain_id": CHAIN})
        assert preview.status_code == 200, preview.text
        sub = await client.post(
            "/v1/subscriptions",
            json={"chain_id": CHAIN, "name": name, "preset": name, "params": params},
            headers=auth,
        )
        assert sub.status_code == 201, sub.text
        got, stored = preview.json(), sub.json()
        assert got["preset"] == name and got["chain_id"] == CHAIN
        assert (got["queries"], got["post_filter"]) == (stored["queries"], stored["post_filter"]), name


async def test_the_chain_decides_prefix_and_denoms(client: httpx.AsyncClient) -> None:
    params = {"address": ALICE, "min_amount": "1.5", "denom": "ATOM"}
    here = await client.post(PREVIEW.format("funds_received"), json={"params": params, "chain_id": CHAIN})
    assert here.status_code == 200, here.text
    assert here.json()["post_filter"]["denom"] == "uatom"
    assert here.json()["post_filter"]["min_amount"] == 1_500_000
    # osmo prefix: a cosmos1 address is refused, naming the parameter
    there = assert_problem(
        await client.post(PREVIEW.format("funds_received"), json={"params": params, "chain_id": OTHER_CHAIN}), 422
    )
    assert there["detail"].startswith("address:")
    # no chain: ATOM is read as a base denom, so 1.5 of it is finer than its unit
    nowhere = assert_problem(await client.post(PREVIEW.format("funds_received"), json={"params": params}), 422)
    assert nowhere["detail"].startswith("min_amount:")
    unknown = assert_problem(
        await client.post(PREVIEW.format("funds_received"), json={"params": params, "chain_id": "nochain-9"}), 422
    )
    assert unknown["detail"].startswith("chain_id:")


@pytest.mark.parametrize("name", ["nope", "FUNDS_RECEIVED", "funds_received%00", "funds_received%20", "x" * 64])
async def test_an_unknown_preset_is_a_404(client: httpx.AsyncClient, name: str) -> None:
    r = await client.post(PREVIEW.format(name), json={"params": {}})
    body = assert_problem(r, 404)
    assert body["type"] == "/problems/not-found"  # the preset is unknown, not the route (about:blank)
    assert name not in body["detail"]  # and its name is not echoed


async def test_an_overlong_preset_name_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(PREVIEW.format("x" * 500), json={"params": {}})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    r = await client.post(PREVIEW.format("..%2f..%2fetc"), json={"params": {}})  # no such route at all
    assert_problem(r, 404)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({}, "address"),  # missing
        ({"address": ""}, "address"),  # blank is missing
        ({"address": ALICE, "colour": "red"}, "colour"),  # extra
        ({"address": ALICE, "min_amount": "-1"}, "min_amount"),
        ({"address": ALICE, "min_amount": "1e5"}, "min_amount"),
        ({"address": ALICE, "include_fees": "maybe"}, "include_fees"),
        ({"address": "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xv"}, "address"),  # bad checksum
    ],
)
async def test_a_bad_parameter_is_a_422_naming_it(
    client: httpx.AsyncClient, params: dict[str, Any], named: str
) -> None:
    body = assert_problem(
        await client.post(PREVIEW.format("funds_received"), json={"params": params, "chain_id": CHAIN}), 422
    )
    assert named in body["detail"], body


@pytest.mark.parametrize(
    "body",
    [
        {"params": {"address": ["x"]}},  # a list is not a parameter value
        {"params": {"address": {"a": 1}}},
        {"params": {"address": None}},
        {"params": {"address": True}},
        {"params": [ALICE]},
        {"params": {}, "chain_id": 5},
        {"params": {}, "preset": "funds_sent"},  # an unknown body field
        {"params": {"k" * 65: "v"}},  # a parameter name longer than any
        {"params": {"address": "a" * 1025}},
    ],
)
async def test_a_wrong_typed_body_is_a_400(client: httpx.AsyncClient, body: Any) -> None:
    r = await client.post(PREVIEW.format("funds_received"), json=body)
    assert_problem(r, 400)


async def test_a_huge_body_is_a_413(client: httpx.AsyncClient) -> None:
    params = {f"p{i}": "x" * 900 for i in range(50)}
    r = await client.post(PREVIEW.format("funds_received"), json={"params": params})
    assert_problem(r, 413)


async def test_not_json_is_a_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        PREVIEW.format("funds_received"), content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(r, 400)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("funds_received", {"address": "<script>alert(1)</script>"}),
        ("funds_received", {"address": ALICE, "denom": "<img src=x onerror=alert(1)>"}),
        ("contract_events", {"contract": ALICE, "attributes": "a=<script>alert(1)</script>"}),
        ("contract_events", {"contract": ALICE, "event": "</script><script>alert(1)"}),
    ],
)
async def test_script_in_values_never_comes_back_as_markup(
    client: httpx.AsyncClient, name: str, params: dict[str, str]
) -> None:
    """A problem is JSON whose raw bytes hold no markup (`<` is `\\u003c`), though its decoded
    detail may still show the value; a value that passes the checks (an attribute value) comes back
    only inside a JSON string of the preview, as data, never as HTML."""
    r = await client.post(PREVIEW.format(name), json={"params": params, "chain_id": CHAIN})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 200:
        assert r.headers["content-type"] == "application/json"
        assert any("<script>" in q for q in r.json()["queries"])
    else:
        assert_problem(r, 422)  # the detail echoes the value (address, denom) or not at all (event)
        assert b"<" not in r.content and b">" not in r.content


async def test_a_quote_in_a_value_is_refused_not_spliced(client: httpx.AsyncClient) -> None:
    params = {"contract": ALICE, "attributes": "action=x' OR tm.event EXISTS OR a.b='y"}
    body = assert_problem(
        await client.post(PREVIEW.format("contract_events"), json={"params": params, "chain_id": CHAIN}), 422
    )
    assert body["detail"].startswith("attributes.action:")

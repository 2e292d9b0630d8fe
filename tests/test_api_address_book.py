"""The address book over HTTP (#15.8), against the real services and a real RocksDB.

What a client sees: 201 then 200 for a label set then renamed, the page of labels, 204 then 404
for a removal, and an RFC 9457 problem for every kind of bad input, with a sentence that says
what is wrong (an address of a chain this service does not watch names that chain).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bech32
import httpx
import pytest

from tests.apikit import ALICE, BOB, Env, api_client, assert_problem, make_config, signup


def _same_key(address: str, prefix: str) -> str:
    """`address`'s key under another bech32 prefix (a valid address of that prefix)."""
    _, data = bech32.bech32_decode(address)
    assert data is not None
    return str(bech32.bech32_encode(prefix, data))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.close()


async def test_set_rename_list_and_remove_a_label(client: httpx.AsyncClient) -> None:
    _, h = await signup(client, "alice@example.com")
    r = await client.put(f"/v1/address-book/{ALICE}", json={"label": "  Treasury  "}, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["address"] == ALICE and created["label"] == "Treasury"
    r = await client.put(f"/v1/address-book/{ALICE}", json={"label": "Cold wallet"}, headers=h)
    assert r.status_code == 200 and r.json()["label"] == "Cold wallet"
    assert r.json()["created_at"] == created["created_at"]
    assert (await client.put(f"/v1/address-book/{BOB}", json={"label": "Bob"}, headers=h)).status_code == 201

    page = (await client.get("/v1/address-book", headers=h)).json()
    assert page["next_cursor"] is None
    assert sorted((e["address"], e["label"]) for e in page["items"]) == [(ALICE, "Cold wallet"), (BOB, "Bob")]

    assert (await client.delete(f"/v1/address-book/{ALICE}", headers=h)).status_code == 204
    body = assert_problem(await client.delete(f"/v1/address-book/{ALICE}", headers=h), 404)
    assert "no label" in body["detail"]
    assert [e["address"] for e in (await client.get("/v1/address-book", headers=h)).json()["items"]] == [BOB]


async def test_an_upper_case_address_is_the_same_entry(client: httpx.AsyncClient) -> None:
    _, h = await signup(client, "alice@example.com")
    assert (await client.put(f"/v1/address-book/{ALICE.upper()}", json={"label": "A"}, headers=h)).status_code == 201
    assert (await client.put(f"/v1/address-book/{ALICE}", json={"label": "B"}, headers=h)).status_code == 200
    assert (await client.delete(f"/v1/address-book/{ALICE.upper()}", headers=h)).status_code == 204


async def test_validator_addresses_of_a_configured_chain_are_accepted(client: httpx.AsyncClient) -> None:
    _, h = await signup(client, "alice@example.com")
    for prefix in ("cosmosvaloper", "cosmosvalcons", "osmo"):
        address = _same_key(ALICE, prefix)
        r = await client.put(f"/v1/address-book/{address}", json={"label": prefix}, headers=h)
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("address", "words"),
    [
        (
            _same_key(ALICE, "juno"),
            "juno1… is a Juno address; this service watches Test chain (cosmos1…), Other chain (osmo1…)",
        ),
        (
            _same_key(ALICE, "inj"),
            "inj1… is an Injective address; this service watches Test chain (cosmos1…), Other chain (osmo1…)",
        ),
        (_same_key(ALICE, "zzz"), "no chain watched here uses the prefix zzz1…"),
        ("0x52908400098527886E0F7030069857D2E4169EE7", "Ethereum address"),
        (ALICE[:-1] + ("q" if ALICE[-1] != "q" else "p"), "not a valid bech32 address"),
    ],
)
async def test_an_address_no_configured_chain_uses_is_refused_with_a_reason(
    client: httpx.AsyncClient, address: str, words: str
) -> None:
    _, h = await signup(client, "alice@example.com")
    body = assert_problem(await client.put(f"/v1/address-book/{address}", json={"label": "x"}, headers=h), 422)
    assert words in body["detail"]
    assert (await client.get("/v1/address-book", headers=h)).json()["items"] == []


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("", "give a name"),
        ("   ", "give a name"),
        ("x" * 65, "at most 64 characters (this one has 65)"),
        ("Treasury\nline two", "only printable characters"),
        ("bell\x07", "only printable characters"),
    ],
)
async def test_a_bad_label_is_refused_with_a_reason(client: httpx.AsyncClient, label: str, words: str) -> None:
    _, h = await signup(client, "alice@example.com")
    body = assert_problem(await client.put(f"/v1/address-book/{ALICE}", json={"label": label}, headers=h), 422)
    assert words in body["detail"]


async def test_a_malformed_body_is_a_problem(client: httpx.AsyncClient) -> None:
    _, h = await signup(client, "alice@example.com")
    assert_problem(await client.put(f"/v1/address-book/{ALICE}", json={"label": 5}, headers=h), 400)
    assert_problem(await client.put(f"/v1/address-book/{ALICE}", json={"name": "x"}, headers=h), 400)
    assert_problem(await client.put(f"/v1/address-book/{'c' * 129}", json={"label": "x"}, headers=h), 400)


async def test_the_book_is_bounded_by_the_quota(tmp_path: Path) -> None:
    env = Env(tmp_path, config=make_config(address_labels_per_account=1))  # [quotas] address_labels_per_account
    try:
        async with api_client(env.app) as client:
            _, h = await signup(client, "alice@example.com")
            assert (await client.put(f"/v1/address-book/{ALICE}", json={"label": "A"}, headers=h)).status_code == 201
            body = assert_problem(await client.put(f"/v1/address-book/{BOB}", json={"label": "B"}, headers=h), 403)
            assert body["type"] == "/problems/quota-exceeded" and "full (1 labels)" in body["detail"]
            # renaming an entry is not a new one
            r = await client.put(f"/v1/address-book/{ALICE}", json={"label": "A2"}, headers=h)
            assert r.status_code == 200
    finally:
        env.close()


async def test_another_account_can_neither_see_nor_change_your_book(client: httpx.AsyncClient) -> None:
    _, alice = await signup(client, "alice@example.com")
    _, bob = await signup(client, "bob@example.com")
    assert (await client.put(f"/v1/address-book/{ALICE}", json={"label": "Treasury"}, headers=alice)).status_code == 201

    assert (await client.get("/v1/address-book", headers=bob)).json()["items"] == []
    assert_problem(await client.delete(f"/v1/address-book/{ALICE}", headers=bob), 404)
    # Bob's label for the same address is his own entry: Alice's is untouched
    assert (await client.put(f"/v1/address-book/{ALICE}", json={"label": "Bob's"}, headers=bob)).status_code == 201
    (entry,) = (await client.get("/v1/address-book", headers=alice)).json()["items"]
    assert entry["label"] == "Treasury"


async def test_the_address_book_needs_a_login(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/address-book"), 401)
    assert_problem(await client.put(f"/v1/address-book/{ALICE}", json={"label": "x"}), 401)
    assert_problem(await client.delete(f"/v1/address-book/{ALICE}"), 401)

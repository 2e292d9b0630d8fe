"""The console's subscriptions pages, as a browser uses them: the real app, real services, a real
RocksDB store; "would it have matched" fetches a real block from the devnet's CometBFT RPC."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from core.chain.blocks import Attribute, DecodedBlock, Event, Scope
from core.chain.pool import EndpointPool
from mempools.devnet.chain import ChainConfig as DevnetConfig
from mempools.devnet.chain import DevnetChain
from mempools.devnet.server import DevnetServer
from tests.apikit import ALICE, CHAIN, Env, api_client
from tests.consolekit import ConsoleUser, console_signup, texts_by_testid

SCRIPT = "<script>alert(1)</script>"


async def _webhook(user: ConsoleUser, name: str = "hook") -> str:
    r = await user.post("/console/destinations/new", {"url": "https://127.0.0.1:9/hook", "name": name})
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).rsplit("/", 1)[1]


async def _create_raw(user: ConsoleUser, name: str, query: str, destinations: list[str]) -> str:
    r = await user.post(
        "/console/subscriptions/new",
        {"mode": "query", "name": name, "chain_id": CHAIN, "queries": query, "destination_ids": destinations},
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).rsplit("/", 1)[1]


async def test_create_from_a_preset_with_a_live_preview(alice: ConsoleUser) -> None:
    dest = await _webhook(alice)
    page = (await alice.get("/console/subscriptions/new?preset=funds_received")).text
    # the form is built from the preset's parameters: required, choices, help
    assert 'name="param_address"' in page and "(address, required)" in page and "(amount)" in page
    assert '<select name="param_include_fees">' in page and "Account address (bech32)." in page
    form = {"mode": "preset", "preset": "funds_received", "name": "Incoming", "chain_id": CHAIN}
    r = await alice.post("/console/subscriptions/preview", form | {"param_address": ALICE}, htmx=True)
    assert r.status_code == 200
    (queries,) = texts_by_testid(r.text, "preview-queries")
    assert f"transfer.recipient = '{ALICE}'" in queries
    r = await alice.post("/console/subscriptions/preview", form | {"param_address": "cosmos1nope"}, htmx=True)
    assert r.status_code == 422 and "address" in texts_by_testid(r.text, "preview-error")[0]
    # without htmx the preview is the whole page, the form kept
    r = await alice.post("/console/subscriptions/preview", form | {"param_address": ALICE})
    assert (
        r.status_code == 200
        and 'id="subscription-form"' in r.text
        and ALICE in texts_by_testid(r.text, "preview-queries")[0]
    )

    r = await alice.post(
        "/console/subscriptions/new", form | {"param_address": ALICE, "param_min_amount": "2", "destination_ids": dest}
    )
    assert r.status_code == 303
    detail = (await alice.get(r.headers["location"])).text
    assert "funds_received" in detail and f"transfer.recipient = &#39;{ALICE}&#39;" in detail
    listing = (await alice.get("/console/subscriptions")).text
    assert "Incoming" in listing and "hook" in listing and "enabled" in listing


async def test_a_bad_preset_param_is_shown_next_to_its_field(alice: ConsoleUser) -> None:
    dest = await _webhook(alice)
    r = await alice.post(
        "/console/subscriptions/new",
        {"mode": "preset", "preset": "funds_received", "name": "x", "chain_id": CHAIN, "destination_ids": dest},
    )
    assert r.status_code == 422
    assert texts_by_testid(r.text, "error-param_address") == ["address: required"]


async def test_raw_query_error_is_shown_at_its_position(alice: ConsoleUser) -> None:
    dest = await _webhook(alice)
    bad = {"mode": "query", "name": "raw", "chain_id": CHAIN, "queries": "tm.event = 'Tx'\ntransfer.amount >"}
    r = await alice.post("/console/subscriptions/check", bad, htmx=True)
    assert r.status_code == 422
    (message,) = texts_by_testid(r.text, "check-error")
    assert message.startswith("Query 2:") and "at character 17" in message
    (caret,) = texts_by_testid(r.text, "error-caret")
    assert caret.splitlines() == ["transfer.amount >", " " * 17 + "^"]
    r = await alice.post("/console/subscriptions/check", bad | {"queries": "tm.event='Tx'"}, htmx=True)
    assert texts_by_testid(r.text, "check-queries") == ["tm.event = 'Tx'"]
    r = await alice.post("/console/subscriptions/new", bad | {"destination_ids": dest})
    assert r.status_code == 422 and "transfer.amount &gt;" in r.text and texts_by_testid(r.text, "error-caret")
    sub_id = await _create_raw(alice, "raw", "tm.event = 'Tx'", [dest])
    assert "tm.event = &#39;Tx&#39;" in (await alice.get(f"/console/subscriptions/{sub_id}")).text
    r = await alice.post("/console/subscriptions/new", bad | {"queries": "tm.event = 'Tx'"})
    assert r.status_code == 422 and "tick at least one" in texts_by_testid(r.text, "error-destinations")[0]


async def test_pause_resume_rename_destinations_delete(alice: ConsoleUser) -> None:
    first, second = await _webhook(alice, "first"), await _webhook(alice, "second")
    sub_id = await _create_raw(alice, "watch", "tm.event = 'Tx'", [first])
    r = await alice.post(f"/console/subscriptions/{sub_id}/pause", htmx=True)
    assert r.status_code == 200 and r.text.startswith(f'<tr id="sub-{sub_id}"') and "paused" in r.text
    assert 'data-testid="resume"' in r.text
    r = await alice.get("/console/subscriptions?status=paused")
    assert "watch" in r.text
    assert "watch" not in (await alice.get("/console/subscriptions?status=enabled")).text
    r = await alice.post(f"/console/subscriptions/{sub_id}/resume", {"next": "/console/subscriptions"})
    assert r.status_code == 303 and r.headers["location"] == "/console/subscriptions"
    assert "enabled" in (await alice.get(f"/console/subscriptions/{sub_id}")).text

    r = await alice.post(
        f"/console/subscriptions/{sub_id}/settings",
        {"name": f"renamed {SCRIPT}", "destination_ids": [first, second]},
        htmx=True,
    )
    assert r.status_code == 200 and texts_by_testid(r.text, "notice") == ["Saved."]
    assert SCRIPT not in r.text and html.escape(SCRIPT, quote=False) in r.text.replace("&#34;", '"')
    listing = (await alice.get("/console/subscriptions?q=RENAMED")).text
    assert "first, second" in listing and SCRIPT not in listing
    r = await alice.post(f"/console/subscriptions/{sub_id}/settings", {"name": "", "destination_ids": first}, htmx=True)
    assert r.status_code == 422 and "name" in texts_by_testid(r.text, "error-name")[0]
    r = await alice.post(f"/console/subscriptions/{sub_id}/settings", {"name": "no dest"}, htmx=True)
    assert r.status_code == 422 and texts_by_testid(r.text, "error-destinations")

    r = await alice.post(f"/console/subscriptions/{sub_id}/delete", htmx=True)
    assert r.status_code == 200 and r.text == ""
    assert (await alice.get(f"/console/subscriptions/{sub_id}")).status_code == 404
    assert "No subscriptions yet" in (await alice.get("/console/subscriptions")).text


async def test_another_accounts_subscription_is_not_found(alice: ConsoleUser, mallory: ConsoleUser) -> None:
    dest = await _webhook(alice)
    sub_id = await _create_raw(alice, "alice's secret sub", "tm.event = 'Tx'", [dest])
    unknown = (await mallory.get("/console/subscriptions/sub_01AAAAAAAAAAAAAAAAAAAAAAAA")).text
    r = await mallory.get(f"/console/subscriptions/{sub_id}")
    assert r.status_code == 404 and r.text == unknown
    assert "alice" not in r.text
    for action in ("pause", "resume", "settings", "delete", "try"):
        r = await mallory.post(f"/console/subscriptions/{sub_id}/{action}", {"name": "x", "destination_ids": dest})
        assert r.status_code == 404, action
        assert "alice" not in r.text
    # using alice's destination in mallory's own subscription is refused the same way
    r = await mallory.post(
        "/console/subscriptions/new",
        {"mode": "query", "name": "m", "chain_id": CHAIN, "queries": "tm.event = 'Tx'", "destination_ids": dest},
    )
    assert r.status_code == 404 and "not found" in r.text
    assert "alice" not in (await mallory.get("/console/subscriptions")).text
    assert "enabled" in (await alice.get(f"/console/subscriptions/{sub_id}")).text  # untouched


async def test_posts_without_the_token_are_refused(alice: ConsoleUser) -> None:
    dest = await _webhook(alice)
    sub_id = await _create_raw(alice, "kept", "tm.event = 'Tx'", [dest])
    for path in ("/console/subscriptions/new", f"/console/subscriptions/{sub_id}/delete"):
        r = await alice.post(path, {"mode": "query", "name": "forged", "queries": "tm.event = 'Tx'"}, token=False)
        assert r.status_code == 403 and "expired" in r.text
    r = await alice.client.post(
        f"/console/subscriptions/{sub_id}/delete",
        data={"_csrf": alice.csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert "kept" in (await alice.get("/console/subscriptions")).text


async def test_bad_filters_and_forms_are_4xx_pages(alice: ConsoleUser) -> None:
    assert (await alice.get("/console/subscriptions?status=bogus")).status_code == 400
    assert (await alice.get("/console/subscriptions?sort=name")).status_code == 400
    assert (await alice.get(f"/console/subscriptions?q={'x' * 500}")).status_code == 400
    r = await alice.post("/console/subscriptions/try", {"mode": "query", "queries": "tm.event='Tx'", "at": "height"})
    assert r.status_code == 422 and "height" in r.text
    r = await alice.post("/console/subscriptions/new", {"mode": "query", "name": "x", "chain_id": "nochain"})
    assert 400 <= r.status_code < 500
    # this app has no block fetcher: said where the answer would be, not as a 500
    draft = {"mode": "query", "chain_id": CHAIN, "queries": "tm.event='Tx'", "at": "height", "height": "3"}
    r = await alice.post("/console/subscriptions/try", draft, htmx=True)
    assert r.status_code == 503 and "not available in this process" in texts_by_testid(r.text, "try-error")[0]


@pytest.fixture
async def devnet() -> AsyncIterator[tuple[DevnetChain, DevnetServer]]:
    chain = DevnetChain(DevnetConfig(chain_id=CHAIN, block_time=0, history=3, txs_per_block=2))
    async with DevnetServer(chain, run_clock=False) as server:
        yield chain, server


async def test_would_it_have_matched_real_blocks(tmp_path: Path, devnet: tuple[DevnetChain, DevnetServer]) -> None:
    chain, server = devnet
    sender, recipient = chain.book.accounts[0], chain.book.accounts[1]
    injected = chain.schedule_transfer(sender, recipient, 1_500_000)
    chain.advance()
    pool = EndpointPool(CHAIN, [server.url])

    async def fetch(chain_id: str, height: int) -> DecodedBlock:
        return await pool.fetch_height(height)

    async def latest(chain_id: str) -> int:
        return await pool.latest_height()

    env = Env(tmp_path / "q", fetch_block=fetch, latest_height=latest)
    try:
        async with api_client(env.app) as c:
            user = await console_signup(c, "alice@example.com")
            draft = {"mode": "preset", "preset": "funds_received", "chain_id": CHAIN, "param_address": recipient}
            at = {"at": "height", "height": str(injected.height)}
            r = await user.post("/console/subscriptions/try", draft | at, htmx=True)
            assert r.status_code == 200, r.text
            assert texts_by_testid(r.text, "try-verdict")[0].startswith(
                f"Yes: it would have matched at height {injected.height} on {CHAIN}"
            )
            assert injected.tx_hash in r.text and "post-filter was applied" in r.text
            span = {"at": "range", "height_from": "1", "height_to": str(injected.height)}
            r = await user.post("/console/subscriptions/try", draft | span, htmx=True)
            verdict = texts_by_testid(r.text, "try-verdict")[0]
            assert verdict.startswith(f"Yes: it would have matched at height {injected.height} ")
            assert f"(of heights 1\u2013{injected.height})" in verdict
            r = await user.post("/console/subscriptions/try", draft | span | {"param_address": sender}, htmx=True)
            assert texts_by_testid(r.text, "try-verdict")[0].startswith(f"No match at heights 1\u2013{injected.height}")
            r = await user.post("/console/subscriptions/try", draft | span | {"height_to": "200"}, htmx=True)
            assert r.status_code == 422 and "at most 100 heights" in texts_by_testid(r.text, "try-error")[0]
            r = await user.post("/console/subscriptions/try", draft | {"at": "height", "height": "99999"}, htmx=True)
            assert r.status_code == 200 and "not available" in texts_by_testid(r.text, "try-height-error")[0]

            dest = await _webhook(user)
            queries = f"transfer.recipient = '{recipient}'\ntm.event = 'NewBlock' AND block.height = 1"
            sub_id = await _create_raw(user, "raw", queries, [dest])
            r = await user.post(f"/console/subscriptions/{sub_id}/try", at)
            assert r.status_code == 200 and 'id="sub-settings"' in r.text  # the whole page, plain post
            assert texts_by_testid(r.text, "try-verdict")[0].startswith(
                f"Yes: it would have matched at height {injected.height}"
            )
            r = await user.post(f"/console/subscriptions/{sub_id}/try", {"at": "latest"}, htmx=True)
            assert r.status_code == 200 and texts_by_testid(r.text, "try-verdict")[0].startswith("Yes")
            r = await user.post(f"/console/subscriptions/{sub_id}/try", {"at": "range", "height_from": "1"}, htmx=True)
            assert r.status_code == 422 and "height_to" in texts_by_testid(r.text, "try-error")[0]
    finally:
        env.close()
        await pool.aclose()


async def test_signed_out_pages_redirect_to_login(client: httpx.AsyncClient) -> None:
    r = await client.get("/console/subscriptions/new?mode=query")
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login?next=/console/subscriptions/new")


async def test_script_in_event_values_is_escaped_in_try_results(tmp_path: Path) -> None:
    """A chain's event values are anyone's text: shown as text, never as markup."""
    events = (Event(type="wasm", attributes=(Attribute("action", SCRIPT), Attribute(SCRIPT, "x"))),)
    scope = Scope(
        kind="tx", index=0, tx_hash="AB" * 32, code=0, codespace=None, gas_wanted=1, gas_used=1, events=events,
        events_map={"wasm.action": [SCRIPT], f"wasm.{SCRIPT}": ["x"], "tm.event": ["Tx"], "tx.height": ["5"]},
    )  # fmt: skip

    async def fetch(chain_id: str, height: int) -> DecodedBlock:
        return DecodedBlock(height=height, time=SCRIPT, chain_id=CHAIN, scopes=(scope,))

    env = Env(tmp_path / "x", fetch_block=fetch)
    try:
        async with api_client(env.app) as c:
            user = await console_signup(c, "alice@example.com")
            draft = {"mode": "query", "chain_id": CHAIN, "queries": "wasm.action EXISTS", "at": "height", "height": "5"}
            r = await user.post("/console/subscriptions/try", draft, htmx=True)
            assert r.status_code == 200 and texts_by_testid(r.text, "try-verdict")[0].startswith("Yes")
            assert SCRIPT not in r.text and r.text.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3
    finally:
        env.close()

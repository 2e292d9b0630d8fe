"""The console's API keys and link-code pages: a key shown once that works against the API until
it is revoked there, the link code with exactly what to send to each bot, and the identities
linked; another account's key is not found, forged posts are refused, names are escaped."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ValidationError
from tests.apikit import Env, api_client
from tests.consolekit import ConsoleUser, texts_by_testid

SCRIPT = "<script>alert(1)</script>"


async def test_a_key_is_shown_once_works_and_is_revoked(alice: ConsoleUser, env: Env) -> None:
    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    r = await alice.post("/console/api-keys/new", {"name": f"deploy {SCRIPT}", "expires": expires})
    assert r.status_code == 303 and r.headers["location"] == "/console/api-keys"
    page = (await alice.get("/console/api-keys")).text
    (key,) = texts_by_testid(page, "api-key")
    assert key.startswith("mp_")
    (curl,) = texts_by_testid(page, "curl-example")
    assert curl == f'curl -H "Authorization: Bearer {key}" http://testserver.local/v1/subscriptions'
    assert SCRIPT not in page and "deploy &lt;script&gt;" in page
    assert f"{expires} 23:59:59 UTC" in page and "never" in page  # expiry shown; not used yet
    again = (await alice.get("/console/api-keys")).text
    assert key not in again and texts_by_testid(again, "api-key") == []  # not on a reload

    async with api_client(env.app) as program:  # a program with the key, no cookies
        bearer = {"Authorization": f"Bearer {key}"}
        assert (await program.get("/v1/subscriptions", headers=bearer)).status_code == 200
        listed = (await alice.get("/console/api-keys")).text
        assert "never" not in listed.split('data-testid="key-row"')[1].split("</td>")[3]  # last used now shown
        key_id = re.search(r'id="key-(key_[0-9A-Z]+)"', listed).group(1)  # type: ignore[union-attr]
        r = await alice.post(f"/console/api-keys/{key_id}/revoke", htmx=True)
        assert r.status_code == 200 and r.text.startswith(f'<tr id="key-{key_id}"')
        assert texts_by_testid(r.text, "key-state") == ["revoked"] and 'data-testid="revoke"' not in r.text
        r = await program.get("/v1/subscriptions", headers=bearer)
        assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert "revoked" in (await alice.get("/console/api-keys")).text


async def test_bad_key_forms_are_said_on_the_form(alice: ConsoleUser) -> None:
    r = await alice.post("/console/api-keys/new", {"name": ""})
    assert r.status_code == 422 and "name" in texts_by_testid(r.text, "form-error")[0]
    r = await alice.post("/console/api-keys/new", {"name": "x", "expires": "2001-01-01"})
    assert r.status_code == 422 and "future" in texts_by_testid(r.text, "form-error")[0]
    r = await alice.post("/console/api-keys/new", {"name": "x", "expires": "next tuesday"})
    assert r.status_code == 422 and "a date such as" in texts_by_testid(r.text, "form-error")[0]
    assert 'value="x"' in r.text  # the form keeps what was typed
    assert "No API keys yet" in (await alice.get("/console/api-keys")).text


async def test_another_accounts_key_is_not_found_and_forged_posts_are_refused(
    alice: ConsoleUser, mallory: ConsoleUser, env: Env
) -> None:
    key, _ = await env.services.accounts.create_api_key(alice.account_id, "alice's key")
    unknown = await mallory.post("/console/api-keys/key_01AAAAAAAAAAAAAAAAAAAAAAAA/revoke")
    r = await mallory.post(f"/console/api-keys/{key.id}/revoke")
    assert r.status_code == 404 and r.text == unknown.text and "alice" not in r.text
    assert "alice" not in (await mallory.get("/console/api-keys")).text
    for path, data in ((f"/console/api-keys/{key.id}/revoke", {}), ("/console/api-keys/new", {"name": "forged"})):
        r = await alice.post(path, data, token=False)
        assert r.status_code == 403
        r = await alice.post(path, data | {"_csrf": mallory.csrf}, token=False)  # another session's token
        assert r.status_code == 403
    page = (await alice.get("/console/api-keys")).text
    assert "forged" not in page and texts_by_testid(page, "key-state") == ["active"]
    r = await alice.post("/console/link", token=False)
    assert r.status_code == 403


async def test_link_code_says_what_to_send_and_identities_are_listed(alice: ConsoleUser, env: Env) -> None:
    page = (await alice.get("/console/link")).text
    assert "None yet." not in page  # the account's email is an identity
    assert "alice@example.com" in page
    r = await alice.post("/console/link", htmx=True)
    assert r.status_code == 200 and r.text.startswith('<div id="link-code">')
    (code,) = texts_by_testid(r.text, "link-code")
    assert re.fullmatch(r"[0-9A-Z]{8}", code)
    assert texts_by_testid(r.text, "telegram-command") == [f"/link {code}"]
    assert texts_by_testid(r.text, "discord-command") == [f"/link code:{code}"]
    assert "UTC" in r.text  # its expiry
    r = await alice.post("/console/link")  # a plain post: the page, with a new code
    assert r.status_code == 200 and 'id="identities"' in r.text
    (second,) = texts_by_testid(r.text, "link-code")
    assert second != code

    await env.services.accounts.redeem_link_code(second, "telegram", "777", username=f"tg {SCRIPT}")
    page = (await alice.get("/console/link")).text
    assert "telegram" in page and "tg &lt;script&gt;" in page and SCRIPT not in page
    with pytest.raises(ValidationError, match="not valid"):
        await env.services.accounts.redeem_link_code(code, "discord", "888")  # replaced by the second

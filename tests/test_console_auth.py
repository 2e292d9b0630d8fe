"""The console's doors: sign up, log in, log out, the overview, CSRF and error pages (over HTTP,
as a browser would post the forms; the real-browser tests are in test_console_browser.py)."""

from __future__ import annotations

import re
from html import unescape

import httpx

from api.throttle import LoginThrottle
from tests.apikit import PASSWORD, Env, api_client
from tests.consolekit import console_signup as signup
from tests.consolekit import csrf_of


def token_of(page: httpx.Response) -> str:
    return csrf_of(page.text)


async def console_signup(client: httpx.AsyncClient, email: str, name: str | None = None) -> str:
    """Sign up through the form (the client keeps the session); the session's form token."""
    return (await signup(client, email, display_name=name)).csrf


def text(page: httpx.Response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", page.text))


async def test_a_visitor_is_sent_to_the_login_page_and_back_to_what_they_asked_for(env: Env) -> None:
    async with api_client(env.app) as client:
        asked = await client.get("/console")
        assert asked.status_code == 303
        assert asked.headers["location"] == "/console/login?next=/console"
        await console_signup(client, "alice@example.com")
        await client.post("/console/logout", data={"_csrf": token_of(await client.get("/console"))})
        login = await client.get("/console/login?next=/console/history%3Foutcome%3Ddead")
        assert 'name="next" value="/console/history?outcome=dead"' in login.text
        done = await client.post(
            "/console/login",
            data={
                "_csrf": token_of(login),
                "email": "alice@example.com",
                "password": PASSWORD,
                "next": "/console/history?outcome=dead",
            },
        )
        assert done.status_code == 303 and done.headers["location"] == "/console/history?outcome=dead"


async def test_after_login_only_console_paths_are_followed(env: Env) -> None:
    async with api_client(env.app) as client:
        await console_signup(client, "alice@example.com")
        await client.post("/console/logout", data={"_csrf": token_of(await client.get("/console"))})
        for elsewhere in ("https://evil.example/", "//evil.example/console", "/\\evil.example", "/v1/me"):
            login = await client.get("/console/login")
            done = await client.post(
                "/console/login",
                data={"_csrf": token_of(login), "email": "alice@example.com", "password": PASSWORD, "next": elsewhere},
            )
            assert done.status_code == 303 and done.headers["location"] == "/console", elsewhere


async def test_sign_up_lands_on_the_overview_with_the_chains_and_the_name_escaped(env: Env) -> None:
    async with api_client(env.app) as client:
        await console_signup(client, "alice@example.com", name="<script>alert(1)</script>")
        overview = await client.get("/console")
        assert overview.status_code == 200
        assert "<script>alert(1)</script>" not in overview.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in overview.text
        seen = text(overview)
        assert "Test chain" in seen and "Other chain" in seen and "not watched" in seen
        assert "0 dead letters" in " ".join(seen.split())
        assert "Nothing yet" in seen
        # The same session works for the API: the cookie is the API's.
        me = await client.get("/v1/me")
        assert me.status_code == 200 and me.json()["email"] == "alice@example.com"


async def test_a_console_session_is_an_api_session_and_the_other_way_round(env: Env) -> None:
    async with api_client(env.app) as client:
        await client.post("/v1/accounts", json={"email": "bob@example.com", "password": PASSWORD})
        login = await client.post("/v1/sessions", json={"email": "bob@example.com", "password": PASSWORD})
        assert login.status_code == 201
        overview = await client.get("/console")
        assert overview.status_code == 200 and "bob@example.com" in overview.text


async def test_a_wrong_password_is_said_on_the_form_and_the_throttle_applies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = Env(tmp_path, throttle=LoginThrottle(per_email=3))
    try:
        async with api_client(env.app) as client:
            await console_signup(client, "alice@example.com")
            await client.post("/console/logout", data={"_csrf": token_of(await client.get("/console"))})
            statuses = []
            for _ in range(4):
                login = await client.get("/console/login")
                wrong = await client.post(
                    "/console/login",
                    data={"_csrf": token_of(login), "email": "alice@example.com", "password": "not it at all"},
                )
                statuses.append(wrong.status_code)
                assert 'value="alice@example.com"' in wrong.text  # the email is kept
            assert statuses[:3] == [401, 401, 401] and statuses[3] == 429
            assert "retry-after" in wrong.headers and "try again" in text(wrong).lower()
            # Throttled means throttled: the right password is refused too, until the wait is over.
            login = await client.get("/console/login")
            right = await client.post(
                "/console/login", data={"_csrf": token_of(login), "email": "alice@example.com", "password": PASSWORD}
            )
            assert right.status_code == 429
    finally:
        env.close()


async def test_a_form_without_the_token_or_with_another_sessions_token_is_refused(env: Env) -> None:
    async with api_client(env.app) as client:
        first = await console_signup(client, "alice@example.com")
        refused = await client.post("/console/logout", data={})
        assert refused.status_code == 403 and "this form has expired" in text(refused)
        assert refused.headers["content-type"].startswith("text/html")
        forged = await client.post("/console/logout", data={"_csrf": "0" * 64})
        assert forged.status_code == 403
        # Log out and in again: the old session's forms are stale.
        assert (await client.post("/console/logout", data={"_csrf": first})).status_code == 303
        login = await client.get("/console/login")
        await client.post(
            "/console/login", data={"_csrf": token_of(login), "email": "alice@example.com", "password": PASSWORD}
        )
        stale = await client.post("/console/logout", data={"_csrf": first})
        assert stale.status_code == 403
        assert (await client.get("/console")).status_code == 200  # still signed in
        # The token also goes as a header (htmx sends it so from <body hx-headers>).
        header = await client.post("/console/logout", headers={"X-CSRF-Token": token_of(await client.get("/console"))})
        assert header.status_code == 303


async def test_a_login_form_without_the_pre_session_cookie_token_is_refused(env: Env) -> None:
    async with api_client(env.app) as client:
        await client.post("/v1/accounts", json={"email": "bob@example.com", "password": PASSWORD})
        refused = await client.post("/console/login", data={"email": "bob@example.com", "password": PASSWORD})
        assert refused.status_code == 403
        assert "mp_session" not in refused.cookies


async def test_a_form_from_another_site_is_refused_even_with_a_token(env: Env) -> None:
    async with api_client(env.app) as client:
        token = await console_signup(client, "alice@example.com")
        refused = await client.post(
            "/console/logout", data={"_csrf": token}, headers={"Origin": "https://evil.example"}
        )
        assert refused.status_code == 403 and "cross-origin" in text(refused)
        assert (await client.get("/console")).status_code == 200


async def test_errors_are_pages_not_json_and_never_a_500(env: Env) -> None:
    async with api_client(env.app) as client:
        await console_signup(client, "alice@example.com")
        missing = await client.get("/console/no-such-page")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        odd = await client.get("/console?x=<script>")
        assert odd.status_code == 400 and "<script>" not in odd.text and "unknown query parameter" in text(odd)
        # An htmx request gets the message for the page's flash area.
        flash = await client.post("/console/logout", data={}, headers={"HX-Request": "true"})
        assert flash.status_code == 403 and flash.headers["hx-retarget"] == "#flash"
        assert "this form has expired" in text(flash) and "<html" not in flash.text


async def test_an_htmx_request_without_a_session_redirects_the_whole_page(env: Env) -> None:
    async with api_client(env.app) as client:
        answer = await client.get("/console", headers={"HX-Request": "true"})
        assert answer.status_code == 200 and answer.headers["hx-redirect"] == "/console/login?next=/console"


async def test_console_pages_load_nothing_from_another_host(env: Env) -> None:
    async with api_client(env.app) as client:
        await console_signup(client, "alice@example.com")
        for path in ("/console", "/console/login", "/console/signup"):
            page = await client.get(path)
            assert "default-src 'self'" in page.headers["content-security-policy"]
            for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
                assert url.startswith(("/", "#", "data:")) and not url.startswith("//"), (path, url)
            for url in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
                if url.startswith(("/console/static/", "/static/")):
                    assert (await client.get(url)).status_code == 200, url

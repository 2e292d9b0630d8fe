"""The web console in a real Chromium against a real `mempools serve` on a devnet (issue #17).

What a person sees: signing up lands on the overview with the chain's height, logging out and in
again (a wrong password says so on the form), a form without its token refused with a 403 page,
pages that fit a phone and a desktop, and a second account that sees nothing of the first one's
by any console URL. Every test's browser is checked at its end: every request went to the
console's own origin and no page had a script error (tests/browser.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from api.console.render import NAVIGATION
from tests.browser import (
    DESKTOP,
    PHONE,
    ConsoleStack,
    Visit,
    api_post,
    assert_shows_none_of,
    assert_writes_refused,
    guessable_urls,
    has_no_horizontal_scroll,
    log_in,
    log_out,
    open_visit,
    sign_up,
    visiting,
)
from tests.polling import until, until_async

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

#: Console URLs that name one of an account's things; `{...}` are that account's ids. Pages
#: added later go here (a pattern whose page does not exist yet answers 404, which leaks nothing).
OWNED_URL_PATTERNS = (
    "/console/subscriptions/{subscription_id}",
    "/console/destinations/{destination_id}",
    "/console/destinations/{destination_id}/attempts",
    "/console/history/{notification_id}",
    "/console/history?subscription_id={subscription_id}",
    "/console/history?subscription_id={subscription_id}&outcome=delivered",
    "/console/history?tx_hash={tx_hash}",
    "/console/history?height_from={height}&height_to={height}",
    "/console/dead-letters?destination_id={destination_id}",
)

#: The console's writes that name one of an account's things: (path, form fields). Posted by
#: another account (with its own valid CSRF token), each must be refused (404, as for an
#: unknown id) without showing or changing anything of the owner's.
OWNED_WRITE_PATTERNS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/console/subscriptions/{subscription_id}/pause", {}),
    ("/console/subscriptions/{subscription_id}/resume", {}),
    ("/console/subscriptions/{subscription_id}/settings", {"name": "stolen", "destination_ids": "{destination_id}"}),
    ("/console/subscriptions/{subscription_id}/try", {"mode": "latest"}),
    ("/console/subscriptions/{subscription_id}/delete", {}),
    ("/console/destinations/{destination_id}/disable", {}),
    ("/console/destinations/{destination_id}/enable", {}),
    ("/console/destinations/{destination_id}/rotate", {}),
    ("/console/destinations/{destination_id}/test", {}),
    ("/console/destinations/{destination_id}/delete", {}),
    ("/console/history/{notification_id}/redeliver", {}),
    ("/console/dead-letters/redeliver", {"notification_id": "{notification_id}", "destination_id": "{destination_id}"}),
    ("/console/dead-letters/recover", {"destination_id": "{destination_id}", "since": "2020-01-01T00:00"}),
    ("/console/api-keys/{key_id}/revoke", {}),
)


async def test_sign_up_shows_the_overview_then_log_out_and_back_in(visit: Visit, console: ConsoleStack) -> None:
    page = visit.page
    await sign_up(page, "ada@example.com", name="Ada")

    assert await page.get_by_role("heading", level=1).inner_text() == "Overview"
    chain_row = page.locator("#chain-devnet-1")
    assert await chain_row.locator("td").nth(1).inner_text() == f"{console.chain.tip:,}"  # watched to the tip
    assert await chain_row.locator(".badge").inner_text() == "ok"
    assert await page.locator("header .name").inner_text() == "Ada"
    live = page.locator("#live-state")
    assert await live.is_visible() and (await live.get_attribute("title") or "").startswith("Live updates")
    assert await page.locator('nav a[aria-current="page"]').inner_text() == "Overview"

    await log_out(page)
    answer = await page.goto("/console")  # signed out: the overview sends to the login page
    assert answer is not None and page.url.endswith("/console/login?next=/console")

    await log_in(page, "ada@example.com", "not the passphrase")
    assert await page.get_by_role("alert").inner_text() == "email or password is wrong"
    assert await page.get_by_label("Email").input_value() == "ada@example.com"  # kept; the password is not
    assert await page.get_by_label("Password").input_value() == ""

    await page.get_by_label("Password").fill("a long passphrase")
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url("**/console")
    assert await page.get_by_role("heading", level=1).inner_text() == "Overview"


async def test_a_form_without_its_token_is_refused_with_a_403_page(visit: Visit) -> None:
    page = visit.page
    # Before any session: a login form whose token was tampered with.
    await page.goto("/console/login")
    await page.locator('input[name="_csrf"]').evaluate("input => { input.value = '0'.repeat(64); }")
    await page.get_by_label("Email").fill("nobody@example.com")
    await page.get_by_label("Password").fill("whatever it is")
    async with page.expect_response("**/console/login") as refused:
        await page.get_by_role("button", name="Log in").click()
    assert (await refused.value).status == 403
    await _sees_the_stale_form_page(page)

    # Signed in: the log-out form with its hidden token removed from the page.
    await sign_up(page, "grace@example.com", name="Grace")
    await page.locator('form[action="/console/logout"] input[name="_csrf"]').evaluate("input => input.remove()")
    async with page.expect_response("**/console/logout") as refused:
        await log_out_clicked(page)
    assert (await refused.value).status == 403
    await _sees_the_stale_form_page(page)
    await page.goto("/console")  # the forged log-out did nothing: still signed in
    assert await page.locator("header .name").inner_text() == "Grace"


async def log_out_clicked(page: Any) -> None:
    await page.get_by_role("button", name="Log out").click()


async def _sees_the_stale_form_page(page: Any) -> None:
    await page.wait_for_load_state()
    assert await page.get_by_role("heading", level=1).inner_text() == "403 · Forbidden"
    assert "this form has expired or did not come from this console" in await page.locator(".detail").inner_text()


async def test_pages_fit_a_phone_and_a_desktop_and_a_hostile_name_stays_text(visit: Visit) -> None:
    page = visit.page
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>' + "W" * 40
    anonymous = ("/console/login", "/console/signup", "/console/no-such-page")
    for size in (PHONE, DESKTOP):
        await page.set_viewport_size(size)
        for path in anonymous:
            await page.goto(path)
            assert await has_no_horizontal_scroll(page), f"{path} scrolls sideways at {size['width']} px"
    await sign_up(page, "mallory@example.com", name=hostile)
    for size in (PHONE, DESKTOP):
        await page.set_viewport_size(size)
        for path in ("/console", "/console/no-such-page"):
            await page.goto(path)
            assert await has_no_horizontal_scroll(page), f"{path} scrolls sideways at {size['width']} px"
    # The name is shown as text, not markup; and the phone layout keeps every section reachable.
    await page.set_viewport_size(PHONE)
    await page.goto("/console")
    assert await page.locator("header .name").inner_text() == hostile[:100]
    assert await page.locator("header .name img, script:not([src])").count() == 0
    for _, label, _ in NAVIGATION:
        assert await page.get_by_role("link", name=label, exact=True).first.is_visible(), label


async def test_a_second_account_sees_none_of_the_first_ones_data(
    browser: Any, visit: Visit, console: ConsoleStack
) -> None:
    first = visit.page
    marker = "Zed-7f3a"  # in the first account's name and its things' names: anywhere it shows, it leaked
    await sign_up(first, "zed@example.com", name=f"{marker} person")
    wallet = console.fresh_address("isolation")
    destination = await api_post(
        first, "/v1/destinations", {"kind": "webhook", "url": console.receiver.url("/zed"), "name": f"{marker} hook"}
    )
    subscription = await api_post(
        first,
        "/v1/subscriptions",
        {
            "chain_id": console.chain.config.chain_id,
            "name": f"{marker} wallet",
            "preset": "funds_either",
            "params": {"address": wallet},
            "destination_ids": [destination["id"]],
        },
    )
    key = await api_post(first, "/v1/api-keys", {"name": f"{marker} key"})
    console.send_to(wallet)
    notification = await _first_notification(first)
    ids = {
        "subscription_id": subscription["id"],
        "destination_id": destination["id"],
        "notification_id": notification["id"],
        "key_id": key["id"],
        "tx_hash": notification["tx_hash"],
        "height": str(notification["height"]),
    }
    urls = [path for _, _, path in NAVIGATION] + guessable_urls(OWNED_URL_PATTERNS, ids)
    await until(lambda: [r.path for r in console.receiver.received].count("/zed") == 1, timeout=10)

    await first.goto("/console")  # the first account does see its things (so the check below is not empty)
    assert await first.locator("#recent-notifications").get_by_text(f"{marker} wallet").count() == 1

    async with visiting(browser, console.url) as second_visit:
        second = second_visit.page
        await sign_up(second, "eve@example.com", name="Eve")
        await assert_shows_none_of(second, urls, [marker, "zed@example.com", wallet, "/zed"])
        await assert_writes_refused(second, OWNED_WRITE_PATTERNS, ids, [marker, "zed@example.com", wallet, "/zed"])

    # None of those writes changed anything of the first account's.
    await _unchanged(first, ids, subscription, destination)
    assert [r.path for r in console.receiver.received].count("/zed") == 1  # no test event, no redelivery


async def _unchanged(page: Any, ids: dict[str, str], subscription: dict[str, Any], destination: dict[str, Any]) -> None:
    async def read(path: str) -> Any:
        answer = await page.request.get(path)
        assert answer.status == 200, (path, answer.status)
        return await answer.json()

    sub = await read(f"/v1/subscriptions/{ids['subscription_id']}")
    assert (sub["name"], sub["enabled"], sub["destination_ids"]) == (
        subscription["name"],
        True,
        subscription["destination_ids"],
    )
    dest = await read(f"/v1/destinations/{ids['destination_id']}")
    assert (dest["name"], dest["enabled"], dest.get("previous_secret_expires_at")) == (destination["name"], True, None)
    keys = (await read("/v1/api-keys"))["items"]
    assert [(k["id"], k["revoked_at"]) for k in keys] == [(ids["key_id"], None)]
    detail = await read(f"/v1/notifications/{ids['notification_id']}")
    assert detail["pending"] == [] and len(detail["attempts"]) == 1


async def _first_notification(page: Any, timeout: float = 15) -> dict[str, Any]:
    """The account's first notification, once the server has made it (through the API)."""
    items: list[dict[str, Any]] = []

    async def made() -> bool:
        items[:] = (await (await page.request.get("/v1/notifications?limit=1")).json())["items"]
        return bool(items)

    await until_async(made, timeout=timeout)
    return items[0]


async def test_the_recorder_catches_a_request_elsewhere_and_a_script_error(browser: Any, console: ConsoleStack) -> None:
    """The end-of-test check is not empty: what a page must not do, done on purpose, is caught."""
    elsewhere = "http://cdn.example.invalid/pixel.png"
    checked = await open_visit(browser, console.url)
    try:
        page, recorder = checked.page, checked.recorder
        await checked.context.route(elsewhere, lambda route: route.fulfill(status=404))  # never leaves the browser
        await page.goto("/console/login")
        await page.evaluate("() => { setTimeout(() => { throw new Error('boom'); }); }")
        await until(lambda: recorder.errors)
        assert recorder.errors == [f"{console.url}/console/login: uncaught boom"]
        # Something from elsewhere on a console page: asked for (recorded), and refused by the CSP.
        await page.evaluate(
            "u => { const i = document.createElement('img'); i.src = u; document.body.append(i); }", elsewhere
        )
        await until(lambda: any("Content Security Policy" in error for error in recorder.errors))
        assert recorder.foreign_requests(console.url) == [elsewhere]
        with pytest.raises(AssertionError, match="requests to other origins"):
            recorder.assert_clean(console.url)
    finally:
        await checked.context.close()

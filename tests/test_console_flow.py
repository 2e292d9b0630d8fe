"""The console end to end in a real browser, as one user clicks through it.

Against `mempools serve` on a devnet (tests/browser.py ConsoleStack): sign up; add a webhook
pointing at the stack's receiver and see its signing secret once; make a subscription from a
preset (a bad parameter said inline by a 422, then the preview of the queries); leave the
overview open while the devnet makes a matching transfer, and see the row arrive and turn
"delivered" without a reload; open it (payload, the attempt with HTTP 200) and redeliver it (the
receiver gets the same webhook-id again). Then a destination answering 410 Gone: its dead letter
on the dead letters page, a recovery refused while it is disabled, enabled again, recovered, and
delivered. The `visit` fixture's Recorder checks at the end that every request went to the
console's origin and that no page logged a script error (the 422s included).
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser import PHONE, ConsoleStack, Visit, broken_words, has_no_horizontal_scroll, sign_up
from tests.fakes.webhook_receiver import Received, Reply
from tests.polling import until, until_async

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

ID = r"[A-Za-z0-9_-]+"


async def test_a_user_subscribes_sees_a_notification_live_redelivers_it_and_recovers_a_dead_letter(
    visit: Visit, console: ConsoleStack
) -> None:
    page = visit.page
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))  # the data-confirm questions
    await sign_up(page, "flow@example.com", name="Flow")

    hook_id = await _add_webhook(page, "Flow hook", console.receiver.url("/flow"))
    wallet = console.fresh_address("flow")
    await _subscribe_from_preset(page, "Flow wallet", wallet, destination="Flow hook", bad_address="cosmos1nope")

    # The overview, left open: the transfer's row arrives over the live stream, then its attempt.
    await page.goto("/console")
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    await page.evaluate("() => { window.stillTheSamePage = true; }")  # gone if the page reloads
    console.send_to(wallet)
    row = page.locator("#recent-notifications tr[data-testid=notification-row]", has_text="Flow wallet")
    await expect(row).to_have_count(1, timeout=15_000)
    await expect(row.locator("td.delivery")).to_contain_text("delivered", timeout=10_000)
    await expect(row.locator("td.delivery")).to_contain_text("HTTP 200")
    assert await page.evaluate("() => window.stillTheSamePage === true"), "the overview reloaded"
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "open")
    first = _webhooks_to(console, "/flow")
    assert len(first) == 1 and wallet in first[0].body.decode()
    webhook_id = first[0].headers["webhook-id"]

    # Its page: the exact payload and the attempt; then "Redeliver now".
    await row.locator("td a[href^='/console/history/']").click()
    await page.wait_for_url(re.compile(rf"/console/history/{ID}$"))
    notification_id = page.url.rsplit("/", 1)[1]
    assert webhook_id == notification_id
    await expect(page.locator("#payload-json")).to_contain_text(wallet)
    await expect(page.locator("#payload-json")).to_contain_text(notification_id)
    attempt = page.locator("#attempt-list tr[data-testid=attempt-row]")
    await expect(attempt).to_have_count(1)
    await expect(attempt).to_contain_text("delivered")
    await expect(attempt.locator("td.num").nth(1)).to_have_text("200")
    await expect(attempt).to_contain_text("Flow hook")
    await page.get_by_role("button", name="Redeliver now").click()
    await expect(page.locator("#redelivered")).to_have_text("Queued to 1 destination: Flow hook.")
    await until(lambda: len(_webhooks_to(console, "/flow")) == 2, timeout=10)
    assert _webhooks_to(console, "/flow")[1].headers["webhook-id"] == webhook_id  # the same message, again
    await page.reload()
    await expect(attempt).to_have_count(2)

    # A destination that answers 410 Gone: dead at once, and disabled.
    gone_id = await _add_webhook(page, "Gone hook", console.receiver.url("/gone"))
    gone_wallet = console.fresh_address("flow-gone")
    await _subscribe_from_preset(page, "Gone wallet", gone_wallet, destination="Gone hook")
    since = datetime.now(UTC) - timedelta(minutes=1)
    console.receiver.script(Reply(status=410, body=b"gone"))
    console.send_to(gone_wallet)
    await _until_dead_letters(page, 1)

    await page.goto("/console/dead-letters")
    dead = page.locator("#dead-letters tr[data-testid=dead-letter-row]")
    await expect(dead).to_have_count(1)
    await expect(dead).to_contain_text("Gone hook")
    await expect(dead).to_contain_text("410")
    recover = page.locator("#recover-form")
    await recover.get_by_label("Destination").select_option(gone_id)
    await recover.get_by_label("Dead since").fill(since.strftime("%Y-%m-%dT%H:%M"))
    async with page.expect_response("**/console/dead-letters/recover") as refused:
        await recover.get_by_role("button", name="Recover").click()
    assert (await refused.value).status == 422  # disabled: said on the form, and nothing logged
    await expect(page.get_by_test_id("recover-error")).to_contain_text("disabled")

    # Fixed: the endpoint answers 200 again (the receiver's default), the destination enabled.
    await page.goto(f"/console/destinations/{gone_id}")
    await expect(page.locator("#destination-state")).to_contain_text("disabled")
    await page.get_by_test_id("enable").click()
    await expect(page.get_by_test_id("disable")).to_be_visible()

    await page.goto("/console/dead-letters")
    await recover.get_by_label("Destination").select_option(gone_id)
    await recover.get_by_label("Dead since").fill(since.strftime("%Y-%m-%dT%H:%M"))
    await recover.get_by_role("button", name="Recover").click()
    await expect(page.get_by_test_id("recover-result")).to_have_text("Queued 1 dead letter of Gone hook again.")
    await until(lambda: len(_webhooks_to(console, "/gone")) == 2, timeout=10)
    await _until_dead_letters(page, 0)
    await page.reload()
    await expect(dead).to_have_count(0)
    gone_notification = _webhooks_to(console, "/gone")[1].headers["webhook-id"]
    await page.goto(f"/console/history/{gone_notification}")
    await expect(attempt).to_have_count(2)
    await expect(attempt.first).to_contain_text("dead_letter")  # oldest first: the 410, then the recovered one
    await expect(attempt.first).to_contain_text("HTTP 410")
    await expect(attempt.last).to_contain_text("delivered")
    await expect(attempt.last.locator("td.num").nth(1)).to_have_text("200")

    # The pages of the flow on a phone: nothing scrolls sideways, no header, number or time is
    # split mid-word, and an attempt's outcome is on screen (not scrolled away in its table).
    await page.set_viewport_size(PHONE)
    pages = (
        f"/console/history/{gone_notification}",
        f"/console/destinations/{gone_id}",
        f"/console/destinations/{hook_id}",
    )
    for path in (*pages, "/console/dead-letters", "/console/history", "/console"):
        await page.goto(path)
        assert await has_no_horizontal_scroll(page), path
        assert await broken_words(page) == [], path
    await page.goto(f"/console/history/{gone_notification}")
    outcome = page.locator("#attempt-list .badge").first
    box = await outcome.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"], box


async def _add_webhook(page: Any, name: str, url: str) -> str:
    """The destinations page's form; the destination's page shows the secret this once. Its id."""
    await page.goto("/console/destinations")
    form = page.locator("#new-webhook")
    await form.get_by_label("URL").fill(url)
    await form.get_by_label("Name").fill(name)
    await form.get_by_role("button", name="Add the webhook").click()
    await page.wait_for_url(re.compile(rf"/console/destinations/{ID}$"))
    await expect(page.locator("#destination-name")).to_have_text(name)
    secret = await page.get_by_test_id("secret").inner_text()
    assert secret.startswith("whsec_")
    await expect(page.get_by_test_id("snippet-python")).to_contain_text(secret)  # a snippet to verify with
    await page.reload()
    await expect(page.get_by_test_id("secret")).to_have_count(0)  # shown once
    assert secret not in await page.content()
    return str(page.url.rsplit("/", 1)[1])


async def _subscribe_from_preset(
    page: Any, name: str, address: str, *, destination: str, bad_address: str | None = None
) -> None:
    """The preset "Funds received or sent" for `address`, delivering to `destination` only."""
    await page.goto("/console/subscriptions/new")
    await page.get_by_label("Preset").select_option(label="Funds received or sent")
    await page.get_by_role("button", name="Use this preset").click()
    await expect(page.locator("#preset-params legend")).to_have_text("Funds received or sent")
    form = page.locator("#subscription-form")
    await form.get_by_label("Name").fill(name)
    address_field = form.locator('input[name="param_address"]')
    preview = page.locator("#preview")
    if bad_address is not None:  # a 422 field error swapped in by htmx: shown inline, nothing logged
        await address_field.fill(bad_address)
        async with page.expect_response("**/console/subscriptions/preview") as refused:
            await page.get_by_role("button", name="Preview the queries").click()
        assert (await refused.value).status == 422
        await expect(preview.get_by_test_id("preview-error")).to_contain_text("address")
    await address_field.fill(address)
    await page.get_by_role("button", name="Preview the queries").click()
    await expect(preview.get_by_test_id("preview-queries")).to_contain_text(f"'{address}'")
    for box in await form.locator('input[name="destination_ids"]').all():
        label = await box.evaluate("box => box.parentElement.textContent")
        await box.set_checked(destination in label)
    await page.get_by_role("button", name="Create the subscription").click()
    await page.wait_for_url(re.compile(rf"/console/subscriptions/{ID}$"))
    await expect(page.locator("#subscription-name")).to_have_text(name)
    await expect(page.get_by_test_id("subscription-queries")).to_contain_text(address)


def _webhooks_to(console: ConsoleStack, path: str) -> list[Received]:
    return [r for r in console.receiver.received if r.path == path]


async def _until_dead_letters(page: Any, count: int, timeout: float = 10) -> None:
    """Until the account has `count` dead letters (the dead letters page does not update live)."""

    async def reached() -> bool:
        return len((await (await page.request.get("/v1/dead-letters")).json())["items"]) == count

    await until_async(reached, timeout=timeout)

"""Screenshots of the console for the README: `python -m tests.console_screenshots [NAME=PATH ...]`.

Not a test: it starts the console as the browser tests do (a real `mempools serve` watching a
devnet, tests/browser.py), signs up an account with a webhook destination, a subscription and a
few notifications, and writes `docs/console/NAME-WIDTH.png` for each page at 1280 and 390 px.
A PATH may name the demo account's things: `{notification_id}`, `{subscription_id}`,
`{destination_id}`. A page that does not answer 200 is skipped and said so (exit status 1), so
a page that is not built yet cannot slip in as a picture of an error.

    python -m tests.console_screenshots                      # the README's pages
    python -m tests.console_screenshots overview=/console    # only the overview
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.browser import (
    DESKTOP,
    PHONE,
    ConsoleStack,
    api_post,
    launched_chromium,
    sign_up,
    this_machines_verdict,
)
from tests.processes import ROOT

OUT = ROOT / "docs" / "console"
PAGES = {
    "overview": "/console",
    "history": "/console/history",
    "notification": "/console/history/{notification_id}",
}
WIDTHS = {"1280": DESKTOP, "390": PHONE}
TRANSFERS = 4


async def demo_account(console: ConsoleStack, page: Any) -> dict[str, str]:
    """An account with a destination, a subscription and a few notifications; their ids."""
    await sign_up(page, "ada@example.com", name="Ada Lovelace")
    destination = await api_post(
        page, "/v1/destinations", {"kind": "webhook", "url": console.receiver.url("/hook"), "name": "Payments hook"}
    )
    wallet = console.fresh_address("screenshots")
    subscription = await api_post(
        page,
        "/v1/subscriptions",
        {
            "chain_id": console.chain.config.chain_id,
            "name": "Treasury wallet",
            "preset": "funds_either",
            "params": {"address": wallet},
            "destination_ids": [destination["id"]],
        },
    )
    for i in range(TRANSFERS):
        console.send_to(wallet, 1_000_000 * (i + 1))
        await asyncio.sleep(0.05)  # distinct block times: the history is newest block time first
    notifications = await _notifications(page, TRANSFERS)
    await console.wait_for_height(console.chain.tip)
    return {
        "destination_id": destination["id"],
        "subscription_id": subscription["id"],
        "notification_id": notifications[-1]["id"],  # the oldest: its delivery is done by now
    }


async def _notifications(page: Any, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items: list[dict[str, Any]] = (await (await page.request.get(f"/v1/notifications?limit={count}")).json())[
            "items"
        ]
        if len(items) >= count:
            return items
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(items)} of {count} notifications were made")
        await asyncio.sleep(0.1)


async def take(pages: dict[str, str], out: Path) -> list[str]:
    """Write the screenshots; the problems (pages skipped), empty when every one was taken."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mempools-screenshots-") as tmp:
        console = await ConsoleStack(Path(tmp)).start()
        try:
            async with launched_chromium() as browser:
                context = await browser.new_context(base_url=console.url, viewport=DESKTOP)
                page = await context.new_page()
                ids = await demo_account(console, page)
                for name, pattern in pages.items():
                    path = pattern.format_map(ids)
                    for width, size in WIDTHS.items():
                        await page.set_viewport_size(size)
                        answer = await page.goto(path)
                        status = answer.status if answer is not None else 0
                        if status != 200:
                            problems.append(f"{name}: {path} answered {status}; no screenshot")
                            break
                        await page.wait_for_load_state("networkidle")
                        target = out / f"{name}-{width}.png"
                        await page.screenshot(path=str(target), full_page=True)
                        print(f"wrote {target.relative_to(ROOT)}")
                await context.close()
        finally:
            await console.stop()
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.console_screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", metavar="NAME=PATH", help="pages to take (default: the README's)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory for the PNGs (default {OUT})")
    args = parser.parse_args(argv)
    pages = dict(PAGES)
    if args.pages:
        pages = {}
        for item in args.pages:
            name, sep, path = item.partition("=")
            if not sep or not name or not path.startswith("/console"):
                parser.error(f"{item!r}: expected NAME=/console/...")
            pages[name] = path
    verdict = this_machines_verdict()
    if verdict.action != "run":
        print(f"console_screenshots: {verdict.reason}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    problems = asyncio.run(take(pages, args.out))
    for problem in problems:
        print(f"console_screenshots: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

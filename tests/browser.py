"""Real-browser tests of the web console: Debian's Chromium driven by Playwright (the async API).

`playwright install` needs the internet, so the browser is the system's (`/usr/bin/chromium`,
installed by `.ci/run` when missing), launched once per test session; each test gets a fresh
context (its own cookies) and the `Recorder` of everything its pages did. A test file opts in
with

    pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

(Playwright's objects belong to the loop that made them: the browser lives on the session's loop,
so the tests and their async fixtures run there too; module fixtures use `loop_scope="session"`).

Without Chromium (or Playwright) the tests skip and say why; with `MEMPOOLS_REQUIRE_BROWSER=1`
(CI) they fail instead, so a CI machine that lost its browser cannot pass by skipping them all.

`ConsoleStack` is the app as a user meets it: a real `mempools serve` process watching an
in-process devnet, with a webhook receiver on loopback for destinations to point at.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest
import pytest_asyncio

from mempools.devnet.addresses import bech32_address, derive
from mempools.devnet.chain import ChainConfig, DevnetChain, InjectedTx
from mempools.devnet.server import DevnetServer
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.polling import until_async
from tests.processes import MempoolsProcess, write_devnet_config

REQUIRE_ENV = "MEMPOOLS_REQUIRE_BROWSER"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
#: What Debian's Chromium needs here: no GPU, and nothing that phones home (tests are offline).
#: Playwright adds --no-sandbox itself (needed as root) and a fresh temporary profile per launch.
CHROMIUM_FLAGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-extensions",
)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "a long passphrase"
CHAIN_ID = "devnet-1"


class BrowserVerdict(msgspec.Struct, frozen=True):
    """Whether this machine runs the browser tests: "run", "skip" (with why) or "fail" (CI)."""

    action: Literal["run", "skip", "fail"]
    reason: str = ""


def find_chromium() -> str | None:
    for candidate in (*CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def playwright_installed() -> bool:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return False
    return True


def browser_verdict(executable: str | None, *, has_playwright: bool, required: bool) -> BrowserVerdict:
    """The decision, apart from the machine it is taken on (so a unit test covers every case)."""
    missing = []
    if not has_playwright:
        missing.append("the playwright package is not installed (pip install -e '.[dev]')")
    if executable is None:
        missing.append(
            f"no Chromium at {' or '.join(CHROMIUM_CANDIDATES)} "
            "(apt-get install chromium; .ci/run does it on a CI machine)"
        )
    if not missing:
        return BrowserVerdict("run")
    reason = "; ".join(missing)
    if required:
        return BrowserVerdict("fail", f"{REQUIRE_ENV}=1 but {reason}")
    return BrowserVerdict("skip", reason)


def this_machines_verdict() -> BrowserVerdict:
    return browser_verdict(
        find_chromium(), has_playwright=playwright_installed(), required=os.environ.get(REQUIRE_ENV) == "1"
    )


@dataclass
class Recorder:
    """Everything a context's pages asked for and every script error, checked at the test's end.

    Requests: every one, to any origin (the console must use only its own). Errors: uncaught
    exceptions, `console.error` messages (a CSP refusal is one), and assets (script, style, image,
    font) that failed to load. A page answered with a 4xx on purpose (the 403 of a stale form)
    is not an error: Chromium's "Failed to load resource" line for it is left to the test, which
    asserts the page the user sees."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:  # a playwright BrowserContext
        context.on("request", lambda request: self.requests.append(request.url))
        context.on("page", self._watch_page)
        context.on("response", self._check_response)
        context.on("requestfailed", self._check_failure)

    def _watch_page(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: uncaught {error}"))
        page.on("console", lambda message: self._check_console(page, message))

    def _check_console(self, page: Any, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"{page.url}: console.error {message.text}")

    def _check_response(self, response: Any) -> None:
        if response.status >= 400 and response.request.resource_type in ("script", "stylesheet", "image", "font"):
            self.errors.append(f"{response.url}: {response.request.resource_type} answered {response.status}")

    def _check_failure(self, request: Any) -> None:
        failure = request.failure or ""
        if "ERR_ABORTED" not in failure:  # aborted: left behind by a navigation (an open event stream)
            self.errors.append(f"{request.url}: {request.resource_type} failed: {failure}")

    def foreign_requests(self, origin: str) -> list[str]:
        own = _origin(origin)
        return [url for url in self.requests if not url.startswith(("data:", "about:")) and _origin(url) != own]

    def assert_clean(self, origin: str) -> None:
        """Every request went to `origin`, and no page had a script error."""
        assert self.requests, "the browser made no request: the test checked nothing"
        assert self.foreign_requests(origin) == [], f"requests to other origins than {origin}"
        assert self.errors == [], "errors in the browser"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return (parts.scheme, parts.netloc)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Any]:
    """Chromium, launched once per session (about 0.5 s), or the skip/fail this machine calls for."""
    verdict = this_machines_verdict()
    if verdict.action == "skip":
        pytest.skip(verdict.reason)
    if verdict.action == "fail":
        pytest.fail(verdict.reason)
    async with launched_chromium() as launched:
        yield launched


@contextlib.asynccontextmanager
async def launched_chromium() -> AsyncIterator[Any]:
    """The system's Chromium under Playwright, with a fresh temporary profile."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_FLAGS))
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Visit:
    """One test's browser: a fresh context (no cookies) with its recorder, and a page in it."""

    context: Any
    page: Any
    recorder: Recorder
    base_url: str

    async def new_context(self, browser: Any, **options: Any) -> Visit:
        """Another visitor (another account), recorded alike."""
        return await open_visit(browser, self.base_url, **options)


async def open_visit(browser: Any, base_url: str, **options: Any) -> Visit:
    context = await browser.new_context(base_url=base_url, viewport=options.pop("viewport", DESKTOP), **options)
    context.set_default_timeout(5_000)
    recorder = Recorder()
    recorder.attach(context)
    page = await context.new_page()
    return Visit(context, page, recorder, base_url)


@contextlib.asynccontextmanager
async def visiting(browser: Any, base_url: str, **options: Any) -> AsyncIterator[Visit]:
    """A visit that, when the block ends without an error, asserts it stayed clean."""
    visit = await open_visit(browser, base_url, **options)
    try:
        yield visit
        visit.recorder.assert_clean(base_url)
    finally:
        await visit.context.close()


class ConsoleStack:
    """`mempools serve` (a real process) watching an in-process devnet chain, and a webhook receiver.

    The chain has `history` blocks at start and moves only when told (`advance`). The server's
    sign-up throttle allows 10 sign-ups per address an hour: a stack is shared by a module's
    tests, so a module signs up at most 10 accounts (more tests: another module, another stack).
    """

    def __init__(self, tmp: Path, *, history: int = 150, seed: int = 7, txs_per_block: int = 3) -> None:
        self.tmp = tmp
        config = ChainConfig(chain_id=CHAIN_ID, block_time=0, history=history, txs_per_block=txs_per_block, seed=seed)
        self.chain = DevnetChain(config)
        self.devnet = DevnetServer(self.chain)
        self.receiver = WebhookReceiver()
        self.server: MempoolsProcess | None = None
        self.url = ""

    async def start(self) -> ConsoleStack:
        await self.devnet.start()
        await self.receiver.start()
        config = write_devnet_config(
            self.tmp / "config.toml",
            self.tmp / "data",
            self.devnet.url,
            CHAIN_ID,
            extra="[webhooks]\nallow_private_networks = true\n",  # destinations may point at the receiver
        )
        self.server = MempoolsProcess("serve", "--config", str(config))
        self.url = await asyncio.to_thread(self.server.api_url)
        await self.wait_for_height(self.chain.tip)
        return self

    async def wait_for_height(self, height: int, timeout: float = 20) -> None:
        """Until the server's watcher has processed `height` (what the overview then shows)."""
        async with httpx.AsyncClient(base_url=self.url, timeout=5) as http:

            async def reached() -> bool:
                chains = (await http.get("/v1/chains")).json()["items"]
                return bool(chains) and (chains[0]["height"] or 0) >= height

            await until_async(reached, timeout=timeout)

    def advance(self, blocks: int = 1) -> int:
        """New blocks at the devnet's tip (the watcher follows); the new tip."""
        return self.chain.advance(blocks)

    def fresh_address(self, label: str) -> str:
        """An address no generated transaction touches: only what a test sends to it matches."""
        return bech32_address(self.chain.config.prefix, derive(0, f"console-{label}", 0))

    def send_to(self, recipient: str, amount: int = 1_500_000) -> InjectedTx:
        """A transfer from one of the devnet's accounts to `recipient`, in a new block."""
        injected = self.chain.schedule_transfer(self.chain.book.accounts[0], recipient, amount)
        self.advance()
        return injected

    async def stop(self) -> None:
        try:
            if self.server is not None:
                rc = await asyncio.to_thread(self.server.stop)
                output = self.server.output
                assert rc == 0, output
                assert "Traceback" not in output, output
        finally:
            if self.server is not None:
                await asyncio.to_thread(self.server.kill)
            await self.receiver.stop()
            await self.devnet.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleStack]:
    """One console stack per test module (about 1.5 s to start); each test signs up its own account."""
    stack = ConsoleStack(tmp_path_factory.mktemp("console"))
    try:
        yield await stack.start()
    finally:
        await stack.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def visit(browser: Any, console: ConsoleStack) -> AsyncIterator[Visit]:
    """A fresh browser context on the console, checked clean (own origin, no errors) at the end."""
    async with visiting(browser, console.url) as v:
        yield v


# What a user does, in the words of the pages (tests and the screenshot script share these).


async def sign_up(page: Any, email: str, *, name: str = "", password: str = PASSWORD) -> None:
    await page.goto("/console/signup")
    await page.get_by_label("Email").fill(email)
    if name:
        await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Create the account").click()
    await page.wait_for_url("**/console")


async def log_in(page: Any, email: str, password: str = PASSWORD) -> None:
    await page.goto("/console/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def log_out(page: Any) -> None:
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url("**/console/login")


async def has_no_horizontal_scroll(page: Any) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


#: Each word of a visible table header, number or time that the layout split over two lines.
_BROKEN_WORDS_JS = """() => {
  const broken = [];
  const cells = document.querySelectorAll("table.list th, table.list td.num, table.list td time");
  for (const cell of cells) {
    if (!cell.offsetParent) continue;  // hidden (a "wide" column on a phone)
    for (const text of [...cell.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE)) {
      for (const word of text.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(text, word.index);
        range.setEnd(text, word.index + word[0].length);
        const tops = new Set([...range.getClientRects()].map((rect) => Math.round(rect.top)));
        if (tops.size > 1) broken.push(word[0]);
      }
    }
  }
  return broken;
}"""


async def broken_words(page: Any) -> list[str]:
    """The headers, numbers and times of the page's tables split mid-word ("Ans" above "wer")."""
    broken: list[str] = await page.evaluate(_BROKEN_WORDS_JS)
    return broken


async def api_post(page: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A JSON API write with the page's session cookie (as a developer's script would after a login)."""
    answer = await page.request.post(path, data=body)
    assert answer.status == 201, await answer.text()
    result: dict[str, Any] = await answer.json()
    return result


def guessable_urls(patterns: Iterable[str], ids: dict[str, str]) -> list[str]:
    """Console URLs filled in with another account's ids: `"/console/destinations/{destination_id}"`.

    A pattern naming an id that `ids` lacks is dropped (that account has no such thing)."""
    urls = []
    for pattern in patterns:
        with contextlib.suppress(KeyError):
            urls.append(pattern.format_map(ids))
    return urls


async def assert_writes_refused(
    page: Any, writes: Iterable[tuple[str, dict[str, str]]], ids: dict[str, str], secrets: Iterable[str]
) -> None:
    """Each console write, posted as `page`'s account would post it (its own session, its own
    CSRF token, the console's origin) but naming another account's things (`ids`), answers 404
    like an unknown id and shows none of `secrets`. A pattern naming an id `ids` lacks is dropped."""
    secrets = list(secrets)
    await page.goto("/console")
    token = await page.locator('input[name="_csrf"]').first.input_value()
    origin = "{}://{}".format(*_origin(page.url))
    for pattern, fields in writes:
        try:
            path = pattern.format_map(ids)
            form = {name: value.format_map(ids) for name, value in fields.items()}
        except KeyError:
            continue
        answer = await page.request.post(path, form=form, headers={"X-CSRF-Token": token, "Origin": origin})
        text = await answer.text()
        assert answer.status == 404, (path, answer.status, text[:300])
        leaked = [secret for secret in secrets if secret in text]
        assert leaked == [], f"POST {path} ({answer.status}) shows the other account's {leaked}"


async def assert_shows_none_of(page: Any, urls: Iterable[str], secrets: Iterable[str]) -> None:
    """Each URL, opened in `page` (another account's session), answers without a 5xx and shows
    none of `secrets` (the first account's email, names, addresses) anywhere in the page."""
    secrets = list(secrets)
    for url in urls:
        answer = await page.goto(url)
        assert answer is not None and answer.status < 500, (url, answer and answer.status)
        text = await page.content()
        leaked = [secret for secret in secrets if secret in text]
        assert leaked == [], f"{url} ({answer.status}) shows the other account's {leaked}"

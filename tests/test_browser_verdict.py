"""When the real-browser tests run, skip or fail (tests/browser.py): decided without a browser.

On a developer's machine without Chromium they skip and say how to get it; in CI
(`MEMPOOLS_REQUIRE_BROWSER=1`, set by .ci/run) a missing browser fails them, so the console's
browser tests cannot pass by all skipping.
"""

from __future__ import annotations

import pytest

from tests.browser import BrowserVerdict, browser_verdict


@pytest.mark.parametrize("required", [False, True])
def test_a_machine_with_chromium_and_playwright_runs_them(required: bool) -> None:
    assert browser_verdict("/usr/bin/chromium", has_playwright=True, required=required) == BrowserVerdict("run")


def test_without_chromium_they_skip_and_say_how_to_get_it() -> None:
    verdict = browser_verdict(None, has_playwright=True, required=False)
    assert verdict.action == "skip"
    assert verdict.reason == (
        "no Chromium at /usr/bin/chromium or /usr/bin/chromium-browser "
        "(apt-get install chromium; .ci/run does it on a CI machine)"
    )


def test_in_ci_a_missing_chromium_fails_them() -> None:
    verdict = browser_verdict(None, has_playwright=True, required=True)
    assert verdict.action == "fail"
    assert verdict.reason.startswith("MEMPOOLS_REQUIRE_BROWSER=1 but no Chromium at /usr/bin/chromium")


def test_without_playwright_they_skip_or_fail_saying_which_part_is_missing() -> None:
    skip = browser_verdict("/usr/bin/chromium", has_playwright=False, required=False)
    assert skip == BrowserVerdict("skip", "the playwright package is not installed (pip install -e '.[dev]')")
    both = browser_verdict(None, has_playwright=False, required=True)
    assert both.action == "fail" and "playwright" in both.reason and "no Chromium" in both.reason

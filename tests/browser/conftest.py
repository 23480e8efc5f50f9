"""The dashboard in a real browser: Playwright (pip) driving Debian's Chromium, headless, against the whole local
stack started in this process (as tests/e2e does). Screenshots of each view go to test-output/screenshots/.

`make test` and `make browser-test` build the dashboard and install Chromium first, and set FLOW_BROWSER_REQUIRED
so that a missing build or browser fails these tests; a plain `pytest` run without them skips them, saying why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect, sync_playwright

from functions.api import dashboard
from local.runtime import LocalRuntime
from tests.conftest import ROOT
from tests.e2e.conftest import Client

SCREENSHOTS = ROOT / "test-output" / "screenshots"
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}
#: How long an assertion on the page waits for it to come true (the page polls the API every second).
EXPECT_TIMEOUT_MS = 15_000


def _missing(reason: str) -> None:
    if os.environ.get("FLOW_BROWSER_REQUIRED"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (or CHROMIUM=/path/to/chrome): Playwright's own browser download is not used."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        _missing("no Chromium: `make browser` installs it (apt-get install chromium)")
    if not (dashboard.DIST_DIR / dashboard.INDEX).is_file():
        _missing("the dashboard is not built: `make ui`")
    return str(found)


@pytest.fixture(scope="module")
def runtime() -> Iterator[LocalRuntime]:
    with LocalRuntime(port=0, moto_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def client(runtime: LocalRuntime) -> Client:
    return Client(runtime.url)


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, runtime: LocalRuntime) -> Iterator[Page]:
    """A fresh tab on the stack, failing the test on any script error or refused load (a CSP violation, say)."""
    context = browser.new_context(base_url=runtime.url, viewport=VIEWPORT)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))

    def console(message: ConsoleMessage) -> None:
        # A failed API call is the page's to show (the tests provoke some); anything else the console reports is a bug.
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console: {message.text}")

    tab.on("console", console)
    yield tab
    context.close()
    assert problems == [], problems


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

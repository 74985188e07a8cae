"""Real headless Chromium (Debian's `chromium` package, which .ci/run installs) driven by
Playwright for Python, pointed at it with `executable_path`: Playwright's own browser download
is never used. Without a `chromium` on the PATH the browser tests are reported as skipped, with
the reason, by a collection-time marker."""

import shutil
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.scenario import Network, Running, monday_from, running_network

CHROMIUM = shutil.which("chromium")
# As root and headless on a CI machine: no sandbox, no GPU, nothing fetched in the background.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no `chromium` on the PATH: the board's browser tests need Debian's chromium package "
    "(.ci/run installs it: apt-get install chromium)",
)


def launch(playwright: object) -> Browser:
    chromium = playwright.chromium  # type: ignore[attr-defined]
    browser: Browser = chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
    return browser


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One system for the module: the network placed by the scheduler, today its Monday."""
    network = Network(prefix=f"b{uuid.uuid4().hex[:5]}", monday=monday_from(date.today()))
    with running_network(network, tmp_path_factory.mktemp("board")) as started:
        yield started


@pytest.fixture(scope="module")
def browser(running: Running) -> Iterator[Browser]:
    """Chromium, started after the system: Playwright's sync API keeps an event loop running in
    this thread while it is open (the system's start runs its own)."""
    with sync_playwright() as playwright:
        launched = launch(playwright)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at a tablet-and-laptop width."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()

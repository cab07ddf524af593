"""Playwright with the system Chromium (Debian's /usr/bin/chromium) against a live server.

Tests here are marked `browser`; tests/conftest.py skips them where Chromium is missing.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; Django then refuses ORM calls from
# the test body unless told that this is fine (it is: the loop only drives the browser).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# Screenshots of the main pages: docs/screenshots/ when asked for (`make screenshots`), else
# var/screenshots/ so that an ordinary test run leaves the committed pictures alone.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1"
    else Path(__file__).resolve().parents[2] / "var" / "screenshots"
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def plain_http_cookies(settings: Any) -> None:
    # The live server speaks plain HTTP; secure-only cookies would never come back to it.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """A factory of pages, each in its own context (its own cookies: one per person)."""
    contexts = []

    def make() -> Any:
        context = browser.new_context()
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    # The form is htmx-boosted: wait until the portal has moved on from the login page.
    page.wait_for_url(lambda url: "/login/" not in url)


def htmx_idle(page: Any) -> None:
    """Wait until htmx has swapped and settled: only then does new content react to events
    (a change fired on a row htmx has not processed yet sends no request)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, "
        ".htmx-added')"
    )

"""Real-browser tests: Debian's Chromium driven by Playwright against a live server.

`page` opens a fresh browser context per test; `phone_page` is the same at a phone
width. `shot(page, name)` saves a screenshot to docs/screenshots/ (the README shows
them). Tests are skipped with the reason when Chromium is missing, and fail instead
when PORTAL_REQUIRE_SERVICES is set, as in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# between browser steps are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
REQUIRE = os.environ.get("PORTAL_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if REQUIRE:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _new_page(browser, live_server, viewport, **context_options):
    context = browser.new_context(
        viewport=viewport, base_url=live_server.url, is_mobile=viewport is PHONE, **context_options
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    # Confirmation dialogs (data-confirm) are accepted, as a person clicking OK would.
    page.on("dialog", lambda dialog: dialog.accept())
    return context, page


@pytest.fixture
def page(browser, live_server, transactional_db):
    context, page = _new_page(browser, live_server, DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone_page(browser, live_server, transactional_db):
    context, page = _new_page(browser, live_server, PHONE)
    yield page
    context.close()


@pytest.fixture
def new_page(browser, live_server, transactional_db):
    """Open another independent browser (a second person), desktop or phone."""
    contexts = []

    def _open(phone: bool = False, **context_options):
        context, page = _new_page(browser, live_server, PHONE if phone else DESKTOP, **context_options)
        contexts.append(context)
        return page

    yield _open
    for context in contexts:
        context.close()


def shot(page, name: str) -> None:
    """Save a full-page screenshot as docs/screenshots/<name>-<desktop|phone>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else DESKTOP["width"]
    suffix = "phone" if width < 600 else "desktop"
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{suffix}.png"), full_page=True)


def sign_in(page, email: str, password: str) -> None:
    """Log in through the real form (no second factor)."""
    page.goto("/accounts/login/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def sign_in_as(page, live_server, user) -> None:
    """Give the browser a session for `user` without going through the login page."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


NO_OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth + 1"


def fits(page) -> bool:
    """Whether the page is no wider than the screen (no horizontal scrolling)."""
    return page.evaluate(NO_OVERFLOW)


def assert_fits(page) -> None:
    assert fits(page), f"{page.url} is wider than the screen"

"""Browser tests: Playwright driving Debian's Chromium against the app on a real port.

Chromium is ``/usr/bin/chromium`` (``apt-get install chromium``) or ``$SHOPPABLE_CHROMIUM``;
Playwright is the ``playwright`` pip package (its bundled driver; no browser download).
Without either the tests are skipped, or fail under ``SHOPPABLE_TEST_STRICT=1``.
They run on SQLite only: the pages are the same on both backends, which the HTTP-level
tests already cover. Screenshots go to ``test-artifacts/browser/`` (gitignored).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.conftest import missing
from tests.pages_data import add_image_route, serve

CHROMIUM = os.environ.get("SHOPPABLE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def backend() -> str:
    """Browser tests run on SQLite only (overrides the two-backend parameter)."""
    return "sqlite"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        missing("Chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        missing("Playwright", "pip install playwright (the test extra)")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            missing("Chromium", f"could not start: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()


@pytest.fixture
def live_url(app: Flask) -> Iterator[str]:
    """The app (with a route serving test pictures) on 127.0.0.1; its base URL."""
    add_image_route(app)
    with serve(app) as url:
        yield url


@pytest.fixture
def other_site() -> Iterator[Callable[[str], str]]:
    """Serves pages from another origin (a second local server): ``other_site(html)`` → URL.

    Both servers are on 127.0.0.1, on different ports, so they are different origins, as a
    blog and a shop are, while Chromium's local-network checks (which stop a public page
    from framing a local one) stay out of the way.
    """
    pages: dict[str, str] = {}
    blog = Flask("other_site")

    @blog.get("/<name>")
    def _page(name: str) -> tuple[str, int]:
        return (pages[name], 200) if name in pages else ("not found", 404)

    with serve(blog) as base:

        def publish(html: str) -> str:
            name = f"page{len(pages)}"
            pages[name] = html
            return f"{base}/{name}"

        yield publish


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    """Opens pages in a fresh context (no cookies, no cache) for each test."""
    contexts = []

    def open_page(viewport: dict[str, int] = PHONE, **options: Any) -> Any:
        context = browser.new_context(viewport=viewport, **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save a screenshot artifact and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path

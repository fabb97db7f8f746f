"""Shared parts of the tests in a real browser: Debian's chromium driven by Playwright at
phone size, axe-core injected from node_modules, screenshots (HEITJE_SCREENSHOTS=<folder>
writes them there, e.g. docs/screenshots for the README).

`browser_test` marks a test that needs chromium, playwright and `make setup` (skipped, with the
reason, without them); the module-scoped fixture `browser` is in tests/conftest.py."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = Path("/usr/bin/chromium")
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
PHONE: ViewportSize = {"width": 390, "height": 844}

try:
    from playwright import sync_api
except ImportError:  # the unit tests above still run
    sync_api = None  # type: ignore[assignment]

in_browser = [
    pytest.mark.browser,
    pytest.mark.skipif(sync_api is None, reason="the PyPI package `playwright` is not installed"),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's package `chromium`"
    ),
    pytest.mark.skipif(not AXE.exists(), reason="node_modules/axe-core is absent: `make setup`"),
    pytest.mark.skipif(
        not (WEB / "static" / "vendor" / ".installed").exists(),
        reason="web/static/vendor is absent: `make setup`",
    ),
]


F = TypeVar("F", bound=Callable[..., Any])


def browser_test(test: F) -> F:
    """Mark a test as one in chromium (skipped without chromium, playwright or `make setup`)."""
    for mark in in_browser:
        test = mark(test)
    return test


def expect(locator: Any) -> Any:
    return sync_api.expect(locator)


def phone_context(browser: Browser, locale: str = "nl-NL") -> BrowserContext:
    context = browser.new_context(viewport=PHONE, locale=locale)
    context.set_default_timeout(30_000)
    return context


def log_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    expect(page.locator("#balance")).to_be_visible()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of serious or critical impact on the page (WCAG 2.1 A and AA
    and best practices), injected from node_modules (evaluated, so no CSP stands in its way)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                                'best-practice']},
            });
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
        }"""
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = os.environ.get("HEITJE_SCREENSHOTS")
    target = (REPO / folder) if folder else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)

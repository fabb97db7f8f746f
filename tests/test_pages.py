"""The server-rendered wallet pages, driven by a real browser (Debian's chromium via Playwright).

A citizen with a reward logs in through the form, sees the balance and the reward's task,
pays a shop through the form and its confirmation step, and sees the new balance and the
payment in the history; a wrong password and a payment above the balance show their
messages. Needs /usr/bin/chromium (apt `chromium`) and the PyPI
package `playwright` (its own browser download is never used).

The people are signed up in a background thread while the browser starts.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.browser import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent: install Debian's package `chromium`"
    ),
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the PyPI package `playwright` is not installed"
)
expect = sync_api.expect


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1024, "height": 900}, locale="nl-NL")
            p = context.new_page()
            p.set_default_timeout(30_000)
            yield p
        finally:
            browser.close()


@pytest.fixture
def wallet(stack: Stack) -> Iterator[Future[Api]]:
    """On the test's own stack: anna holds a 25.00 reward (mirrored), two shops exist; the
    client knows them all. Made in a background thread (request this fixture before `page`,
    so the browser starts meanwhile)."""
    api = Api(stack)

    def prepare() -> Api:
        api.staff("coco", "coordinator")
        api.citizen("anna")
        api.shop("bakker", IBAN_BAKKER)
        api.shop("kapper", IBAN_KAPPER)
        api.wait_registered("anna", "bakker", "kapper")
        api.reward("bin-1", "25.00", "anna")
        api.wallet_synced("anna")
        return api

    try:
        with ThreadPoolExecutor(1) as pool:
            yield pool.submit(prepare)
    finally:
        api.close()


def reload_until_balance(page: Page, text: str, timeout: float = 30.0) -> None:
    """Reload until the balance shows `text`: the page reads the SQL mirror, which follows
    the chain a moment later."""
    deadline = time.monotonic() + timeout
    balance = page.locator("#balance")
    while balance.inner_text().strip() != text:
        assert time.monotonic() < deadline, f"balance {balance.inner_text()!r}, not {text!r}"
        time.sleep(0.1)
        page.reload()


def test_citizen_logs_in_and_pays_a_shop(
    stack: Stack, wallet: Future[Api], page: Page, tmp_path: Path
) -> None:
    p = page
    api = wallet.result()
    # The login form; a wrong password is refused with a message.
    p.goto(stack.api_url + "/")
    expect(p.get_by_role("heading", name="Inloggen")).to_be_visible()
    p.get_by_label("Gebruikersnaam").fill("anna")
    p.get_by_label("Wachtwoord").fill("not-her-password")
    with p.expect_response(lambda r: r.url.endswith("/login")) as login:
        p.get_by_role("button", name="Inloggen").click()
    assert login.value.status == 401
    expect(p.get_by_role("alert")).to_have_text("Onbekende gebruikersnaam of verkeerd wachtwoord.")
    assert p.locator("#balance").count() == 0
    p.screenshot(path=str(tmp_path / "login-error.png"))

    # The right password: the wallet with 25,00 munten and the reward in the history.
    p.get_by_label("Gebruikersnaam").fill("anna")
    p.get_by_label("Wachtwoord").fill(api.passwords["anna"])
    p.get_by_role("button", name="Inloggen").click()
    expect(p.locator("#balance")).to_have_text("25,00 munten")
    expect(p.get_by_text("Anna Jansen (inwoner)")).to_be_visible()
    rows = p.locator(".heitje-history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("Beloning: Paint waste bin bin-1")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("+25,00")

    # Pay the bakery 7,50 through the form: 25,00 - 7,50 = 17,50 left.
    shop_select = p.get_by_label("Winkel", exact=True)
    assert shop_select.locator("option").all_inner_texts() == ["Winkel Bakker", "Winkel Kapper"]
    shop_select.select_option(label="Winkel Bakker")
    p.get_by_label(re.compile("^Bedrag")).fill("7,50")
    p.get_by_role("button", name="Betalen").click()
    expect(p.locator("#confirm-shop")).to_have_text("Winkel Bakker")
    expect(p.locator("#confirm-amount")).to_have_text("7,50 munten")
    assert api.chain_balance("anna") == 2500  # nothing moves before the confirmation
    p.get_by_role("button", name="Bevestigen").click()
    expect(p.get_by_role("status")).to_have_text("Betaald: 7,50 munten aan Winkel Bakker.")
    assert api.chain_balance("anna") == 1750
    assert api.chain_balance("bakker") == 750
    reload_until_balance(p, "17,50 munten")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(1)).to_have_text("Betaald aan Winkel Bakker")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("-7,50")
    expect(rows.nth(1).locator("td").nth(1)).to_have_text("Beloning: Paint waste bin bin-1")

    # More than the balance: a clear message (before the confirmation), nothing paid.
    p.get_by_label(re.compile("^Bedrag")).fill("17.51")
    p.get_by_role("button", name="Betalen").click()
    expect(p.get_by_role("alert")).to_have_text("Uw saldo is niet hoog genoeg.")
    expect(p.locator("#amount-error")).to_have_text("Uw saldo is niet hoog genoeg.")
    expect(p.locator("#balance")).to_have_text("17,50 munten")
    assert api.chain_balance("anna") == 1750

    # A screenshot to look at (tests/test_pages.py docstring; kept in tmp_path).
    p.goto(stack.api_url + "/")
    p.screenshot(path=str(tmp_path / "wallet.png"), full_page=True)
    p.set_viewport_size({"width": 390, "height": 844})
    p.screenshot(path=str(tmp_path / "wallet-phone.png"), full_page=True)
    assert (tmp_path / "wallet.png").stat().st_size > 0

    # Logging out returns to the login form; the wallet is no longer shown.
    p.get_by_role("button", name="Uitloggen").click()
    expect(p.get_by_role("heading", name="Inloggen")).to_be_visible()
    p.goto(stack.api_url + "/")
    assert p.locator("#balance").count() == 0
    api.check_responses()

"""A resident's pages in Debian's chromium at phone size (390x844), on one stack.

Sign-up through the form: without consent the message is next to the checkbox and nothing is
created; a username that is taken and a short password have their messages next to their
fields; what was typed is kept, never the password; then the resident is signed up (consent
recorded with its time), logged in and on the wallet. Sign-up with the keyboard alone. The
wallet says what is left of this year's cap (the cap less this year's rewards) and names the
task of each reward. Paying by the link a shop's QR code holds: logged out, the login form
comes back to the pay page; the shop and the amount are filled in, the confirmation shows
both, and the new balance follows; the same with the keyboard alone; an unknown or unapproved
shop in the link says so. The menu marks the current page; no page scrolls sideways; axe-core
finds nothing serious or critical on the sign-up, wallet, pay and confirmation pages, in Dutch
and English.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from heitje.money import parse_heit
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.browser import axe_violations, browser_test, expect, log_in, phone_context, screenshot
from tests.conftest import TEST_ENV
from web import i18n
from web.forms import safe_next

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

UNKNOWN = "Die winkel kennen we niet."
NOT_APPROVED = "Deze winkel kan nog geen betalingen krijgen. Kies een andere winkel."
REWARD = "25.00"
"""wendy's one reward, on the task `bin-1` (titled "Paint waste bin bin-1" by tests.apiclient)."""


def _coins_nl(units: int) -> str:
    """Base units as the Dutch pages write them below 1000: "75,00 munten"."""
    whole, cents = divmod(units, 100)
    assert whole < 1000
    return f"{whole},{cents:02d} {'munt' if units == 100 else 'munten'}"


def _units_nl(text: str) -> int:
    """ "17,50 munten" -> 1750."""
    number = text.strip().removesuffix(" munten").removesuffix(" munt").replace(".", "")
    whole, _, cents = number.partition(",")
    return int(whole) * 100 + int(cents)


def _db(stack: Stack) -> sqlite3.Connection:
    path = stack.data_dir / "service.sqlite"
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _user_row(stack: Stack, username: str) -> tuple[Any, ...] | None:
    db = _db(stack)
    try:
        row = db.execute(
            "SELECT u.name, u.role, u.consented_at, c.neighbourhood FROM users u "
            "LEFT JOIN citizens c ON c.user_id = u.id WHERE u.username = ?",
            (username,),
        ).fetchone()
        return tuple(row) if row is not None else None
    finally:
        db.close()


def _tab_to(page: Page, selector: str, limit: int = 30) -> None:
    """Press Tab until the element `selector` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never got the focus by Tab")


def _no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.fixture(scope="module")
def people(module_stack: Stack) -> Iterator[Future[Api]]:
    """wendy (a resident with one reward of 25.00), the approved shop bakker and the shop
    kapper, still waiting for approval; made in a background thread while the browser starts."""
    api = Api(module_stack)

    def prepare() -> Api:
        api.staff("coco", "coordinator")
        api.citizen("wendy")
        api.shop("bakker", IBAN_BAKKER)
        api.shop("kapper", IBAN_KAPPER, approve=False)
        api.wait_registered("wendy", "bakker")
        api.reward("bin-1", REWARD, "wendy")
        api.wallet_synced("wendy")
        return api

    try:
        with ThreadPoolExecutor(1) as pool:
            yield pool.submit(prepare)
    finally:
        api.close()


def test_next_page_stays_on_this_site() -> None:
    assert safe_next("/pay?to=bakker&amount=4%2C50") == "/pay?to=bakker&amount=4%2C50"
    for bad in ("", None, "//example.org/x", "https://example.org", "/\\example.org", "x"):
        assert safe_next(bad) == "/", bad
    for bad in ("/\t/example.org", "/\n/example.org", "/ /example.org", "/\x7f"):
        assert safe_next(bad) == "/", repr(bad)


# ----- sign-up -----


@browser_test
def test_sign_up_through_the_form(
    module_stack: Stack, people: Future[Api], browser: Browser
) -> None:
    url = module_stack.api_url
    people.result()  # wendy exists: her username is taken
    context = phone_context(browser)
    try:
        page = context.new_page()
        page.goto(url + "/")
        page.get_by_role("link", name="Aanmelden", exact=True).first.click()
        assert urlsplit(page.url).path == "/signup"
        menu = page.get_by_role("navigation", name="Menu")
        expect(menu.get_by_role("link", name="Aanmelden", exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        expect(menu.get_by_role("link", name="Inloggen")).not_to_have_attribute(
            "aria-current", "page"
        )
        expect(menu.get_by_role("link", name="Aanmelden als winkel")).to_have_attribute(
            "href", "/shop/signup"
        )

        # A username that is taken (in other capitals), a short password, no consent.
        page.get_by_label("Uw naam").fill("Sanne de Vries")
        page.get_by_label("Gebruikersnaam").fill("Wendy")
        page.get_by_label("Wachtwoord").fill("qz7x")
        page.get_by_label("Wijk (niet verplicht)").fill("Schandelen")
        with page.expect_response(lambda r: r.url.endswith("/signup")) as sent:
            page.get_by_role("button", name="Aanmelden").click()
        assert sent.value.status == 422
        expect(page.get_by_role("alert")).to_have_text(
            "Niet alles is goed ingevuld. Kijk naar de meldingen bij de vakjes."
        )
        # Whether a username is taken is told only by a sign-up that counts against the
        # throttle, never by a form that is wrong elsewhere (no free probing of usernames).
        assert page.locator("#username-error").count() == 0
        expect(page.locator("#password-error")).to_have_text(
            "Uw wachtwoord is te kort. Gebruik minstens 8 tekens."
        )
        expect(page.locator("#consent-error")).to_have_text(
            "U kunt zich alleen aanmelden als u akkoord gaat. Zet een vinkje in het vakje."
        )
        expect(page.locator("#consent")).to_have_attribute("aria-invalid", "true")
        assert page.locator("#name-error").count() == 0
        expect(page.get_by_label("Uw naam")).to_have_value("Sanne de Vries")
        expect(page.get_by_label("Gebruikersnaam")).to_have_value("Wendy")
        expect(page.get_by_label("Wachtwoord")).to_have_value("")  # never sent back
        expect(page.get_by_label("Wijk (niet verplicht)")).to_have_value("Schandelen")
        assert "qz7x" not in page.content()
        assert _user_row(module_stack, "Sanne") is None

        # All else right: now the sign-up says the username is taken, and makes nothing.
        page.get_by_label("Wachtwoord").fill("zomer-in-heerlen")
        page.get_by_label("Ik ga ermee akkoord").check()
        with page.expect_response(lambda r: r.url.endswith("/signup")) as sent:
            page.get_by_role("button", name="Aanmelden").click()
        assert sent.value.status == 409
        expect(page.locator("#username-error")).to_have_text(
            "Deze gebruikersnaam is al in gebruik. Kies een andere."
        )
        assert _user_row(module_stack, "Sanne") is None
        page.get_by_label("Ik ga ermee akkoord").uncheck()

        # A free username and a good password, still no consent: only that message.
        page.get_by_label("Gebruikersnaam").fill("sanne")
        page.get_by_label("Wachtwoord").fill("zomer-in-heerlen")
        page.get_by_role("button", name="Aanmelden").click()
        expect(page.locator("#consent-error")).to_be_visible()
        assert page.locator("#username-error, #password-error, #name-error").count() == 0
        expect(page.get_by_label("Gebruikersnaam")).to_have_value("sanne")
        assert _user_row(module_stack, "sanne") is None

        # With consent: signed up, logged in, on the wallet.
        page.get_by_label("Wachtwoord").fill("zomer-in-heerlen")
        page.get_by_label("Ik ga ermee akkoord").check()
        page.get_by_role("button", name="Aanmelden").click()
        expect(page.locator("#balance")).to_have_text("0,00 munten")
        expect(page.locator("#who")).to_have_text("Sanne de Vries (inwoner)")
        assert urlsplit(page.url).path == "/"
        menu = page.get_by_role("navigation", name="Menu")
        expect(menu.get_by_role("link", name="Saldo")).to_have_attribute("aria-current", "page")
        expect(menu.get_by_role("link", name="Klussen", exact=True)).to_have_attribute(
            "href", "/tasks"
        )
        expect(menu.get_by_role("link", name="Mijn klussen")).to_have_attribute(
            "href", "/tasks?mine=1"
        )
        name, role, consented_at, neighbourhood = _user_row(module_stack, "sanne") or ()
        assert (name, role, neighbourhood) == ("Sanne de Vries", "citizen", "Schandelen")
        assert consented_at is not None and consented_at.startswith("20")
        # Logged in, the sign-up form is not shown again.
        page.goto(url + "/signup")
        assert urlsplit(page.url).path == "/"
    finally:
        context.close()
    # Through the JSON API consent stays optional: wendy signed up without it.
    assert (_user_row(module_stack, "wendy") or ())[2] is None


@browser_test
def test_sign_up_with_the_keyboard_alone(module_stack: Stack, browser: Browser) -> None:
    url = module_stack.api_url
    context = phone_context(browser, "en-GB")
    try:
        page = context.new_page()
        page.goto(url + "/signup")
        _tab_to(page, "#name")
        page.keyboard.type("Kees Hendriks")
        page.keyboard.press("Tab")
        page.keyboard.type("kees")
        page.keyboard.press("Tab")
        page.keyboard.type("herfst-in-heerlen")
        page.keyboard.press("Tab")
        page.keyboard.type("Molenberg")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "consent"
        page.keyboard.press("Space")
        expect(page.locator("#consent")).to_be_checked()
        _tab_to(page, "button[type=submit]")
        page.keyboard.press("Enter")
        expect(page.locator("#who")).to_have_text("Kees Hendriks (resident)")
        expect(page.locator("#balance")).to_have_text("0.00 coins")
    finally:
        context.close()
    assert (_user_row(module_stack, "kees") or ())[3] == "Molenberg"


# ----- the wallet -----


@browser_test
def test_wallet_shows_the_cap_left_and_the_task_of_a_reward(
    module_stack: Stack, people: Future[Api], browser: Browser
) -> None:
    url = module_stack.api_url
    api = people.result()
    # The rule: this year's cap less this year's rewards (one, of 25.00, approved now).
    left = parse_heit(TEST_ENV["HEITJE_ANNUAL_REWARD_CAP"]) - parse_heit(REWARD)
    for lang, line, reward in (
        ("nl", f"Dit jaar kunt u nog {_coins_nl(left)} verdienen.", "Beloning: "),
        ("en", f"This year you can still earn {left // 100}.{left % 100:02d} coins.", "Reward: "),
    ):
        context = phone_context(browser)
        context.add_cookies([{"name": "heitje_lang", "value": lang, "url": url}])
        try:
            page = context.new_page()
            log_in(page, url, "wendy", api.passwords["wendy"])
            expect(page.locator("#cap-left")).to_have_text(line)
            rewards = page.locator(".heitje-history tbody tr").filter(has_text=reward)
            expect(rewards).to_have_count(1)
            expect(rewards.locator("td").nth(1)).to_have_text(f"{reward}Paint waste bin bin-1")
            expect(rewards.locator("td").nth(2)).to_contain_text("25")
            when = rewards.locator("td").first.inner_text()
            assert re.fullmatch(r"\d{1,2} \w{3} \d{4} \d{2}:\d{2}", when), when
        finally:
            context.close()


# ----- paying by link -----


@browser_test
def test_pay_by_link_after_logging_in(
    module_stack: Stack, people: Future[Api], browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    api = people.result()
    context = phone_context(browser)
    try:
        page = context.new_page()
        # What a shop's QR code holds, opened logged out: the login form first.
        page.goto(url + "/pay?to=bakker&amount=4,50")
        expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")
        expect(page.locator("#login-reason")).to_be_visible()
        page.get_by_label("Gebruikersnaam").fill("wendy")
        page.get_by_label("Wachtwoord").fill(api.passwords["wendy"])
        page.get_by_role("button", name="Inloggen").click()

        # Back on the pay page: the shop by name, the amount filled in.
        expect(page.get_by_role("heading", level=1)).to_have_text("Betalen bij een winkel")
        where = urlsplit(page.url)
        assert where.path == "/pay"
        assert parse_qs(where.query) == {"to": ["bakker"], "amount": ["4,50"]}
        expect(page.locator("#shop-name")).to_have_text("Winkel Bakker")
        expect(page.get_by_label("Bedrag in munten")).to_have_value("4,50")
        before = _units_nl(page.locator("#balance").inner_text())
        assert before == api.chain_balance("wendy")

        # The confirmation shows both; nothing has moved yet.
        page.get_by_role("button", name="Betalen").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Controleer uw betaling")
        expect(page.locator("#confirm-shop")).to_have_text("Winkel Bakker")
        expect(page.locator("#confirm-amount")).to_have_text("4,50 munten")
        assert api.chain_balance("wendy") == before

        form = {
            name: page.locator(f"form[action='/pay'] input[name={name}]").get_attribute("value")
            or ""
            for name in ("csrf_token", "to", "amount", "key")
        }
        assert (form["to"], form["amount"]) == ("bakker", "4.50")

        # Confirmed: paid, and the wallet shows the new balance.
        page.get_by_role("button", name="Bevestigen").click()
        expect(page.get_by_role("status")).to_have_text("Betaald: 4,50 munten aan Winkel Bakker.")
        expect(page.locator("#balance")).to_have_text(_coins_nl(before - 450))
        assert api.chain_balance("wendy") == before - 450
        # The history names the shop by its name (read for the people in it only).
        expect(page.locator("table tbody tr").first).to_contain_text("Winkel Bakker")
        screenshot(page, "wallet-paid-nl", tmp_path)
        payment = parse_qs(urlsplit(page.url).query)["payment"]
        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Your coins")
        expect(page.locator("table tbody tr").first).to_contain_text("Winkel Bakker")
        screenshot(page, "wallet-paid-en", tmp_path)
        page.get_by_role("link", name="Nederlands").click()
        # The same confirmation sent again (a double tap, a retry) pays once.
        again = page.request.post(url + "/pay", form=form)
        assert again.ok and parse_qs(urlsplit(again.url).query)["payment"] == payment
        assert api.chain_balance("wendy") == before - 450
    finally:
        context.close()


@browser_test
def test_pay_with_the_keyboard_alone(
    module_stack: Stack, people: Future[Api], browser: Browser
) -> None:
    url = module_stack.api_url
    api = people.result()
    context = phone_context(browser)
    try:
        page = context.new_page()
        log_in(page, url, "wendy", api.passwords["wendy"])
        before = _units_nl(page.locator("#balance").inner_text())
        page.goto(url + "/pay?to=bakker")
        expect(page.locator("#shop-name")).to_have_text("Winkel Bakker")
        expect(page.locator("#amount")).to_have_value("")
        _tab_to(page, "#amount")
        page.keyboard.type("2")
        page.keyboard.press("Enter")
        expect(page.locator("#confirm-amount")).to_have_text("2,00 munten")
        _tab_to(page, "form[action='/pay'] button[type=submit]")
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_have_text("Betaald: 2,00 munten aan Winkel Bakker.")
        expect(page.locator("#balance")).to_have_text(_coins_nl(before - 200))
    finally:
        context.close()


@browser_test
def test_a_shop_that_cannot_be_paid(
    module_stack: Stack, people: Future[Api], browser: Browser
) -> None:
    url = module_stack.api_url
    api = people.result()
    context = phone_context(browser)
    try:
        page = context.new_page()
        log_in(page, url, "wendy", api.passwords["wendy"])
        before = api.chain_balance("wendy")
        cases = (
            ("nobody", 404, UNKNOWN),
            ("wendy", 404, UNKNOWN),  # a resident is no shop
            ("kapper", 409, NOT_APPROVED),  # waiting for the municipality's approval
        )
        for to, status, message in cases:
            response = page.goto(url + f"/pay?to={to}&amount=3")
            assert response is not None and response.status == status, to
            expect(page.get_by_role("alert")).to_have_text(message)
            expect(page.locator("#to-error")).to_have_text(message)
            shops = page.get_by_label("Winkel", exact=True)
            assert shops.locator("option").all_inner_texts() == ["Kies een winkel", "Winkel Bakker"]
            expect(shops).to_have_value("")
            expect(page.get_by_label("Bedrag in munten")).to_have_value("3")
        # Without a shop chosen the form is not sent (the select is required).
        page.get_by_role("button", name="Betalen").click()
        assert page.evaluate("document.querySelector('#to').validity.valueMissing")
        assert urlsplit(page.url).path == "/pay"
        # The wallet's own form goes through the same confirmation.
        page.goto(url + "/")
        page.get_by_label("Winkel", exact=True).select_option(label="Winkel Bakker")
        page.get_by_label("Bedrag in munten").fill("1")
        page.get_by_role("button", name="Betalen").click()
        expect(page.locator("#confirm-amount")).to_have_text("1,00 munt")
        assert api.chain_balance("wendy") == before
    finally:
        context.close()


# ----- accessibility -----


@browser_test
def test_pages_pass_axe_in_both_languages(
    module_stack: Stack, people: Future[Api], browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    api = people.result()
    found: dict[str, list[dict[str, Any]]] = {}
    sideways: list[str] = []

    def check(page: Page, name: str) -> None:
        found[name] = axe_violations(page)
        if not _no_sideways_scroll(page):
            sideways.append(name)

    for lang in i18n.LANGUAGES:
        context = phone_context(browser)
        context.add_cookies([{"name": "heitje_lang", "value": lang, "url": url}])
        try:
            page = context.new_page()
            page.goto(url + "/signup")
            check(page, f"{lang} /signup")
            screenshot(page, f"signup-{lang}", tmp_path)
            page.locator("form[action='/signup'] button[type=submit]").click()
            expect(page.locator("#consent-error")).to_be_visible()
            check(page, f"{lang} /signup refused")
            page.goto(url + "/pay?to=bakker&amount=1")
            check(page, f"{lang} /pay logged out")
            log_in(page, url, "wendy", api.passwords["wendy"])
            check(page, f"{lang} /")
            page.goto(url + "/pay?to=bakker&amount=1")
            check(page, f"{lang} /pay")
            screenshot(page, f"pay-{lang}", tmp_path)
            page.locator("form[action='/pay/confirm'] button[type=submit]").click()
            expect(page.locator("#confirm-amount")).to_be_visible()
            check(page, f"{lang} confirm")
            screenshot(page, f"pay-confirm-{lang}", tmp_path)
            page.goto(url + "/pay?to=nobody")
            check(page, f"{lang} /pay unknown shop")
            page.goto(url + "/pay?to=bakker")
            page.locator("#amount").fill("4,505")
            page.locator("form[action='/pay/confirm'] button[type=submit]").click()
            expect(page.locator("#amount-error")).to_be_visible()
            check(page, f"{lang} /pay refused amount")
        finally:
            context.close()
    bad = {k: v for k, v in found.items() if v}
    assert bad == {}, json.dumps(bad, indent=1)
    assert sideways == []

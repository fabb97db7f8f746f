"""The pages' foundation: two languages, NL Design System layout, accessibility, no other hosts.

Without a browser: the amount people type ("4,50", "4.50", "4") and the ones refused; the
reader's language from cookie and Accept-Language; amounts and dates in each language; every
message of the pages has a translation in both catalogues, and the catalogues hold every
message the code and templates use.

In Debian's chromium at phone size (390x844), on one stack: the pages in Dutch and English and
the language switch, remembered in a cookie; axe-core (npm, injected from node_modules) on every
page in both languages, logged out and logged in as a resident and as a shop: no violation of
serious or critical impact; no page, /docs and /redoc included, loads anything from another
host, and no page or static file of ours names another host; paying with "4,50" through the
form, and a refused amount shown next to its field with what was typed.

Set HEITJE_SCREENSHOTS=docs/screenshots to write the README's phone screenshots there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from heitje.errors import InvalidAmount
from heitje.money import parse_typed_heit, units_of
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, Api
from tests.browser import (
    WEB,
    axe_violations,
    browser_test,
    expect,
    log_in,
    phone_context,
    screenshot,
)
from web import i18n

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO = Path(__file__).resolve().parents[1]
PAGES = ("/", "/accessibility", "/privacy", "/signup", "/pay")
"""The pages of this module's checks (the wallet and the login form are both "/"; a shop's
"/" is its own page, `/shop`; logged out, `/pay` is the login form)."""

# ----- amounts typed by people -----


@pytest.mark.parametrize(
    ("typed", "units"),
    [
        ("4,50", 450),
        ("4.50", 450),
        ("4", 400),
        ("4,5", 450),
        (" 4,50 ", 450),
        ("0,01", 1),
        ("04,50", 450),
        ("1275", 127500),
    ],
)
def test_typed_amounts(typed: str, units: int) -> None:
    assert parse_typed_heit(typed) == units


@pytest.mark.parametrize(
    "typed",
    [
        "",
        " ",
        "0",
        "0,00",
        "-4",
        "+4",
        "4,505",
        "1.000,50",
        "1,000.50",
        "4,",
        ",50",
        "4,50 EUR",
        "€4,50",
        "4 50",
        "1e3",
        "abc",
        "\uff14",  # a full-width digit
        "9" * 16,
        "4,50\x00",
    ],
)
def test_refused_amounts(typed: str) -> None:
    with pytest.raises(InvalidAmount) as caught:
        parse_typed_heit(typed)
    assert caught.value.code == "invalid_amount"


def test_refused_amount_that_is_not_text() -> None:
    with pytest.raises(InvalidAmount):
        parse_typed_heit(4.5)


def test_amounts_read_back() -> None:
    assert [units_of(t) for t in ("12.50", "0.00", "-3.00")] == [1250, 0, -300]
    for bad in ("12.5", "1,00", "", "--1.00"):
        with pytest.raises(InvalidAmount):
            units_of(bad)


# ----- languages, formats, catalogues -----


def test_language_choice() -> None:
    assert i18n.language_from(None, None) == "nl"
    assert i18n.language_from(None, "en-GB,en;q=0.9") == "en"
    assert i18n.language_from(None, "de-DE,en;q=0.5,nl;q=0.8") == "nl"
    assert i18n.language_from(None, "fr, de") == "nl"
    assert i18n.language_from("en", "nl") == "en"
    assert i18n.language_from("xx", "en") == "en"
    assert i18n.language_from(None, "en;q=0, nl;q=bad") == "nl"


def test_amounts_and_dates_in_each_language() -> None:
    assert i18n.format_amount(127500, "nl") == "1.275,00"
    assert i18n.format_amount(127500, "en") == "1,275.00"
    assert i18n.format_amount(-750, "nl") == "-7,50"
    assert i18n.format_amount(0, "en") == "0.00"
    moment = 1_780_000_000  # 2026-05-28 20:26:40 UTC, 22:26 in Amsterdam (summer time)
    assert i18n.format_when(moment, "nl") == "28 mei 2026 22:26"
    assert i18n.format_when(moment, "en") == "28 May 2026 22:26"


def _catalogue(language: str) -> dict[str, Any]:
    with i18n.catalogue_path(language).open("rb") as f:
        catalog = read_po(f, locale=language)
    return {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog if m.id}


def test_every_message_has_both_translations() -> None:
    """Both catalogues hold the same messages, none empty or fuzzy; and they hold every
    message the code and the templates use (extracted as `make messages` does)."""
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    used = set()
    for _, _, message, _, _ in extract_from_dir(str(WEB), method_map, options_map=options):
        used.add(message if isinstance(message, str) else message[0])
    assert used, "nothing extracted"
    catalogues = {lang: _catalogue(lang) for lang in i18n.LANGUAGES}
    for lang, messages in catalogues.items():
        assert sorted(used - set(messages)) == [], f"{lang}: messages missing from the catalogue"
        assert sorted(set(messages) - used) == [], f"{lang}: messages no longer used"
        for key, m in messages.items():
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            assert all(s.strip() for s in strings), f"{lang}: no translation of {key!r}"
            assert not m.fuzzy, f"{lang}: fuzzy translation of {key!r}"
            for placeholder in re.findall(r"%\(\w+\)s", key):
                assert all(placeholder in s for s in strings), f"{lang}: {key!r} {placeholder}"
    # Dutch at B1: the everyday words, never the jargon.
    dutch = " ".join(
        s
        for m in catalogues["nl"].values()
        for s in (m.string if isinstance(m.string, tuple) else (m.string,))
    ).lower()
    for jargon in ("wallet", "token", "transaction", "transactie", "portemonnee"):
        assert jargon not in dutch, jargon


# ----- in the browser -----


@pytest.fixture(scope="module")
def people(module_stack: Stack) -> Iterator[Future[Api]]:
    """A resident (with a 25.00 reward) and a shop, made in a background thread while the
    browser starts."""
    api = Api(module_stack)

    def prepare() -> Api:
        api.staff("coco", "coordinator")
        api.citizen("wendy")
        api.shop("bakker", IBAN_BAKKER)
        api.wait_registered("wendy", "bakker")
        api.reward("wf-1", "25.00", "wendy")
        api.wallet_synced("wendy")
        return api

    try:
        with ThreadPoolExecutor(1) as pool:
            yield pool.submit(prepare)
    finally:
        api.close()


@browser_test
@pytest.mark.usefixtures("people")
def test_language_switch_is_remembered(module_stack: Stack, browser: Browser) -> None:
    url = module_stack.api_url
    context = phone_context(browser, "nl-NL")
    try:
        page = context.new_page()
        page.goto(url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "nl")
        expect(page.get_by_role("heading", level=1)).to_have_text("Inloggen")
        expect(page.get_by_role("link", name="Toegankelijkheidsverklaring")).to_be_visible()
        page.get_by_role("navigation", name="Taal").get_by_role("link", name="English").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
        assert urlsplit(page.url).path == "/"
        # Remembered: another page, a reload, a new tab.
        page.goto(url + "/privacy")
        expect(page.get_by_role("heading", level=1)).to_have_text("Privacy statement")
        other = context.new_page()
        other.goto(url + "/accessibility")
        expect(other.get_by_role("heading", level=1)).to_have_text("Accessibility statement")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["heitje_lang"]["value"] == "en"
        assert cookies["heitje_lang"]["expires"] > 300 * 24 * 3600
        # And back; the switch returns to the page it was used on.
        other.get_by_role("navigation", name="Language").get_by_role(
            "link", name="Nederlands"
        ).click()
        expect(other.get_by_role("heading", level=1)).to_have_text("Toegankelijkheidsverklaring")
        assert urlsplit(other.url).path == "/accessibility"
    finally:
        context.close()
    # No cookie: the browser's language; not one of ours: Dutch.
    for locale, heading in (("en-US", "Log in"), ("de-DE", "Inloggen")):
        context = phone_context(browser, locale)
        try:
            page = context.new_page()
            page.goto(url + "/")
            expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        finally:
            context.close()
    # The switch never leads to another host.
    r = httpx.get(url + "/lang/en?next=//example.org/x", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"


@browser_test
def test_every_page_passes_axe_in_both_languages(
    module_stack: Stack, people: Future[Api], browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    api = people.result()
    found: dict[str, list[dict[str, Any]]] = {}
    for lang in i18n.LANGUAGES:
        for who in (None, "wendy", "bakker"):
            context = phone_context(browser)
            context.add_cookies([{"name": "heitje_lang", "value": lang, "url": url}])
            try:
                page = context.new_page()
                if who is not None:
                    log_in(page, url, who, api.passwords[who])
                for path in PAGES:
                    page.goto(url + path)
                    found[f"{lang} {who or 'logged out'} {path}"] = axe_violations(page)
                    if path == "/":
                        screenshot(page, f"{'login' if who is None else who}-{lang}", tmp_path)
                if who == "wendy":  # the wallet with a refused amount, its error by the field
                    page.goto(url + "/")
                    page.locator("#amount").fill("4,505")
                    page.locator("form[action='/pay/confirm'] button[type=submit]").click()
                    expect(page.locator("#amount-error")).to_be_visible()
                    found[f"{lang} wendy / refused amount"] = axe_violations(page)
            finally:
                context.close()
    bad = {k: v for k, v in found.items() if v}
    assert bad == {}, json.dumps(bad, indent=1)


@browser_test
def test_pay_with_a_comma_and_a_refused_amount(
    module_stack: Stack, people: Future[Api], browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    api = people.result()
    context = phone_context(browser)
    try:
        page = context.new_page()
        log_in(page, url, "wendy", api.passwords["wendy"])
        expect(page.locator("#who")).to_have_text("Wendy Jansen (inwoner)")
        balance = page.locator("#balance").inner_text()
        assert balance.endswith(" munten"), balance
        before = units_of(balance.removesuffix(" munten").replace(".", "").replace(",", "."))
        rows = page.locator(".heitje-history tbody tr")
        expect(rows.last.locator("td").nth(1)).to_have_text("Beloning: Paint waste bin wf-1")
        expect(rows.last.locator("td").nth(2)).to_have_text("+25,00")
        assert re.fullmatch(
            r"\d{1,2} \w{3} \d{4} \d{2}:\d{2}", rows.last.locator("td").first.inner_text()
        )

        # Refused: the message next to the field, what was typed kept (the pay page, with the
        # shop chosen), nothing paid.
        page.get_by_label("Winkel", exact=True).select_option(label="Winkel Bakker")
        page.get_by_label("Bedrag in munten").fill("4,505")
        page.get_by_role("button", name="Betalen").click()
        error = "Vul een bedrag in, zoals 4,50 of 4. Gebruik hoogstens twee cijfers na de komma."
        expect(page.locator("#amount-error")).to_have_text(error)
        expect(page.get_by_label("Bedrag in munten")).to_have_value("4,505")
        expect(page.get_by_label("Bedrag in munten")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#shop-name")).to_have_text("Winkel Bakker")
        expect(page.locator("#balance")).to_have_text(balance)

        # "4,50" with a comma: confirmed, then paid.
        page.get_by_label("Bedrag in munten").fill("4,50")
        page.get_by_role("button", name="Betalen").click()
        expect(page.locator("#confirm-amount")).to_have_text("4,50 munten")
        page.get_by_role("button", name="Bevestigen").click()
        expect(page.get_by_role("status")).to_have_text("Betaald: 4,50 munten aan Winkel Bakker.")
        after = units_of(
            page.locator("#balance").inner_text().removesuffix(" munten").replace(",", ".")
        )
        assert after == before - 450
        expect(rows.first.locator("td").nth(1)).to_have_text("Betaald aan Winkel Bakker")
        expect(rows.first.locator("td").nth(2)).to_have_text("-4,50")
        page.screenshot(path=str(tmp_path / "wallet-paid-nl.png"), full_page=True)
    finally:
        context.close()


_OWN_HOST_FREE = re.compile(r"https?://([^/\"'\s)<>]+)", re.IGNORECASE)
_NAMESPACES = {"www.w3.org"}
"""XML namespace names (SVG): identifiers, never fetched."""


def _other_hosts(text: str, own: str) -> set[str]:
    return {h for h in _OWN_HOST_FREE.findall(text) if h != own and h not in _NAMESPACES}


@browser_test
def test_nothing_from_another_host(
    module_stack: Stack, people: Future[Api], browser: Browser
) -> None:
    """Each page (and /docs, /redoc) loads only from the app's own host in the browser; the
    HTML of each and our own static files name no other host; the vendor style sheets import
    nothing from another host; no page has inline script, event handlers or inline style."""
    url = module_stack.api_url
    own = urlsplit(url).netloc
    api = people.result()
    requested: list[str] = []
    context = phone_context(browser)
    context.on("request", lambda r: requested.append(r.url))
    html: dict[str, str] = {}
    try:
        page = context.new_page()
        for path in PAGES:
            page.goto(url + path)
            html[f"logged out {path}"] = page.content()
        for who in ("wendy", "bakker"):
            log_in(page, url, who, api.passwords[who])
            for path in PAGES:
                page.goto(url + path)
                html[f"{who} {path}"] = page.content()
            page.get_by_role("button", name="Uitloggen").click()
        page.goto(url + "/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Heitje")
        expect(page.locator(".opblock").first).to_be_visible()
        page.goto(url + "/redoc")
        expect(page.locator("h1").first).to_contain_text("Heitje")
        expect(page.locator("[role=menuitem]").first).to_be_attached()
    finally:
        context.close()
    elsewhere = [
        u
        for u in requested
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).netloc != own
    ]
    assert elsewhere == []

    # What the server sends (not the browser's DOM): pages, /docs, /redoc, our static files.
    with httpx.Client(base_url=url) as client:
        for path in ("/docs", "/redoc"):
            html[path] = client.get(path).text
        for path, text in html.items():
            assert _other_hosts(text, own) == set(), path
        for path, text in html.items():
            scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", text, re.DOTALL | re.IGNORECASE)
            assert all(not s.strip() for s in scripts), f"{path}: inline script"
            assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), f"{path}: event handler"
        for path in (*PAGES, "/docs", "/redoc"):
            assert ' style="' not in client.get(path).text, f"{path}: inline style"
        own_files = [
            p
            for p in (WEB / "static").rglob("*")
            if p.is_file() and "vendor" not in p.relative_to(WEB / "static").parts
        ]
        assert own_files
        for p in own_files:
            served = client.get("/static/" + p.relative_to(WEB / "static").as_posix())
            assert served.status_code == 200, p
            assert _other_hosts(served.text, own) == set(), p
        for name in ("theme.css", "logo.svg"):
            assert _other_hosts(client.get(f"/theme/{name}").text, own) == set(), name
        for p in sorted((WEB / "static" / "vendor").glob("*.css")):
            text = client.get(f"/static/vendor/{p.name}").text
            imports = re.findall(r"@import[^;]*|url\(\s*['\"]?(?:https?:)?//[^)]*\)", text)
            assert imports == [], p.name

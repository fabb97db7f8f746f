"""The shop's pages (issue 10, item 4), on one stack, in Debian's chromium at phone size.

Without a browser: what a shop's QR code holds; the KvK number and Dutch postcode rules; the
JSON sign-up refusing a bad KvK number or postcode (and still taking a sign-up without them).

In the browser: a shop signs up through the form (a bad KvK number and postcode are shown
next to their fields, what was typed kept, nothing made; then it is signed up and logged in,
and its page says it waits for the municipality's approval); an admin approves it (API); the
payment QR code, decoded from the page's image, holds the pay link, with the amount typed at
the counter; a resident pays (API) and the payment shows up by itself (htmx); the shop pays
part of it back through the confirm page (more than is left is refused next to the amount);
exchanges coins for euros and sees it waiting, then in the settlement's payment file; the CSV
export has the payment with its amount and day. axe-core on every shop page, in Dutch and
English: no violation of serious or critical impact.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest

from domain import shops
from domain.settlement import MirrorBehind, run_settlement
from domain.settlement.target2 import target2_day_on_or_after
from heitje.errors import Refused
from scripts.stack import Stack
from tests.apiclient import Api
from tests.browser import axe_violations, browser_test, expect, phone_context, screenshot
from tests.conftest import poll
from web import i18n
from web._shop_export import spreadsheet_safe
from web.shop import pay_link

if TYPE_CHECKING:
    from playwright.sync_api import Page

IBAN_KAAS = "NL02 ABNA 0123 4567 89"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# ----- without a browser -----


def test_pay_link() -> None:
    origin = "https://heitje.heerlen.nl"
    assert pay_link(origin, "kaas", None) == "https://heitje.heerlen.nl/pay?to=kaas"
    assert pay_link(origin, "kaas", 450) == "https://heitje.heerlen.nl/pay?to=kaas&amount=4.50"
    assert pay_link(origin, "a.b@c", 400) == "https://heitje.heerlen.nl/pay?to=a.b%40c&amount=4.00"


@pytest.mark.parametrize(
    ("typed", "postcode"),
    [("6411 AB", "6411 AB"), ("6411ab", "6411 AB"), (" 1234 aB ", "1234 AB")],
)
def test_postcodes(typed: str, postcode: str) -> None:
    assert shops.normalise_postcode(typed) == postcode


@pytest.mark.parametrize(
    "typed", ["", "0123 AB", "123 AB", "12345 AB", "1234 A", "1234 ABC", "AB 1234", "1234-AB"]
)
def test_refused_postcodes(typed: str) -> None:
    with pytest.raises(Refused) as caught:
        shops.normalise_postcode(typed)
    assert caught.value.code == "invalid_postcode"


@pytest.mark.parametrize(
    "typed", ["", "1234567", "123456789", "1234 5678", "1234567a", "\uff11" * 8]
)
def test_refused_kvk_numbers(typed: str) -> None:
    with pytest.raises(Refused) as caught:
        shops.check_kvk(typed)
    assert caught.value.code == "invalid_kvk"
    assert shops.check_kvk(" 12345678 ") == "12345678"


def _shop_row(stack: Stack, username: str) -> dict[str, Any] | None:
    conn = sqlite3.connect(stack.data_dir / "service.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute(
            "SELECT s.* FROM shops s JOIN users u ON u.id = s.user_id WHERE u.username = ?",
            (username,),
        ).fetchone()
        return None if row is None else dict(row)
    finally:
        conn.close()


def test_json_sign_up_checks_kvk_and_postcode(module_stack: Stack) -> None:
    base = {"password": "geheim-genoeg", "name": "Winkel", "iban": IBAN_KAAS}
    with httpx.Client(base_url=module_stack.api_url) as client:
        for extra, code in (
            ({"kvk": "1234567"}, "invalid_kvk"),
            ({"postcode": "64 AB"}, "invalid_postcode"),
        ):
            r = client.post("/shops", json={**base, "username": "json-bad", **extra})
            assert (r.status_code, r.json()["code"]) == (422, code)
        assert _shop_row(module_stack, "json-bad") is None
        r = client.post("/shops", json={**base, "username": "json-old"})  # as clients did before
        assert r.status_code == 201, r.text
        address = {"kvk": "87654321", "street": "Pancratiusplein", "house_number": "14a",
                   "postcode": "6411jk", "town": "Heerlen"}  # fmt: skip
        r = client.post("/shops", json={**base, "username": "json-new", **address})
        assert r.status_code == 201, r.text
    old = _shop_row(module_stack, "json-old")
    new = _shop_row(module_stack, "json-new")
    assert old is not None and new is not None
    assert [old[k] for k in ("kvk", "street", "house_number", "postcode", "town")] == [None] * 5
    assert [new[k] for k in ("kvk", "street", "house_number", "postcode", "town")] == [
        "87654321", "Pancratiusplein", "14a", "6411 JK", "Heerlen"
    ]  # fmt: skip


# ----- in the browser -----


@pytest.fixture(scope="module")
def people(module_stack: Stack) -> Iterator[Future[Api]]:
    """A resident with a 25.00 reward, made in a background thread while the browser starts."""
    api = Api(module_stack)

    def prepare() -> Api:
        api.staff("coco", "coordinator")
        api.citizen("wendy")
        api.wait_registered("wendy")
        api.reward("ws-1", "25.00", "wendy")
        return api

    try:
        with ThreadPoolExecutor(1) as pool:
            yield pool.submit(prepare)
    finally:
        api.close()


def _decode_qr(page: Page, selector: str = "#qr") -> str:
    """The text of the QR code in `selector`, decoded from a screenshot of it (zxing-cpp)."""
    import zxingcpp
    from PIL import Image

    png = page.locator(selector).screenshot()
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)).convert("L"))
    assert len(found) == 1, f"{len(found)} codes found"
    return str(found[0].text)


def _settle(stack: Stack, through_block: int) -> dict[str, Any] | None:
    """A settlement run through `through_block`, once the mirror has it (None before)."""
    try:
        return run_settlement(
            stack.data_dir,
            through=None,
            through_block=through_block,
            name="Gemeente Heerlen",
            iban="NL91ABNA0417164300",
            bic=None,
            eur_per_heitje="1",
            now=datetime.now(UTC),
        )
    except MirrorBehind:
        return None


def _fill_signup(page: Page, values: dict[str, str]) -> None:
    for field, value in values.items():
        page.locator(f"#{field}").fill(value)


SIGNUP = {
    "name": "Kaashandel Heerlen",
    "kvk": "1234567",  # 7 digits
    "iban": IBAN_KAAS,
    "street": "Saroleastraat",
    "house_number": "12",
    "postcode": "64 11",  # not a postcode
    "town": "Heerlen",
    "username": "kaas",
    "password": "kaas-geheim-1",
}


@browser_test
def test_a_shop_signs_up_is_approved_is_paid_refunds_redeems_and_exports(
    module_stack: Stack, people: Future[Api], browser: Any, tmp_path: Path
) -> None:
    url = module_stack.api_url
    api = people.result()
    context = phone_context(browser)
    try:
        page = context.new_page()
        # Refused: each message next to its field, what was typed kept (not the password).
        page.goto(url + "/shop/signup")
        expect(page.get_by_role("heading", level=1)).to_have_text("Meld uw winkel aan")
        _fill_signup(page, SIGNUP)
        page.get_by_role("button", name="Aanmelden").click()
        expect(page.locator("#kvk-error")).to_have_text(
            "Een KvK-nummer heeft precies 8 cijfers, bijvoorbeeld 12345678."
        )
        expect(page.locator("#postcode-error")).to_have_text("Vul een postcode in, zoals 1234 AB.")
        expect(page.locator("#kvk")).to_have_attribute("aria-invalid", "true")
        for field in ("name", "iban", "street", "house_number", "town", "username"):
            expect(page.locator(f"#{field}")).to_have_value(SIGNUP[field])
            expect(page.locator(f"#{field}-error")).to_have_count(0)
        expect(page.locator("#password")).to_have_value("")
        assert _shop_row(module_stack, "kaas") is None
        # An expired form (no CSRF cookie) is refused too, and makes nothing.
        r = httpx.post(url + "/shop/signup", data={**SIGNUP, "kvk": "12345678", "csrf_token": "x"})
        assert r.status_code == 403 and _shop_row(module_stack, "kaas") is None

        # Signed up and logged in: waiting for the municipality's approval.
        _fill_signup(
            page, {"kvk": "12345678", "postcode": "6411ab", "password": SIGNUP["password"]}
        )
        page.get_by_role("button", name="Aanmelden").click()
        expect(page.locator("#notice")).to_have_text("Uw winkel is aangemeld.")
        assert page.url.split("?")[0] == url + "/shop"
        expect(page.locator("#approval")).to_contain_text("Uw winkel wacht op goedkeuring")
        expect(page.locator("#qr")).to_have_count(0)
        row = _shop_row(module_stack, "kaas")
        assert row is not None
        assert (row["status"], row["kvk"], row["postcode"], row["house_number"]) == (
            "pending", "12345678", "6411 AB", "12"
        )  # fmt: skip
        api.passwords["kaas"] = SIGNUP["password"]

        # Approved by an admin: the QR code holds the pay link, with the amount when typed.
        api.approve_shop("kaas")
        api.wait_registered("kaas")
        page.goto(url + "/shop")
        expect(page.locator("#approval")).to_have_count(0)
        expect(page.locator("#balance")).to_have_text("0,00 munten")
        assert _decode_qr(page) == f"{url}/pay?to=kaas"
        page.locator("#qr_amount").fill("4,50")
        page.get_by_role("button", name="Code met dit bedrag tonen").click()
        expect(page.locator("#qr-amount")).to_have_text("Bedrag in de code: 4,50 munten")
        assert _decode_qr(page) == f"{url}/pay?to=kaas&amount=4.50"
        page.locator("#qr_amount").fill("4,505")
        page.get_by_role("button", name="Code met dit bedrag tonen").click()
        expect(page.locator("#qr_amount-error")).to_be_visible()
        expect(page.locator("#qr_amount")).to_have_value("4,505")
        assert _decode_qr(page) == f"{url}/pay?to=kaas"
        page.goto(url + "/shop/poster?amount=4.50")
        expect(page.get_by_role("heading", level=1)).to_have_text("Kaashandel Heerlen")
        assert _decode_qr(page) == f"{url}/pay?to=kaas&amount=4.50"

        # A resident pays: the page shows it by itself (htmx every 5 s), with date and time.
        page.goto(url + "/shop")
        expect(page.locator("#payments tbody tr")).to_have_text("Nog geen betalingen.")
        r = api.request("POST", "/payments", "wendy", json={"to": "kaas", "amount": "4.50"})
        assert r.status_code in (200, 201) and r.json()["status"] == "confirmed", r.text
        paid_id = r.json()["id"]
        first = page.locator("#payments tbody tr").first
        expect(first.locator("td").nth(1)).to_have_text("Wendy Jansen", timeout=15_000)
        expect(first.locator("td").nth(2)).to_have_text("4,50")
        paid_at = datetime.now(AMSTERDAM)
        assert paid_at.strftime("%Y") in first.locator("td").first.inner_text()

        # Paying back: more than is left refused next to the amount; then 1,50 of it.
        first.get_by_role("link", name="Terugbetalen").click()
        assert page.url == f"{url}/shop/refund/{paid_id}"
        expect(page.locator("#refund-paid")).to_have_text("4,50 munten")
        expect(page.locator("#amount")).to_have_value("4,50")
        page.locator("#amount").fill("4,51")
        page.get_by_role("button", name="Terugbetalen").click()
        expect(page.locator("#amount-error")).to_have_text(
            "Dat is meer dan er van deze betaling nog terug te betalen is."
        )
        expect(page.locator("#amount")).to_have_value("4,51")
        page.locator("#amount").fill("1,50")
        form = {
            name: str(page.locator(f"#main input[name={name}]").get_attribute("value"))
            for name in ("csrf_token", "key")
        }
        page.get_by_role("button", name="Terugbetalen").click()
        expect(page.locator("#notice")).to_have_text("Terugbetaald: 1,50 munten.")
        # The same form sent again (a double click) pays back once (found by review).
        twice = page.request.post(
            f"{url}/shop/refund/{paid_id}", form={**form, "amount": "1,50"}, max_redirects=0
        )
        assert twice.status == 303
        received = api.request("GET", "/payments/received?payer=wendy", "kaas").json()
        assert [(p["id"], p["refunded"], p["refundable"]) for p in received] == [
            (paid_id, "1.50", "3.00")
        ]
        page.goto(f"{url}/shop/refund/{paid_id}")
        expect(page.locator("#refund-left")).to_have_text("3,00 munten")

        # Exchanging 2 of the 3 coins left: waiting for a payment file.
        def balance_shown() -> str:
            page.goto(url + "/shop")
            return page.locator("#balance").inner_text()

        poll(lambda: balance_shown() == "3,00 munten", "the balance after the refund", 90)
        page.locator("#redeem_amount").fill("5")
        page.get_by_role("button", name="Inwisselen").click()
        expect(page.locator("#redeem_amount-error")).to_have_text("Uw saldo is niet hoog genoeg.")
        page.locator("#redeem_amount").fill("2")
        page.get_by_role("button", name="Inwisselen").click()
        expect(page.locator("#notice")).to_contain_text("Ingewisseld: 2,00 munten.")
        status = page.locator(".heitje-shop-redemptions tbody tr").first.locator("td")
        expect(status.nth(1)).to_have_text("2,00")
        expect(status.nth(2)).to_have_text("Wacht: nog niet in een betaalbestand voor de bank")
        screenshot(page, "shop-nl", tmp_path)

        # The bookkeeper's CSV: the payment, its day in Dutch time, euros with a point.
        today = datetime.now(AMSTERDAM).date().isoformat()
        r = page.request.get(f"{url}/shop/export.csv?from={today}&to={today}&what=payments")
        assert r.status == 200
        assert r.headers["content-disposition"] == (
            f'attachment; filename="heitje-kaas-payments-{today}-{today}.csv"'
        )
        rows = list(csv.reader(io.StringIO(r.text().removeprefix("\ufeff"))))
        assert rows[0][:5] == [
            "Datum", "Tijd (Nederlandse tijd)", "Betalingsnummer", "Betaald door",
            "Bedrag in euro's (met decimale punt)",
        ]  # fmt: skip
        assert [(x[0], x[2], x[3], x[4], x[5]) for x in rows[1:]] == [
            (today, str(paid_id), "Wendy Jansen", "4.50", "1.50")
        ]
        r = page.request.get(f"{url}/shop/export.csv?from={today}&to={today}&what=redemptions")
        rows = list(csv.reader(io.StringIO(r.text().removeprefix("\ufeff"))))
        assert [(x[0], x[3], x[4]) for x in rows[1:]] == [(today, "2.00", "waiting")]
        # The finance officer settles: the exchange is in that payment file.
        head = int(module_stack.token.w3.eth.block_number)
        result = poll(lambda: _settle(module_stack, head), "a settlement through the head")
        day = target2_day_on_or_after(datetime.now(UTC).date())  # paid on a TARGET2 day
        file_name = f"{result['batch_id']}.xml"
        assert result["xml_path"] == f"settlements/{file_name}"
        page.goto(url + "/shop")
        expect(status.nth(2)).to_have_text(
            f"In betaalbestand {file_name}, wordt betaald op {i18n.format_day(day, 'nl')}"
        )
        r = page.request.get(f"{url}/shop/export.csv?from={today}&to={today}&what=redemptions")
        rows = list(csv.reader(io.StringIO(r.text().removeprefix("\ufeff"))))
        assert [(x[3], x[4], x[5], x[6]) for x in rows[1:]] == [
            ("2.00", "in_file", file_name, day.isoformat())
        ]
        # Bad dates: the message next to the field, nothing downloaded.
        page.goto(f"{url}/shop")
        page.goto(f"{url}/shop/export.csv?from=2026-02-30&to={today}")
        expect(page.locator("#from-error")).to_have_text("Vul een datum in, zoals 2026-12-31.")
        page.goto(f"{url}/shop/export.csv?from={today}&to=2020-01-01")
        expect(page.locator("#to-error")).to_have_text(
            "De eerste dag mag niet na de laatste dag zijn."
        )
        # Days at the calendar's ends are refused, not a 500 (found by review).
        for edge in ("9999-12-31", "0001-01-01"):
            page.goto(f"{url}/shop/export.csv?from={edge}&to={edge}")
            expect(page.locator("#from-error")).to_have_text("Vul een datum in, zoals 2026-12-31.")
    finally:
        context.close()


@browser_test
def test_shop_pages_pass_axe_in_both_languages(
    module_stack: Stack, people: Future[Api], browser: Any, tmp_path: Path
) -> None:
    url = module_stack.api_url
    api = people.result()
    if "kaas" not in api.passwords:
        pytest.skip("needs the shop of the test before")
    paid = api.request("GET", "/payments/received?payer=wendy", "kaas").json()
    found: dict[str, list[dict[str, Any]]] = {}
    for lang in ("nl", "en"):
        context = phone_context(browser)
        context.add_cookies([{"name": "heitje_lang", "value": lang, "url": url}])
        try:
            page = context.new_page()
            page.goto(url + "/shop/signup")
            found[f"{lang} /shop/signup"] = axe_violations(page)
            page.locator("form[action='/shop/signup'] button[type=submit]").click()
            expect(page.locator("#kvk-error")).to_be_visible()
            found[f"{lang} /shop/signup refused"] = axe_violations(page)
            page.goto(url + "/")
            page.locator("#username").fill("kaas")
            page.locator("#password").fill(api.passwords["kaas"])
            page.locator("form[action='/login'] button[type=submit]").click()
            for path in (
                "/shop",
                "/shop?amount=4,505",
                "/shop/poster?amount=4,50",
                f"/shop/refund/{paid[0]['id']}",
                "/shop/export.csv?from=x&to=y",
            ):
                page.goto(url + path)
                expect(page.locator("main h1")).to_be_visible()
                found[f"{lang} {path}"] = axe_violations(page)
                sent = page.request.get(url + path).text()  # as the server sends it
                assert ' style="' not in sent and not re.search(r"<script>", sent), path
                hosts = set(re.findall(r"https?://([^/\"'\s)<>]+)", sent)) - {"www.w3.org"}
                assert hosts <= {urlsplit(url).netloc}, (path, hosts)
            screenshot(page, f"shop-export-error-{lang}", tmp_path)
        finally:
            context.close()
    bad = {k: v for k, v in found.items() if v}
    assert bad == {}, json.dumps(bad, indent=1)


def test_not_a_shop_is_sent_home(module_stack: Stack, people: Future[Api]) -> None:
    url = module_stack.api_url
    people.result()
    with httpx.Client(base_url=url) as client:
        for path in ("/shop", "/shop/poster", "/shop/refund/1", "/shop/export.csv"):
            r = client.get(path, follow_redirects=False)
            assert (r.status_code, r.headers.get("location")) == (303, "/"), path
        r = client.get("/shop/payments")
        assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
        r = client.post("/shop/redeem", data={"amount": "1", "csrf_token": "x"})
        assert r.status_code == 403


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ("Anna de Vries", "Anna de Vries"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+31 6", "'+31 6"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
    ],
)
def test_a_payer_name_never_starts_a_formula_in_the_csv(name: str, cell: str) -> None:
    """Display names are chosen by people: a name a spreadsheet would run as a formula is
    written as text (OWASP CSV injection)."""
    assert spreadsheet_safe(name) == cell


def test_over_long_address_fields_are_refused_next_to_them(module_stack: Stack) -> None:
    """A street, house number or town longer than the payee file takes is a form error next
    to the field (was a 500: found by review); nothing is made."""
    fields = {"street": "s" * 71, "house_number": "1" * 17, "town": "t" * 36}
    with httpx.Client(base_url=module_stack.api_url) as http:
        http.get("/shop/signup")
        token = http.cookies["heitje_login_csrf"]
        r = http.post(
            "/shop/signup",
            data={
                **SIGNUP,
                "kvk": "12345678",
                "postcode": "6411 AB",
                "username": "lang",
                **fields,
                "csrf_token": token,
            },
        )
    assert r.status_code == 422, r.text[:300]
    for field in fields:
        assert f'id="{field}-error"' in r.text
    assert _shop_row(module_stack, "lang") is None

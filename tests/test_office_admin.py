"""The admin's pages (issue 11, item 3) in chromium at phone size: staff accounts (a bad
username answered next to its field with nothing made; create, switch off and on), shop
applications (approve: registered on chain; decline with a reason the shop then reads),
reward periods (open one: its budget on chain is what was typed; a start the chain refuses is
shown next to the field; the command line opens one through the same code) and the pause
(`paused()` on chain), each in the staff log with who and why; a coordinator gets 403. Every
page is checked by axe in Dutch and English.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from web3.exceptions import ContractLogicError

from domain.security import csrf_token
from node.contract import AccountKind
from scripts.stack import Stack
from tests.apiclient import IBAN_BAKKER, IBAN_KAPPER, Api
from tests.browser import axe_violations, browser_test, expect, phone_context, screenshot
from tests.conftest import heitje_on, poll

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Browser, Page

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
PAGES = ("/office/staff", "/office/shops", "/office/periods")


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    api = Api(module_stack)
    api.staff("cora", "coordinator")
    for username, name, iban in (
        ("bakkerij", "Bakkerij De Korst", IBAN_BAKKER),
        ("kapsalon", "Kapsalon Knip", IBAN_KAPPER),
    ):
        password = f"{username}-wachtwoord"
        r = api.request(
            "POST",
            "/shops",
            json={
                "username": username,
                "password": password,
                "name": name,
                "category": "food",
                "iban": iban,
                "kvk": "12345678",
                "street": "Dorpsstraat",
                "house_number": "1",
                "postcode": "4461AB",
                "town": "Goes",
            },
        )
        assert r.status_code == 201, r.text
        api.passwords[username] = password
        api.addresses[username] = r.json()["address"]
    yield api


def _log_in(page: Page, url: str, username: str, password: str, target: str) -> None:
    page.goto(url + target)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()


def _log(stack: Stack, action: str) -> list[tuple[str, str, str, str]]:
    """(actor, role, subject, reason) of the staff log's entries of `action`, oldest first."""
    db = sqlite3.connect(stack.data_dir / "service.sqlite")
    try:
        rows = db.execute(
            "SELECT actor, role, subject, reason FROM staff_log WHERE action = ? ORDER BY id",
            (action,),
        ).fetchall()
    finally:
        db.close()
    return [tuple(r) for r in rows]


def _users(stack: Stack, username: str) -> int:
    db = sqlite3.connect(stack.data_dir / "service.sqlite")
    try:
        return int(
            db.execute("SELECT COUNT(*) FROM users WHERE username = ?", (username,)).fetchone()[0]
        )
    finally:
        db.close()


@browser_test
def test_admin_makes_switches_off_and_on_a_coordinator(
    module_stack: Stack, api: Api, browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "admin", api.passwords["admin"], "/office/staff")
    expect(page.locator("#create-form")).to_be_visible()
    assert axe_violations(page) == []
    # A bad username: the error next to it, what was typed kept (not the password), nothing made.
    page.locator("#username").fill("coen de vries")
    page.locator("#name").fill("Coen de Vries")
    page.locator("#role").select_option("coordinator")
    page.locator("#password").fill("een-goed-wachtwoord")
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#username-error")).to_be_visible()
    expect(page.locator("#username")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name")).to_have_value("Coen de Vries")
    expect(page.locator("#role")).to_have_value("coordinator")
    expect(page.locator("#password")).to_have_value("")
    assert _users(module_stack, "coen de vries") == 0
    assert axe_violations(page) == []
    # Made.
    page.locator("#username").fill("coen")
    page.locator("#password").fill("een-goed-wachtwoord")
    page.locator("#create-reason").fill("nieuwe coördinator Goes-Oost")
    page.locator("#create-form button[type=submit]").click()
    expect(page.locator("#notice")).to_be_visible()
    coen = page.locator("#members section[data-username='coen']")
    expect(coen.locator("[data-field=role]")).to_have_text("Coördinator")
    expect(coen.locator("[data-field=status]")).to_have_text("Aan")
    expect(coen.locator("[data-field=second-factor]")).to_have_text("Niet ingesteld")
    # The admin cannot switch themselves off: there is no button for it.
    admin = page.locator("#members section[data-username='admin']")
    expect(admin.locator("form")).to_have_count(0)
    screenshot(page, "office-admin-staff", tmp_path)
    # Switched off: coen cannot log in any more.
    coen.locator("input[name=reason]").fill("uit dienst")
    coen.locator("form button[type=submit]").first.click()
    expect(coen.locator("[data-field=status]")).to_have_text("Uit")
    r = module_stack.client().post(
        "/auth/token", json={"username": "coen", "password": "een-goed-wachtwoord"}
    )
    assert r.status_code == 403 and r.json()["code"] == "account_disabled"
    # And on again.
    coen.locator("form button[type=submit]").first.click()
    expect(coen.locator("[data-field=status]")).to_have_text("Aan")
    r = module_stack.client().post(
        "/auth/token", json={"username": "coen", "password": "een-goed-wachtwoord"}
    )
    assert r.status_code == 200, r.text
    context.close()
    assert _log(module_stack, "staff.create")[-1] == (
        "admin",
        "admin",
        "coen",
        "nieuwe coördinator Goes-Oost",
    )
    assert _log(module_stack, "staff.disable") == [("admin", "admin", "coen", "uit dienst")]
    assert _log(module_stack, "staff.enable") == [("admin", "admin", "coen", "")]


@browser_test
def test_admin_approves_one_shop_and_declines_another(
    module_stack: Stack, api: Api, browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "admin", api.passwords["admin"], "/office/shops")
    bakkerij = page.locator("#pending section[data-username='bakkerij']")
    expect(bakkerij.locator("[data-field=kvk]")).to_have_text("12345678")
    expect(bakkerij.locator("[data-field=iban]")).to_contain_text("NL91 ABNA 0417 1643 00")
    expect(bakkerij.locator("[data-field=address]")).to_contain_text("4461 AB Goes")
    assert axe_violations(page) == []
    screenshot(page, "office-admin-shops", tmp_path)
    bakkerij.locator(".heitje-approve button").click()
    expect(page.locator("#notice")).to_be_visible()
    expect(
        page.locator("#decided section[data-username='bakkerij'] [data-field=status]")
    ).to_contain_text("Goedgekeurd")
    # Declining needs a reason: without one it is asked for, next to the field.
    kapsalon = page.locator("#pending section[data-username='kapsalon']")
    kapsalon.locator(".heitje-decline button").click()
    textarea = page.locator("#pending section[data-username='kapsalon'] textarea")
    expect(textarea).to_have_attribute("aria-invalid", "true")
    assert _log(module_stack, "shop.reject") == []
    assert axe_violations(page) == []
    textarea.fill("Geen winkel in de gemeente: het adres is een woning.")
    page.locator("#pending section[data-username='kapsalon'] .heitje-decline button").click()
    expect(page.locator("#pending-empty")).to_be_visible()
    reason = page.locator("#decided section[data-username='kapsalon'] [data-field=reason]")
    expect(reason).to_have_text("Geen winkel in de gemeente: het adres is een woning.")
    context.close()
    # The approved shop is registered on chain as a shop; the declined one is not.
    token = module_stack.token
    poll(
        lambda: token.account_kind(api.addresses["bakkerij"]) == AccountKind.SHOP,
        "the approved shop registered",
    )
    assert token.account_kind(api.addresses["kapsalon"]) == AccountKind.NONE
    assert _log(module_stack, "shop.approve") == [("admin", "admin", "bakkerij", "")]
    assert _log(module_stack, "shop.reject") == [
        ("admin", "admin", "kapsalon", "Geen winkel in de gemeente: het adres is een woning.")
    ]
    # The declined shop reads the reason on its page.
    for locale in ("nl-NL", "en-GB"):
        context = phone_context(browser, locale)
        page = context.new_page()
        _log_in(page, url, "kapsalon", api.passwords["kapsalon"], "/shop")
        expect(page.locator("#decline-reason")).to_have_text(
            "Geen winkel in de gemeente: het adres is een woning."
        )
        expect(page.locator("#approval")).to_have_count(0)
        assert axe_violations(page) == [], locale
        context.close()


@browser_test
def test_admin_opens_a_period_and_pauses_the_coin(
    module_stack: Stack, api: Api, browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    token = module_stack.token
    assert token.current_period_id() == 1  # opened by the stack
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "admin", api.passwords["admin"], "/office/periods")
    expect(page.locator("#current [data-field=budget]")).to_be_visible()
    assert axe_violations(page) == []
    tomorrow = (datetime.now(AMSTERDAM) + timedelta(days=1)).date()
    # Bad amounts: each answered next to its field, nothing sent.
    page.locator("#start").fill(tomorrow.isoformat())
    page.locator("#budget").fill("25.000,50")
    page.locator("#cap").fill("0")
    page.locator("#open-form button[type=submit]").click()
    expect(page.locator("#budget-error")).to_be_visible()
    expect(page.locator("#cap-error")).to_be_visible()
    expect(page.locator("#budget")).to_have_value("25.000,50")
    assert axe_violations(page) == []
    # 2500,50 HEIT is 2500 * 100 + 50 = 250050 base units; 150 HEIT is 15000.
    page.locator("#budget").fill("2500,50")
    page.locator("#cap").fill("150")
    page.locator("#open-reason").fill("budget december")
    page.locator("#open-form button[type=submit]").click()
    expect(page.locator("#notice")).to_be_visible()
    period = token.reward_period(2)
    assert (period.budget, period.cap_per_citizen, period.minted) == (250050, 15000, 0)
    midnight = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=AMSTERDAM)
    assert period.start == int(midnight.timestamp())
    expect(page.locator("#period-2 [data-field=budget]")).to_have_text("2.500,50 munten")
    # The command line opens one through the same code: from the day after, 10 HEIT.
    after = midnight + timedelta(days=1)
    done = heitje_on(
        module_stack,
        *("period", "open", "--budget", "10.00", "--cap", "5.00", "--start", after.isoformat()),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"period_id": 3}
    assert token.reward_period(3).budget == 1000
    # Today starts at once, which is before period 3's start: the chain refuses it.
    page.locator("#start").fill(datetime.now(AMSTERDAM).date().isoformat())
    page.locator("#budget").fill("100")
    page.locator("#cap").fill("10")
    page.locator("#open-form button[type=submit]").click()
    expect(page.locator("#start-error")).to_be_visible()
    expect(page.locator("#budget")).to_have_value("100")
    with pytest.raises(ContractLogicError):  # a panic: there is no period 4
        token.reward_period(4)
    # Pause and unpause, each with a reason.
    assert not token.contract.functions.paused().call()
    page.locator("#pause-reason").fill("sleutel van de minter mogelijk gelekt")
    page.locator("#pause-form button[type=submit]").click()
    expect(page.locator("#paused-banner")).to_be_visible()
    assert token.contract.functions.paused().call()
    assert axe_violations(page) == []
    screenshot(page, "office-admin-periods-paused", tmp_path)
    page.locator("#pause-reason").fill("nieuwe sleutel in gebruik")
    page.locator("#pause-form button[type=submit]").click()
    expect(page.locator("#notice")).to_be_visible()
    expect(page.locator("#paused-banner")).to_have_count(0)
    assert not token.contract.functions.paused().call()
    # The staff log page shows who did it and why.
    page.goto(url + "/office/log")
    for reason in ("budget december", "sleutel van de minter mogelijk gelekt"):
        expect(page.locator("#log tbody tr", has_text=reason)).to_contain_text("admin")
    context.close()
    assert _log(module_stack, "period.open") == [("admin", "admin", "2", "budget december")]
    assert _log(module_stack, "chain.pause") == [
        ("admin", "admin", "token", "sleutel van de minter mogelijk gelekt")
    ]
    assert _log(module_stack, "chain.unpause") == [
        ("admin", "admin", "token", "nieuwe sleutel in gebruik")
    ]


@browser_test
def test_every_admin_page_in_english_a_coordinator_gets_403_and_a_reset(
    module_stack: Stack, api: Api, browser: Browser
) -> None:
    url = module_stack.api_url
    context = phone_context(browser, "en-GB")
    page = context.new_page()
    _log_in(page, url, "admin", api.passwords["admin"], "/office/staff")
    expect(page.locator("#create-form")).to_be_visible()
    for path in PAGES:
        page.goto(url + path)
        expect(page.locator("h1")).to_be_visible()
        assert axe_violations(page) == [], path
    context.close()
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "cora", api.passwords["cora"], "/office")
    expect(page.locator("#sections")).to_be_visible()
    for path in PAGES:
        response = page.goto(url + path)
        assert response is not None and response.status == 403, path
        expect(page.locator("#forbidden")).to_be_visible()
    assert page.locator("#create-form").count() == 0
    context.close()
    # Posting as a coordinator changes nothing either.
    client = module_stack.client()
    r = client.post("/auth/token", json={"username": "cora", "password": api.passwords["cora"]})
    client.cookies.set("heitje_session", r.json()["access_token"])
    r = client.post("/office/staff", data={"username": "x", "name": "X", "role": "admin"})
    assert r.status_code == 403
    assert _users(module_stack, "x") == 0
    # An admin resets a second factor with a reason (needed), in the staff log.
    admin = module_stack.client()
    r = admin.post("/auth/token", json={"username": "admin", "password": api.passwords["admin"]})
    session = r.json()["access_token"]
    admin.cookies.set("heitje_session", session)
    form = {"csrf_token": csrf_token(session), "reason": "  "}
    r = admin.post("/office/staff/cora/second-factor/reset", data=form)
    assert r.status_code == 422 and 'id="reset-' in r.text
    assert _log(module_stack, "staff.second_factor_reset") == []
    form["reason"] = "telefoon kwijt"
    r = admin.post("/office/staff/cora/second-factor/reset", data=form)
    assert r.status_code == 303
    assert _log(module_stack, "staff.second_factor_reset") == [
        ("admin", "admin", "cora", "telefoon kwijt")
    ]
    # Without the form's token nothing happens.
    r = admin.post("/office/staff/cora/disable", data={"csrf_token": "x" * 40})
    assert r.status_code == 403
    assert _log(module_stack, "staff.disable") == [("admin", "admin", "coen", "uit dienst")]

"""The staff pages' foundation (issue 11, items 1 and 6): /office, a home page per role with
that role's sections, the 403 page for a role a page is not for, and the staff log: appended,
never changed (the database refuses UPDATE and DELETE), shown to auditors and admins.

The log's entries here are written through `domain.staff_log.record` on the stack's own
database (the actions that write them have their tests with their pages).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import pytest

from domain import staff_log
from domain.context import Caller, Context
from heitje.settings import Settings
from scripts.stack import Stack
from store.db import connect
from tests.apiclient import Api
from tests.browser import axe_violations, browser_test, expect, phone_context
from web.templating import OFFICE_MENU

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def api(module_stack: Stack) -> Iterator[Api]:
    api = Api(module_stack)
    api.staff("olga", "auditor")
    api.staff("cora", "coordinator")
    yield api


def _record(stack: Stack, username: str, action: str, subject: str, reason: str, at: str) -> None:
    db = connect(stack.data_dir / "service.sqlite")
    try:
        row = db.execute(
            "SELECT id, role, name FROM users WHERE username = ?", (username,)
        ).fetchone()
        ctx = Context(db=db, settings=Settings(), now=datetime.fromisoformat(at))
        staff_log.record(
            ctx,
            Caller(row["id"], username, row["role"], row["name"], None),
            action,
            subject,
            reason,
            amount=2500,
        )
    finally:
        db.close()


def test_the_staff_log_cannot_be_changed(module_stack: Stack, api: Api) -> None:
    _record(module_stack, "cora", "task.publish", "bench-1", "", "2026-03-02T09:00:00+00:00")
    db = sqlite3.connect(module_stack.data_dir / "service.sqlite")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE staff_log SET reason = 'nothing' WHERE subject = 'bench-1'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM staff_log WHERE subject = 'bench-1'")
        row = db.execute(
            "SELECT actor, role, action, detail FROM staff_log WHERE subject = 'bench-1'"
        ).fetchone()
    finally:
        db.close()
    assert row == ("cora", "coordinator", "task.publish", '{"amount": 2500}')


def test_an_unknown_action_is_not_logged(module_stack: Stack, api: Api) -> None:
    with pytest.raises(ValueError, match="unknown staff action"):
        _record(module_stack, "cora", "task.delete", "x", "", "2026-03-02T09:00:00+00:00")


def _log_in(page: Page, url: str, username: str, password: str, target: str) -> None:
    page.goto(url + target)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()


@browser_test
def test_staff_home_pages_and_the_log(module_stack: Stack, api: Api, browser: Browser) -> None:
    url = module_stack.api_url
    _record(
        module_stack,
        "cora",
        "task.reject",
        "bench-2",
        "no photo of the bench",
        "2026-03-03T10:00:00+00:00",
    )
    for locale, lang in (("nl-NL", "nl"), ("en-GB", "en")):
        context = phone_context(browser, locale)
        page = context.new_page()
        # Not signed in: the log page asks to log in and comes back to it.
        _log_in(page, url, "olga", api.passwords["olga"], "/office/log")
        expect(page.locator("#log")).to_be_visible()
        assert page.url.endswith("/office/log")
        row = page.locator("#log tbody tr", has_text="bench-2")
        expect(row).to_contain_text("cora")
        expect(row).to_contain_text("no photo of the bench")
        assert axe_violations(page) == [], lang
        # Filtered on another staff member: nothing.
        page.goto(url + "/office/log?actor=olga")
        expect(page.locator("#log-empty")).to_be_visible()
        # The home page: the auditor's sections, in the menu's order.
        page.goto(url + "/")
        assert page.url.endswith("/office")
        links = page.locator("#sections a")
        expect(links).to_have_count(len(OFFICE_MENU["auditor"]) - 1)
        hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
        assert hrefs == [h for h, _ in OFFICE_MENU["auditor"] if h != "/office"]
        assert axe_violations(page) == [], lang
        context.close()
    # A coordinator may not read the log: 403 with the page that says so.
    context = phone_context(browser)
    page = context.new_page()
    _log_in(page, url, "cora", api.passwords["cora"], "/office")
    expect(page.locator("#sections")).to_be_visible()
    response = page.goto(url + "/office/log")
    assert response is not None and response.status == 403
    expect(page.locator("#forbidden")).to_be_visible()
    assert page.locator("#log").count() == 0
    assert axe_violations(page) == []
    context.close()


def test_a_citizen_gets_no_office_page(module_stack: Stack, api: Api) -> None:
    api.citizen("cees")
    client = module_stack.client()
    r = client.post("/auth/token", json={"username": "cees", "password": api.passwords["cees"]})
    client.cookies.set("heitje_session", r.json()["access_token"])
    for path in ("/office", "/office/log"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "olga" not in page.text

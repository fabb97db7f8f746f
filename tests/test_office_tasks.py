"""The coordinator's pages (issue 11, item 2): publishing, changing and withdrawing tasks, the
review queue with photos, approving by keyboard, rejecting with a reason the resident sees,
four eyes, and the volunteer allowance (reward per hour, monthly cap).

The rules first, without a stack, with figures worked out by hand. Then in Debian's chromium at
phone size (390x844), coordinators signed in by their session cookie: one publishes a task (a
reward that is no number refused next to its field, 12,50 for 2 hours refused as 6,25 per hour
against 5,90, 11,80 for 2 hours published), changes it; a resident (API) takes it and sends it
in with a photo; the publisher's own approval is refused on the page; a second coordinator
approves it by keyboard only (Tab and Enter). Another piece of work is rejected: the reason is
required on the page, and the resident sees it on their task page. A taken task is withdrawn
with a reason the resident sees. On a stack of its own (four eyes from 50 HEIT, monthly cap 60
HEIT): a 50 HEIT reward needs two different coordinators, and the next 15 HEIT is refused with
the month's figures. axe-core on every page in Dutch and English.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from PIL import Image

from domain import allowance as rules
from domain.security import SESSION_COOKIE
from heitje.errors import Refused
from scripts.stack import Stack
from tests.apiclient import Api
from tests.browser import axe_violations, browser_test, expect, phone_context, screenshot
from tests.conftest import fresh

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

SHOTS = Path("/tmp/shots/coordinator")


# ----- the rules, by hand -----


def test_reward_per_hour_is_checked_in_whole_numbers() -> None:
    # 11.80 HEIT for 2 hours: 1180 * 60 = 70,800 = 590 * 120, exactly the most allowed.
    rules.check_per_hour(1180, 120, 590)
    # One cent more: 70,860 > 70,800; 11.81 / 2 = 5.905, shown rounded half up as 5.91.
    with pytest.raises(Refused) as e:
        rules.check_per_hour(1181, 120, 590)
    assert (e.value.http_status, e.value.code) == (422, "reward_per_hour_exceeded")
    assert str(e.value) == (
        "a reward of 11.81 HEIT for 2h00 is 5.91 HEIT per hour; the most allowed is 5.90 HEIT "
        "per hour"
    )
    # 15 HEIT (a waste bin) for 1 h 30: 1500 * 60 = 90,000 > 590 * 90 = 53,100; 10.00 an hour.
    with pytest.raises(Refused, match=r"is 10\.00 HEIT per hour"):
        rules.check_per_hour(1500, 90, 590)
    # 15 HEIT for 2 h 33 (153 minutes): 90,000 <= 590 * 153 = 90,270.
    rules.check_per_hour(1500, 153, 590)
    rules.check_per_hour(10**6, None, 590)  # no estimate: not checked
    assert rules.per_hour(1250, 120) == 625  # 12.50 for 2 hours: 6.25 an hour
    assert rules.per_hour(1000, 45) == 1333  # 10.00 for 45 minutes: 13.333... -> 13.33


def test_hours_are_read_as_whole_minutes() -> None:
    assert [rules.parse_hours(t) for t in ("2", "1,5", "1.5", " 0,25 ", "0,01", "10")] == [
        120,
        90,
        90,
        15,
        1,  # 0.6 minutes, rounded to 1
        600,
    ]
    for bad in ("", "0", "0,00", "abc", "1,555", "-1", "1:30", "12345"):
        with pytest.raises(Refused) as e:
            rules.parse_hours(bad)
        assert e.value.code == "invalid_hours", bad


def test_monthly_cap_allows_reaching_it_but_not_passing_it() -> None:
    # 200.00 approved this month plus 10.00 is exactly the cap of 210.00.
    rules.check_monthly("tess", "2026-12", 20000, 1000, 21000)
    with pytest.raises(Refused) as e:
        rules.check_monthly("tess", "2026-12", 20001, 1000, 21000)
    assert (e.value.http_status, e.value.code) == (422, "monthly_cap_exceeded")
    assert str(e.value) == (
        "tess has 200.01 HEIT approved in 2026-12; 10.00 more would pass the monthly cap of "
        "210.00 HEIT"
    )


# ----- the stack's people -----


def jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (640, 480), (30, 140, 60)).save(out, "JPEG")
    return out.getvalue()


class Office:
    """Coordinators `cora` (publishes) and `cees` (reviews), resident `tess`, on one stack."""

    def __init__(self, stack: Stack, api: Api) -> None:
        self.stack = stack
        self.api = api
        self.url = stack.api_url
        self.cora, self.cees, self.cato = fresh("cora"), fresh("cees"), fresh("cato")
        self.tess = fresh("tess")
        for name in (self.cora, self.cees, self.cato):
            api.staff(name, "coordinator")
        api.citizen(self.tess)
        api.wait_registered(self.tess)

    def publish(self, reward: str, minutes: int | None = 600, title: str = "Sweep") -> str:
        ref = fresh("job-")
        body: dict[str, Any] = {"ref": ref, "kind": "sweep", "title": f"{title} {ref}"}
        body |= {"reward": reward, "neighbourhood": "Welten"}
        if minutes is not None:
            body["estimated_minutes"] = minutes
        r = self.api.request("POST", "/tasks", self.cora, json=body)
        assert r.status_code == 201, r.text
        return ref

    def send_in(self, ref: str, note: str = "Swept the square.") -> None:
        assert self.api.request("POST", f"/tasks/{ref}/claim", self.tess).status_code == 200
        r = self.api.http.post(
            f"/tasks/{ref}/proof",
            headers={"Authorization": f"Bearer {self.api.token(self.tess)}"},
            files=[("photos", ("work.jpg", jpeg(), "image/jpeg"))],
            data={"note": note},
        )
        assert r.status_code == 200, r.text

    def task(self, ref: str, user: str | None = None) -> dict[str, Any]:
        return dict(self.api.request("GET", f"/tasks/{ref}", user or self.cees).json())

    def log(self, ref: str) -> list[tuple[str, str, str]]:
        """(action, actor, reason) of the staff log entries on `ref`, oldest first."""
        db = sqlite3.connect(f"file:{self.stack.data_dir / 'service.sqlite'}?mode=ro", uri=True)
        try:
            return [
                (str(a), str(b), str(c))
                for a, b, c in db.execute(
                    "SELECT action, actor, reason FROM staff_log WHERE subject = ? ORDER BY id",
                    (ref,),
                )
            ]
        finally:
            db.close()

    def page_as(self, browser: Browser, user: str, locale: str = "nl-NL") -> BrowserContext:
        """A phone browser signed in as `user` (their session cookie)."""
        context = phone_context(browser, locale)
        token = self.api.token(user)
        context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": self.url}])
        return context


@pytest.fixture(scope="module")
def office(module_stack: Stack) -> Iterator[Office]:
    api = Api(module_stack)
    try:
        yield Office(module_stack, api)
    finally:
        api.close()


def no_axe_violations(page: Page, what: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{what}: {violations}"


def both_languages(browser: Browser, office: Office, user: str, path: str) -> None:
    """axe-core on `path` in Dutch and in English."""
    for locale in ("nl-NL", "en-GB"):
        context = office.page_as(browser, user, locale)
        try:
            page = context.new_page()
            page.goto(office.url + path)
            expect(page.locator("html")).to_have_attribute("lang", locale[:2])
            no_axe_violations(page, f"{path} in {locale}")
        finally:
            context.close()


def tab_to(page: Page, selector: str, most: int = 300) -> None:
    """Press Tab until the element `selector` has the focus (keyboard only)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"{selector} never got the focus")


def section_of(page: Page, ref: str) -> str:
    """The CSS selector of the review queue's section of task `ref`."""
    return f"section[data-ref='{ref}']"


def test_change_and_withdraw_over_the_api(office: Office) -> None:
    o = office
    ref = o.publish("5.00", minutes=60)
    change = {"title": "Sweep the square", "reward": "5.90", "estimated_minutes": 60}

    def call(method: str, path: str, user: str, body: dict[str, Any]) -> tuple[int, Any]:
        r = o.api.request(method, path, user, json=body)
        return r.status_code, r.json()

    status, body = call("PATCH", f"/tasks/{ref}", o.tess, change)
    assert (status, body["code"]) == (403, "forbidden")
    # 5.91 for an hour: 591 * 60 > 590 * 60.
    status, body = call("PATCH", f"/tasks/{ref}", o.cora, change | {"reward": "5.91"})
    assert (status, body["code"]) == (422, "reward_per_hour_exceeded")
    assert body["message"].endswith("is 5.91 HEIT per hour; the most allowed is 5.90 HEIT per hour")
    status, body = call("PATCH", f"/tasks/{ref}", o.cora, change | {"people": 3})
    assert status == 200, body
    assert (body["title"], body["reward"], body["people"]) == ("Sweep the square", "5.90", 3)
    assert body["description"] == "" and body["neighbourhood"] == ""  # left out: the default
    status, body = call("POST", f"/tasks/{ref}/withdraw", o.cora, {"reason": "  "})
    assert (status, body["code"]) == (422, "reason_required")
    assert o.api.request("POST", f"/tasks/{ref}/claim", o.tess).status_code == 200
    status, body = call("PATCH", f"/tasks/{ref}", o.cora, change)
    assert (status, body["code"]) == (409, "task_not_open")
    status, body = call("POST", f"/tasks/{ref}/withdraw", o.cees, {"reason": "Not needed."})
    assert (status, body["status"], body["withdrawal_reason"]) == (200, "withdrawn", "Not needed.")
    status, body = call("POST", f"/tasks/{ref}/withdraw", o.cees, {"reason": "Again."})
    assert (status, body["code"]) == (409, "task_not_withdrawable")
    r = o.api.request("POST", f"/tasks/{ref}/claim", o.tess)
    assert (r.status_code, r.json()["code"]) == (409, "task_not_open")
    assert [(a, who) for a, who, _ in o.log(ref)] == [
        ("task.publish", o.cora),
        ("task.edit", o.cora),
        ("task.withdraw", o.cees),
    ]
    o.api.check_responses()


# ----- in the browser -----


@browser_test
def test_publish_change_and_approve_by_keyboard(office: Office, browser: Browser) -> None:
    o = office
    context = o.page_as(browser, o.cora)
    try:
        page = context.new_page()
        page.goto(o.url + "/office/tasks")
        expect(page.get_by_role("heading", level=1)).to_have_text("Klussen")
        page.get_by_role("link", name="Een klus plaatsen").click()
        expect(page).to_have_url(o.url + "/office/tasks/new")
        title = fresh("Veeg het plein ")
        page.get_by_label("Titel").fill(title)
        page.get_by_label("Beloning in munten").fill("twaalf")
        page.get_by_label("Hoeveel uur duurt de klus?").fill("2")
        page.get_by_label("Waar is de klus? (niet verplicht)").fill("Pancratiusplein")
        page.get_by_role("button", name="Plaatsen").click()
        # A reward that is no number: refused next to its field, everything typed kept.
        expect(page.locator("#reward-error")).to_have_text(
            "Vul de beloning in munten in, zoals 15 of 12,50."
        )
        expect(page.locator("#reward")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Titel")).to_have_value(title)
        expect(page.get_by_label("Waar is de klus? (niet verplicht)")).to_have_value(
            "Pancratiusplein"
        )
        # 12,50 for 2 hours is 6,25 an hour: above 5,90.
        page.get_by_label("Beloning in munten").fill("12,50")
        page.get_by_role("button", name="Plaatsen").click()
        expect(page.locator("#reward-error")).to_have_text(
            "Dit is 6,25 munten per uur werk. Het meeste dat mag is 5,90 munten per uur "
            "(vrijwilligersvergoeding). Geef een lagere beloning of meer uren."
        )
        screenshot(page, "publish-refused-nl", SHOTS)
        no_axe_violations(page, "the publish form with errors")
        listed = o.api.request("GET", "/tasks?status=open&limit=500", o.cora).json()
        assert title not in {t["title"] for t in listed}  # nothing published
        # 11,80 for 2 hours is exactly 5,90 an hour: published.
        page.get_by_label("Beloning in munten").fill("11,80")
        page.get_by_label("Voor hoeveel mensen is de klus?").fill("2")
        page.get_by_role("button", name="Plaatsen").click()
        expect(page.locator("#notice")).to_have_text(
            "De klus is geplaatst. Bewoners kunnen hem nu aannemen."
        )
        ref = page.url.split("/office/tasks/")[1].split("?")[0]
        expect(page.locator("#task-hours")).to_have_text("2 (5,90 munten per uur)")
        task = o.task(ref)
        assert (task["reward"], task["estimated_minutes"], task["people"]) == ("11.80", 120, 2)
        assert task["place"] == "Pancratiusplein" and task["status"] == "open"
        # Change it: 2,5 hours and a description.
        page.get_by_label("Hoeveel uur duurt de klus?").fill("2,5")
        page.get_by_label("Wat is de klus? (niet verplicht)").fill("Blad en zwerfafval.")
        page.get_by_role("button", name="Wijzigingen opslaan").click()
        expect(page.locator("#notice")).to_have_text("De klus is veranderd.")
        expect(page.locator("#task-hours")).to_have_text("2,5 (4,72 munten per uur)")  # 11.80/2.5
        task = o.task(ref)
        assert (task["estimated_minutes"], task["description"]) == (150, "Blad en zwerfafval.")
        screenshot(page, "task-nl", SHOTS)
        no_axe_violations(page, "a task's page")
        assert [a for a, _, _ in o.log(ref)] == ["task.publish", "task.edit"]

        # A resident takes it and sends it in with a photo (API).
        o.send_in(ref, note="Het plein is schoon.")
        # The publisher may not approve it: the page says so, nothing changes.
        page.goto(o.url + "/office/review")
        item = page.locator(section_of(page, ref))
        item.get_by_role("button", name="Goedkeuren").click()
        expect(page.locator("#review-error")).to_have_text(
            "U heeft deze klus geplaatst, dus een andere coördinator moet het werk beoordelen."
        )
        assert o.task(ref)["status"] == "submitted"
    finally:
        context.close()

    context = o.page_as(browser, o.cees)
    try:
        page = context.new_page()
        page.goto(o.url + "/office/review")
        item = page.locator(section_of(page, ref))
        expect(item.locator(".heitje-review-note")).to_have_text("Het plein is schoon.")
        expect(item.locator(".heitje-review-month")).to_have_text(
            "0,00 munten van maximaal 210,00 munten"
        )
        expect(item.locator(".heitje-review-year")).to_have_text(
            "0,00 munten van maximaal 100,00 munten"  # the test stacks' yearly cap
        )
        expect(item.locator(".heitje-review-approvals")).to_have_text("Eén goedkeuring is genoeg.")
        photo = item.get_by_role("img", name=f"Foto 1 van het werk aan {title}")
        page.wait_for_function(
            "s => { const i = document.querySelector(s + ' img');"
            " return i !== null && i.complete && i.naturalWidth > 0; }",
            arg=section_of(page, ref),
        )
        assert photo.evaluate("i => i.naturalWidth") == 640
        screenshot(page, "review-nl", SHOTS)
        # Keyboard only: Tab to the approve button of this work, Enter.
        tab_to(page, f"#{item.get_attribute('id')} form[id^=approve] button")
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_have_text(
            "Het werk is goedgekeurd. De munten gaan naar de bewoner."
        )
        expect(page.locator(section_of(page, ref))).to_have_count(0)
    finally:
        context.close()
    assert o.task(ref)["status"] == "approved"
    assert o.api.wait_reward(ref)["reward_status"] == "confirmed"
    assert [(a, who) for a, who, _ in o.log(ref)][-1] == ("task.approve", o.cees)
    for path in ("/office/tasks", "/office/tasks/new", f"/office/tasks/{ref}", "/office/review"):
        both_languages(browser, o, o.cees, path)


@browser_test
def test_reject_with_a_reason_the_resident_sees(office: Office, browser: Browser) -> None:
    o = office
    ref = o.publish("3.00", minutes=60, title="Bench")
    o.send_in(ref)
    context = o.page_as(browser, o.cees, "en-GB")
    try:
        page = context.new_page()
        page.goto(o.url + "/office/review")
        item = page.locator(section_of(page, ref))
        # The reason is required here: refused next to the field, nothing changed.
        item.get_by_role("button", name="Reject").click()
        item = page.locator(section_of(page, ref))
        error = item.locator(".utrecht-form-field-error-message")
        expect(error).to_have_text("Say why you reject the work. The resident sees this.")
        assert o.task(ref)["status"] == "submitted"
        reason = "The bench still has graffiti on the back."
        item.get_by_label("Why do you reject it?").fill(reason)
        item.get_by_label("Why do you reject it?").focus()
        page.keyboard.press("Tab")  # to the Reject button
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_have_text(
            "The work is rejected. The resident sees your reason."
        )
        screenshot(page, "review-after-reject-en", SHOTS)
    finally:
        context.close()
    assert o.task(ref)["status"] == "rejected"
    assert o.log(ref)[-1] == ("task.reject", o.cees, reason)
    page_html = httpx.get(
        f"{o.url}/tasks/{ref}",
        headers={"Accept": "text/html", "Accept-Language": "nl"},
        cookies={SESSION_COOKIE: o.api.token(o.tess)},
    )
    assert "Waarom het werk niet is goedgekeurd:" in page_html.text and reason in page_html.text


@browser_test
def test_withdraw_a_taken_task(office: Office, browser: Browser) -> None:
    o = office
    ref = o.publish("4.00", minutes=60, title="Posts")
    assert o.api.request("POST", f"/tasks/{ref}/claim", o.tess).status_code == 200
    context = o.page_as(browser, o.cora)
    try:
        page = context.new_page()
        page.goto(f"{o.url}/office/tasks/{ref}")
        expect(page.locator("#task-claimant")).to_have_text(o.tess)
        expect(page.locator("#edit-form")).to_have_count(0)  # taken: no longer changed
        page.get_by_role("button", name="De klus intrekken").click()
        expect(page.locator("#reason-error")).to_have_text(
            "Schrijf waarom u de klus intrekt. De bewoner die hem aannam ziet dit."
        )
        assert o.task(ref)["status"] == "claimed"
        reason = "De palen worden vervangen door de gemeente."
        page.get_by_label("Waarom trekt u de klus in?").fill(reason)
        page.get_by_role("button", name="De klus intrekken").click()
        expect(page.locator("#notice")).to_have_text(
            "De klus is ingetrokken. Niemand kan hem nog aannemen of insturen."
        )
        expect(page.locator("#task-status")).to_have_text("Ingetrokken")
        expect(page.locator("#withdrawal-reason")).to_have_text(reason)
        page.goto(o.url + "/office/tasks?status=withdrawn")
        expect(page.get_by_role("link", name=f"Posts {ref}")).to_be_visible()
    finally:
        context.close()
    # The resident sees it withdrawn, with the reason; nothing more can be done with it.
    mine = o.task(ref, o.tess)
    assert (mine["status"], mine["withdrawal_reason"]) == ("withdrawn", reason)
    assert o.task(ref, o.cees)["withdrawal_reason"] == reason
    anyone = o.api.request("GET", f"/tasks/{ref}").json()
    assert (anyone["status"], anyone["withdrawal_reason"]) == ("withdrawn", None)
    r = o.api.request("POST", f"/tasks/{ref}/submit", o.tess)
    assert (r.status_code, r.json()["code"]) == (409, "task_not_claimed")
    listed = o.api.request("GET", "/tasks?status=open&limit=500").json()
    assert ref not in {t["ref"] for t in listed}
    context = o.page_as(browser, o.tess)
    try:
        page = context.new_page()
        page.goto(f"{o.url}/tasks/{ref}")
        expect(page.locator("#withdrawal")).to_contain_text(
            "De gemeente heeft deze klus ingetrokken."
        )
        expect(page.locator("#withdrawal-reason")).to_have_text(reason)
        expect(page.locator("#submit-form")).to_have_count(0)
        no_axe_violations(page, "a withdrawn task's page for its resident")
    finally:
        context.close()
    assert o.log(ref)[-1] == ("task.withdraw", o.cora, reason)


@browser_test
@pytest.mark.stack_env(HEITJE_FOUR_EYES_THRESHOLD="50.00", HEITJE_MONTHLY_REWARD_CAP="60.00")
def test_four_eyes_and_the_monthly_cap(stack: Stack, browser: Browser) -> None:
    api = Api(stack)
    try:
        o = Office(stack, api)
        big = o.publish("50.00", minutes=600)  # 5.00 an hour
        o.send_in(big)
        context = o.page_as(browser, o.cees)
        try:
            page = context.new_page()
            page.goto(o.url + "/office/review")
            item = page.locator(section_of(page, big))
            expect(item.locator(".heitje-review-approvals")).to_have_text(
                "Twee coördinatoren nodig. Nog niemand heeft het goedgekeurd."
            )
            tab_to(page, f"#{item.get_attribute('id')} form[id^=approve] button")
            page.keyboard.press("Enter")
            expect(page.locator("#notice")).to_have_text(
                "Uw goedkeuring is vastgelegd. Een tweede coördinator moet dit werk ook goedkeuren."
            )
            item = page.locator(section_of(page, big))
            expect(item.locator(".heitje-review-approvals")).to_contain_text(
                "U gaf de eerste goedkeuring op"
            )
            # The same coordinator again: refused, nothing changed.
            item.get_by_role("button", name="Goedkeuren").click()
            expect(page.locator("#review-error")).to_have_text(
                "U gaf de eerste goedkeuring al. Een tweede, andere coördinator moet goedkeuren."
            )
        finally:
            context.close()
        task = o.task(big)
        assert (task["status"], task["approvals"], task["approvals_needed"]) == (
            "submitted",
            1,
            2,
        )
        context = o.page_as(browser, o.cato)
        try:
            page = context.new_page()
            page.goto(o.url + "/office/review")
            item = page.locator(section_of(page, big))
            expect(item.locator(".heitje-review-approvals")).to_contain_text(
                f"Eerste goedkeuring door {o.cees} op"
            )
            screenshot(page, "review-four-eyes-nl", SHOTS)
            tab_to(page, f"#{item.get_attribute('id')} form[id^=approve] button")
            page.keyboard.press("Enter")
            expect(page.locator("#notice")).to_have_text(
                "Het werk is goedgekeurd. De munten gaan naar de bewoner."
            )
            # 50 approved this month; 15 more would be 65, above the cap of 60.
            more = o.publish("15.00", minutes=180)
            o.send_in(more)
            page.goto(o.url + "/office/review")
            item = page.locator(section_of(page, more))
            expect(item.locator(".heitje-review-month")).to_have_text(
                "50,00 munten van maximaal 60,00 munten"
            )
            item.get_by_role("button", name="Goedkeuren").click()
            expect(page.locator("#review-error")).to_have_text(
                f"{o.tess} heeft deze maand 50,00 munten goedgekeurd gekregen. Met 15,00 munten "
                "erbij gaat dit over het maximum van 60,00 munten per maand."
            )
            no_axe_violations(page, "the review queue with a refusal")
        finally:
            context.close()
        assert o.task(big)["status"] == "approved"
        assert o.task(more)["status"] == "submitted"
        assert [(a, who) for a, who, _ in o.log(big)] == [
            ("task.publish", o.cora),
            ("task.first_approval", o.cees),
            ("task.approve", o.cato),
        ]
        r = api.request("POST", f"/tasks/{more}/approve", o.cees)
        assert (r.status_code, r.json()["code"]) == (422, "monthly_cap_exceeded")
        assert "50.00 HEIT approved in" in r.json()["message"]
    finally:
        api.close()


@browser_test
def test_approve_ticked_work_together(office: Office, browser: Browser) -> None:
    """Tick several pieces of work and approve them with one button (`POST /office/review/
    approve-selected`, `domain.tasks.approve_many`): each is judged by the rules of one
    approval, so the coordinator's own task is refused and the others are approved."""
    o = office
    vera = fresh("vera")
    o.api.citizen(vera)
    o.api.wait_registered(vera)
    refs = [o.publish("5.00", title="Rake") for _ in range(3)]
    own = fresh("own-")  # published by `cees`, who reviews: separation of duties refuses it
    r = o.api.request(
        "POST",
        "/tasks",
        o.cees,
        json={"ref": own, "kind": "sweep", "title": f"Own {own}", "reward": "5.00"},
    )
    assert r.status_code == 201, r.text
    for ref in [*refs, own]:
        assert o.api.request("POST", f"/tasks/{ref}/claim", vera).status_code == 200
        assert o.api.request("POST", f"/tasks/{ref}/submit", vera).status_code == 200
    context = o.page_as(browser, o.cees)
    try:
        page = context.new_page()
        page.goto(o.url + "/office/review")
        # Nothing ticked: a message, nothing approved.
        page.get_by_role("button", name="Al het aangevinkte werk goedkeuren").click()
        expect(page.locator("#select-error")).to_be_visible()
        for ref in (refs[0], refs[1], own):
            page.locator(f"{section_of(page, ref)} input[name=refs]").check()
        page.get_by_role("button", name="Al het aangevinkte werk goedkeuren").click()
        expect(page.locator("#batch-result p")).to_have_text(
            "Goedgekeurd: 2. Wacht op een tweede coördinator: 0. Niet goedgekeurd: 1."
        )
        expect(page.locator("#batch-refused li")).to_have_text(
            f"Own {own}: U heeft deze klus geplaatst, dus een andere coördinator moet het werk "
            "beoordelen."
        )
        no_axe_violations(page, "the review queue after approving ticked work")
        screenshot(page, "review-ticked-nl", SHOTS)
        # The last one alone: approved, back to the queue with the counts (303).
        page.locator(f"{section_of(page, refs[2])} input[name=refs]").check()
        page.get_by_role("button", name="Al het aangevinkte werk goedkeuren").click()
        expect(page.locator("#batch-result p")).to_have_text(
            "Goedgekeurd: 1. Wacht op een tweede coördinator: 0. Niet goedgekeurd: 0."
        )
        assert page.url.endswith("/office/review?done=1,0")
    finally:
        context.close()
    # In English, by keyboard alone: Tab to the tick box, Space, Tab to the button, Enter.
    last = o.publish("5.00", title="Weed")
    assert o.api.request("POST", f"/tasks/{last}/claim", vera).status_code == 200
    assert o.api.request("POST", f"/tasks/{last}/submit", vera).status_code == 200
    context = o.page_as(browser, o.cees, "en-GB")
    try:
        page = context.new_page()
        page.goto(o.url + "/office/review")
        tab_to(page, f"{section_of(page, last)} input[name=refs]")
        page.keyboard.press("Space")
        tab_to(page, "#approve-selected button")
        page.keyboard.press("Enter")
        expect(page.locator("#batch-result p")).to_have_text(
            "Approved: 1. Waiting for a second coordinator: 0. Not approved: 0."
        )
        no_axe_violations(page, "the review queue after approving ticked work, in English")
        screenshot(page, "review-ticked-en", SHOTS)
    finally:
        context.close()
    refs.append(last)
    assert [o.task(ref)["status"] for ref in refs] == ["approved"] * 4
    assert o.task(own)["status"] == "submitted"
    assert [(a, who) for a, who, _ in o.log(refs[0])] == [
        ("task.publish", o.cora),
        ("task.approve", o.cees),
    ]
    for ref in refs:
        o.api.wait_reward(ref)
    assert o.api.chain_balance(vera) == 4 * 500

"""The staff second factor (issue 11, item 1): TOTP (RFC 6238) with one-time recovery codes.

On one stack with the deployment default (`HEITJE_STAFF_SECOND_FACTOR` on; the other test
stacks turn it off): a staff member sets it up in chromium at phone size (the key read from
the page, codes worked out with pyotp), sees the recovery codes once, logs out, and needs a
code at the next log-in; wrong and reused codes are refused by the field; a recovery code works
once; `POST /auth/token` needs `otp`; a session waiting for its code opens nothing; an admin's
reset (the command line) makes them set up a new one.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pyotp
import pytest

from domain import second_factor, staff_log
from domain.context import Caller, Context
from domain.security import SESSION_COOKIE, csrf_token, token_hash
from heitje.errors import Refused
from heitje.settings import Settings
from scripts.stack import Stack
from store.db import connect
from tests.apiclient import Api
from tests.browser import axe_violations, browser_test, expect, phone_context, screenshot
from tests.conftest import fresh, run_heitje

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# The second factor on, as deployed; a lockout of 30 s (not 1) after 5 wrong codes, so the
# throttle test's next request surely falls inside it on a busy machine.
pytestmark = pytest.mark.stack_env(
    HEITJE_STAFF_SECOND_FACTOR="true", HEITJE_LOGIN_LOCKOUT_BASE="30"
)

LOGIN_CSRF_COOKIE = "heitje_login_csrf"


# ----- the code window, with fixed times -----


def test_a_code_counts_in_its_step_and_the_steps_beside_it_once() -> None:
    # RFC 6238 appendix B: the ASCII secret "12345678901234567890" gives 94287082 (8 digits)
    # at T = 59 s and 07081804 at T = 1111111109 s; 6 digits are the last six (RFC 4226 5.3).
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of that secret
    assert second_factor.code_step(secret, "287082", 59) == 1  # step floor(59 / 30)
    assert second_factor.code_step(secret, "081804", 1111111109) == 37037036
    # 30 s steps: the step before and after count too (clocks drift), not two away.
    assert second_factor.code_step(secret, "287082", 59 + 30) == 1  # one step later
    assert second_factor.code_step(secret, "287082", 59 - 30) == 1  # one step earlier
    assert second_factor.code_step(secret, "287082", 59 + 60) is None
    assert second_factor.code_step(secret, "287082", 0 - 31) is None
    # A step taken once (or an earlier one) never counts again.
    assert second_factor.code_step(secret, "287082", 59, after=0) == 1
    assert second_factor.code_step(secret, "287082", 59, after=1) is None
    assert second_factor.code_step(secret, "28708", 59) is None
    assert second_factor.code_step(secret, "2870820", 59) is None
    totp = pyotp.TOTP(secret)
    at = 1_700_000_000  # step 56666666 (1_700_000_000 / 30 = 56666666.67)
    for offset, expected in ((-2, None), (-1, 56666665), (0, 56666666), (1, 56666667)):
        code = totp.at((56666666 + offset) * 30)
        assert second_factor.code_step(secret, code, at) == expected, offset
    assert second_factor.normalise(" 12 34-56 ") == "123456"
    assert second_factor.normalise("abcde-fghjk") == "ABCDEFGHJK"
    codes = second_factor.new_recovery_codes()
    assert len(codes) == len(set(codes)) == 10
    assert all(re.fullmatch(r"[2-9A-HJKMNP-Z]{5}-[2-9A-HJKMNP-Z]{5}", c) for c in codes)


# ----- helpers on the stack -----


class Steps:
    """TOTP codes of each account, never one of a step taken before (the service refuses a
    step twice): the current step, else the next, else a wait."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def code(self, user: str, secret: str) -> str:
        after = self.last.get(user, -1)
        while True:
            now = int(time.time() // 30)
            for step in (now, now + 1):
                if step > after:
                    self.last[user] = step
                    return pyotp.TOTP(secret).at(step * 30)
            time.sleep(max(0.05, after * 30 - time.time() + 0.05))

    def taken(self, user: str) -> int:
        return self.last[user]


def _wrong(secret: str, n: int = 0) -> str:
    """A 6-digit code that is not `secret`'s in the steps around now (the `n`-th such)."""
    now = int(time.time() // 30)
    near = {pyotp.TOTP(secret).at(step * 30) for step in range(now - 2, now + 4)}
    return [c for c in (f"{i:06d}" for i in range(n + 8)) if c not in near][n]


def _context(stack: Stack) -> Context:
    settings = Settings(data_dir=stack.data_dir, dispatcher=False)
    return Context(db=connect(stack.data_dir / "service.sqlite"), settings=settings,
                   now=datetime.now(UTC))  # fmt: skip


def _caller(ctx: Context, username: str) -> Caller:
    row = ctx.db.execute(
        "SELECT id, username, role, name, address FROM users WHERE username = ?", (username,)
    ).fetchone()
    return Caller(**dict(row))


def _enrol(stack: Stack, steps: Steps, username: str) -> tuple[str, list[str]]:
    """Set up `username`'s second factor in the domain (as the page does): (secret, recovery
    codes)."""
    ctx = _context(stack)
    try:
        caller = _caller(ctx, username)
        setup = second_factor.begin_enrolment(ctx, caller)
        codes = second_factor.finish_enrolment(
            ctx, caller, None, steps.code(username, setup.secret)
        )
    finally:
        ctx.close()
    return setup.secret, codes


def _token(api: Api, username: str, otp: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"username": username, "password": api.passwords[username]}
    if otp is not None:
        body["otp"] = otp
    return api.http.post("/auth/token", json=body)


def _refused(r: httpx.Response, status: int, code: str) -> None:
    assert (r.status_code, r.json().get("code")) == (status, code), r.text


@pytest.fixture(scope="module")
def steps() -> Steps:
    return Steps()


@pytest.fixture(scope="module")
def admin_secret(module_stack: Stack, steps: Steps) -> str:
    """The stack's admin, with a second factor set up."""
    secret, _ = _enrol(module_stack, steps, "admin")
    return secret


@pytest.fixture(scope="module")
def api(module_stack: Stack, steps: Steps, admin_secret: str) -> Iterator[Api]:
    """A client whose admin logged in with password and code (so it creates staff)."""
    api = Api(module_stack)
    r = _token(api, "admin", steps.code("admin", admin_secret))
    assert r.status_code == 200, r.text
    api.tokens["admin"] = r.json()["access_token"]
    api.http.cookies.clear()
    try:
        yield api
    finally:
        api.close()


def _page_login(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url + "/office")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/office/second-factor.*"))


def _submit_code(page: Page, code: str) -> None:
    page.locator("#code").fill(code)
    page.locator("form[action='/office/second-factor'] button[type=submit]").click()


# ----- in the browser -----


@browser_test
def test_a_staff_member_sets_up_the_app_and_needs_a_code_from_then_on(
    module_stack: Stack, api: Api, steps: Steps, browser: Browser, tmp_path: Path
) -> None:
    url = module_stack.api_url
    user = fresh("sfcora")
    api.staff(user, "coordinator")
    found: dict[str, list[dict[str, Any]]] = {}
    context = phone_context(browser)
    try:
        page = context.new_page()
        _page_login(page, url, user, api.passwords[user])
        expect(page.locator("h1")).to_have_text("Stel uw tweestapsverificatie in")
        found["nl enrol"] = axe_violations(page)
        secret = "".join(page.locator("#secret").inner_text().split())
        assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
        href = page.locator("#otpauth-link").get_attribute("href") or ""
        assert href.startswith("otpauth://totp/") and f"secret={secret}" in href, href
        assert "issuer=Gemeente" in href, href  # the municipality's name (the default)
        expect(page.locator("#qr svg")).to_be_visible()
        screenshot(page, "second-factor-enrol-nl", tmp_path)

        # A wrong code: refused by the field, nothing changed (the same key).
        _submit_code(page, _wrong(secret))
        expect(page.locator("#code-error")).to_be_visible()
        expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
        assert "".join(page.locator("#secret").inner_text().split()) == secret
        found["nl enrol refused"] = axe_violations(page)
        screenshot(page, "second-factor-enrol-refused-nl", tmp_path)

        # The first right code: the recovery codes, once.
        _submit_code(page, steps.code(user, secret))
        codes = page.locator("#recovery-codes li").all_inner_texts()
        assert len(codes) == 10 and all(re.fullmatch(r"\w{5}-\w{5}", c) for c in codes), codes
        found["nl recovery codes"] = axe_violations(page)
        screenshot(page, "second-factor-recovery-nl", tmp_path)
        page.locator("#continue").click()
        page.wait_for_url(url + "/office")
        expect(page.locator("#role")).to_be_visible()
        page.goto(url + "/office/second-factor")  # done: never the codes again
        page.wait_for_url(url + "/office")

        # Log out; the next log-in needs a code.
        page.locator("form[action='/logout'] button").click()
        _page_login(page, url, user, api.passwords[user])
        expect(page.locator("h1")).to_have_text("Typ uw code")
        found["nl code"] = axe_violations(page)
        page.goto(url + "/office")  # the session counts for nothing yet: the code is asked
        page.wait_for_url(url + "/office/second-factor")
        expect(page.locator("h1")).to_have_text("Typ uw code")
        page.goto(url + "/office/second-factor")
        screenshot(page, "second-factor-code-nl", tmp_path)
        # The code taken at set-up again: refused by the field.
        used = pyotp.TOTP(secret).at(steps.taken(user) * 30)
        _submit_code(page, used)
        expect(page.locator("#code-error")).to_contain_text("gebruikt")
        found["nl code refused"] = axe_violations(page)
        # In English too.
        page.goto(url + "/lang/en?next=/office/second-factor")
        expect(page.locator("h1")).to_have_text("Type your code")
        found["en code"] = axe_violations(page)
        _submit_code(page, "12345")
        expect(page.locator("#code-error")).to_contain_text("not right")
        found["en code refused"] = axe_violations(page)
        _submit_code(page, steps.code(user, secret))
        page.wait_for_url(url + "/office")
        [cookie] = [c for c in context.cookies() if c["name"] == SESSION_COOKIE]
        assert _expires_in(module_stack, cookie["value"]) > 11 * 3600  # now the full 12 hours

        # A recovery code works once (instead of the app's code).
        page.locator("form[action='/logout'] button").click()
        _page_login(page, url, user, api.passwords[user])
        _submit_code(page, codes[3].lower())
        page.wait_for_url(url + "/office")
        page.locator("form[action='/logout'] button").click()
        _page_login(page, url, user, api.passwords[user])
        _submit_code(page, codes[3])
        expect(page.locator("#code-error")).to_be_visible()
    finally:
        context.close()

    # The English set-up page, for axe.
    other = fresh("sffin")
    api.staff(other, "finance")
    context = phone_context(browser, "en-GB")
    try:
        page = context.new_page()
        _page_login(page, url, other, api.passwords[other])
        expect(page.locator("h1")).to_have_text("Set up your second factor")
        found["en enrol"] = axe_violations(page)
        _submit_code(page, "abc")
        expect(page.locator("#code-error")).to_be_visible()
        found["en enrol refused"] = axe_violations(page)
        screenshot(page, "second-factor-enrol-en", tmp_path)
    finally:
        context.close()
    bad = {k: v for k, v in found.items() if v}
    assert bad == {}, json.dumps(bad, indent=1)

    # The staff log has the set-up; the database only hashes of the recovery codes.
    ctx = _context(module_stack)
    try:
        entries = staff_log.entries(ctx, actor=user, action="staff.second_factor_enrol")
        assert [(e.subject, e.detail) for e in entries] == [(user, {"recovery_codes": 10})]
        rows = ctx.db.execute(
            "SELECT r.code_hash, r.used_at FROM recovery_codes r JOIN users u "
            "ON u.id = r.user_id WHERE u.username = ?",
            (user,),
        ).fetchall()
        assert len(rows) == 10 and all(r["code_hash"].startswith("$argon2id$") for r in rows)
        assert sum(r["used_at"] is not None for r in rows) == 1
        dump = "\n".join(ctx.db.iterdump())
        assert secret not in dump and not any(c.replace("-", "") in dump for c in codes)
    finally:
        ctx.close()


# ----- over HTTP -----


def _expires_in(stack: Stack, token: str) -> float:
    """Seconds until the session `token` expires, from the database."""
    ctx = _context(stack)
    try:
        row = ctx.db.execute(
            "SELECT expires_at FROM sessions WHERE token_hash = ?", (token_hash(token),)
        ).fetchone()
    finally:
        ctx.close()
    return float(row["expires_at"]) - time.time()


def _form_login(api: Api, username: str) -> tuple[httpx.Client, str]:
    """Log in on the login form (no code yet): a client holding the cookies, and the token
    of the session waiting for its second factor."""
    http = httpx.Client(base_url=api.stack.api_url)
    page = http.get("/")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None, page.text
    r = http.post(
        "/login",
        data={"username": username, "password": api.passwords[username],
              "csrf_token": csrf.group(1), "next": "/office/log"},
    )  # fmt: skip
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/office/second-factor?next=%2Foffice%2Flog"
    return http, r.cookies[SESSION_COOKIE]


def test_a_session_waiting_for_its_code_opens_nothing(api: Api, steps: Steps) -> None:
    user = fresh("sfadmin")
    api.staff(user, "admin")
    _enrol(api.stack, steps, user)
    http, token = _form_login(api, user)
    try:
        for path in ("/office", "/office/log", "/"):  # no page: the code is asked first
            r = http.get(path)
            assert r.status_code == 303, path
            assert r.headers["location"] == "/office/second-factor", path
        for method, path in (
            ("GET", "/auth/me"),
            ("GET", "/admin/shops"),
            ("GET", "/audit/accounts"),
            ("POST", "/staff"),
            ("POST", "/auth/logout-all"),
        ):
            r = httpx.request(
                method, api.stack.api_url + path, headers={"Authorization": f"Bearer {token}"}
            )
            _refused(r, 401, "unauthorized")
        r = http.get("/office/second-factor?next=/office/log")
        assert r.status_code == 200 and 'id="code"' in r.text
        # It lives half an hour (domain.sessions.PENDING_SECONDS), not the session's 12 hours.
        assert 1700 < _expires_in(api.stack, token) <= 1800
        # Log out works from it: the session is gone.
        r = http.post("/logout", data={"csrf_token": csrf_token(token)})
        assert (r.status_code, r.headers["location"]) == (303, "/")
        http.cookies.set(SESSION_COOKIE, token)
        r = http.get("/office/second-factor")
        assert r.status_code == 401 and 'id="username"' in r.text
    finally:
        http.close()


def test_the_api_token_needs_the_code_of_staff(api: Api, steps: Steps) -> None:
    user = fresh("sfaudit")
    api.staff(user, "auditor")
    _refused(_token(api, user, "123456"), 403, "second_factor_not_enrolled")
    secret, codes = _enrol(api.stack, steps, user)
    _refused(_token(api, user), 401, "second_factor_required")
    _refused(_token(api, user, "12345"), 401, "invalid_second_factor")
    used = pyotp.TOTP(secret).at(steps.taken(user) * 30)  # the set-up's code
    _refused(_token(api, user, used), 401, "invalid_second_factor")
    r = _token(api, user, steps.code(user, secret))
    assert r.status_code == 200, r.text
    me = api.http.get("/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["username"] == user
    assert 12 * 3600 - 100 < _expires_in(api.stack, r.json()["access_token"]) <= 12 * 3600
    assert _token(api, user, codes[0]).status_code == 200
    _refused(_token(api, user, codes[0]), 401, "invalid_second_factor")  # once: 1 failure
    api.http.cookies.clear()

    # Citizens are not asked.
    citizen = fresh("sfcitizen")
    api.citizen(citizen)
    assert _token(api, citizen).status_code == 200
    api.http.cookies.clear()

    # Wrong codes are throttled as wrong passwords: the 5th failure in a row (the used
    # recovery code was the 1st) locks the account's codes for HEITJE_LOGIN_LOCKOUT_BASE (30 s
    # here), in which even the right code gets 429 with Retry-After.
    for n in range(4):
        _refused(_token(api, user, _wrong(secret, n)), 401, "invalid_second_factor")
    r = _token(api, user, codes[1])  # a right one
    _refused(r, 429, "login_throttled")
    assert 1 <= int(r.headers["Retry-After"]) <= 30
    api.http.cookies.clear()


def test_an_admin_reset_ends_the_sessions_and_asks_for_a_new_set_up(api: Api, steps: Steps) -> None:
    stack = api.stack
    user = fresh("sfreset")
    api.staff(user, "coordinator")
    secret, _ = _enrol(stack, steps, user)
    r = _token(api, user, steps.code(user, secret))
    token = r.json()["access_token"]
    api.http.cookies.clear()

    ctx = _context(stack)
    try:
        admin, coordinator = _caller(ctx, "admin"), _caller(ctx, user)
        refusals = [
            (coordinator, user, "lost"),  # 403 forbidden: not an admin
            (admin, "admin", "lost"),  # 409 cannot_reset_self
            (admin, "no-such-user", "lost"),  # 404
            (admin, user, "  "),  # 422 reason_required
        ]
        got = []
        for caller, name, reason in refusals:
            with pytest.raises(Refused) as e:
                second_factor.reset_second_factor(ctx, caller, name, reason)
            got.append((e.value.http_status, e.value.code))
        assert got == [
            (403, "forbidden"),
            (409, "cannot_reset_self"),
            (404, "unknown_account"),
            (422, "reason_required"),
        ]
        assert second_factor.state(ctx, coordinator) == "enrolled"
    finally:
        ctx.close()

    done = run_heitje(
        "staff", "reset-second-factor", user.upper(), "--reason", "Lost her phone",
        "--data-dir", str(stack.data_dir),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"username": user.upper(), "had_second_factor": True}
    me = api.http.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    _refused(me, 401, "unauthorized")  # the session ended
    _refused(_token(api, user, "123456"), 403, "second_factor_not_enrolled")
    api.http.cookies.clear()

    ctx = _context(stack)
    try:
        entries = staff_log.entries(ctx, action="staff.second_factor_reset")
        mine = [(e.actor, e.reason, e.detail) for e in entries if e.subject == user]
        assert mine == [("command line", "Lost her phone", {"enrolled": True})]
        assert second_factor.state(ctx, _caller(ctx, user)) == "none"
    finally:
        ctx.close()

    # The next log-in sets up a new one: a new key.
    http, _ = _form_login(api, user)
    try:
        page = http.get("/office/second-factor")
        found = re.search(r'id="secret">([A-Z2-7 ]+)<', page.text)
        assert found is not None, page.text
        assert "".join(found.group(1).split()) != secret
    finally:
        http.close()

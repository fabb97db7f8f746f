"""The municipality's dashboard and the open data per neighbourhood (issue 11, item 7).

On one stack, a small known month is built through the API: three citizens (two living in
Noord, one in Zuid) each do a task (rewards 10, 20 and 5 HEIT; one approval stamped 00:30 on
the first of the month, Dutch time, which is still the day before in UTC), two of them pay the
shop (4.00 and 5.00), the shop exchanges 6.00 for euros. The figures of that month are worked
out by hand below and read back from the CSV downloads; the other months are zero.

The open data's small-cell rule needs more people in one neighbourhood than is quick to make
through the API (each sign-up registers a wallet on chain), so the test inserts citizens and
their approved tasks into the service database directly, in the year before, where they leave
the year above alone: Noord with 5 active citizens is shown, Zuid with 4 is hidden, and a
neighbourhood named by a single resident is never published.

Without a browser: the SVG charts parse as XML with a title, each plot's CSV holds the figures of
its table, the CSV guards cells against spreadsheet formulas, every staff role may see the
dashboard and a citizen may not. In chromium at phone size (390 px): no sideways scrolling on
the dashboard and the open-data page, and axe-core finds nothing serious in Dutch or English.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_date
from pydantic import SecretStr

from domain import dashboard
from domain.context import Context
from domain.security import SESSION_COOKIE
from heitje.money import format_heit
from heitje.settings import Settings
from indexer import activity as mirror_activity
from indexer._schema import ensure_schema, insert_sql
from indexer.mirror import Mirror
from scripts.stack import Stack
from store.db import connect, init_db
from tests.apiclient import IBAN_BAKKER, Api
from tests.browser import axe_violations, browser_test, expect, phone_context, screenshot
from tests.conftest import fresh
from web import i18n, svg
from web.office_dashboard_plots import plots

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SVG = "{http://www.w3.org/2000/svg}"


@dataclass
class Activity:
    """What the fixture built: the month it happened in (Dutch time), who is who."""

    api: Api
    month: date
    shop: str
    citizens: dict[str, str]  # username -> neighbourhood
    staff: dict[str, str] = field(default_factory=dict)  # role -> username

    @property
    def year(self) -> int:
        return self.month.year


def _citizen(api: Api, username: str, neighbourhood: str) -> None:
    r = api.request(
        "POST",
        "/citizens",
        json={
            "username": username,
            "password": "secret-" + username,
            "name": f"{username.title()} Jansen",
            "neighbourhood": neighbourhood,
        },
    )
    assert r.status_code == 201, r.text
    api.passwords[username] = "secret-" + username
    api.addresses[username] = r.json()["address"]


def _task(
    api: Api, ref: str, reward: str, neighbourhood: str, citizen: str, at: str | None
) -> None:
    r = api.request(
        "POST",
        "/tasks",
        api.publisher_name(),
        json={
            "ref": ref,
            "kind": "paint-bin",
            "title": f"Paint bin {ref}",
            "reward": reward,
            "neighbourhood": neighbourhood,
        },
    )
    assert r.status_code == 201, r.text
    assert api.request("POST", f"/tasks/{ref}/claim", citizen).status_code == 200
    assert api.request("POST", f"/tasks/{ref}/submit", citizen).status_code == 200
    r = api.approve(ref, at)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def activity(module_stack: Stack) -> Any:
    auditor = fresh("daud")
    api = Api(module_stack, auditor=auditor)
    api.staff(auditor, "auditor")
    api.staff(api.coordinator, "coordinator")
    staff = {"auditor": auditor, "coordinator": api.coordinator, "admin": "admin"}
    staff["finance"] = fresh("dfin")
    api.staff(staff["finance"], "finance")
    now = datetime.now(AMSTERDAM)
    month = now.date().replace(day=1)
    shop = fresh("dshop")
    api.shop(shop, IBAN_BAKKER)
    citizens = {fresh("noorda"): "Noord", fresh("noordb"): "Noord", fresh("zuida"): "Zuid"}
    for username, neighbourhood in citizens.items():
        _citizen(api, username, neighbourhood)
    a, b, c = citizens
    api.wait_registered(a, b, c, shop)
    first_of_month = datetime(month.year, month.month, 1, 0, 30, tzinfo=AMSTERDAM).isoformat()
    refs = [fresh("dash-t"), fresh("dash-t"), fresh("dash-t")]
    _task(api, refs[0], "10.00", "Noord", a, None)
    _task(api, refs[1], "20.00", "Noord", b, first_of_month)  # 22:30 or 23:30 UTC the day before
    _task(api, refs[2], "5.00", "Zuid", c, None)
    for ref in refs:
        api.wait_reward(ref)
    for payer, amount in ((a, "4.00"), (c, "5.00")):
        r = api.request("POST", "/payments", payer, json={"to": shop, "amount": amount})
        assert r.status_code == 201, r.text
    r = api.request("POST", "/redemptions", shop, json={"amount": "6.00"})
    assert r.status_code == 201, r.text
    api.wallet_synced(shop)  # the mirror holds every block so far
    if datetime.now(AMSTERDAM).date().replace(day=1) != month:
        pytest.skip("the month turned while the activity was built")
    yield Activity(api, month, shop, citizens, staff)
    api.check_responses()
    api.close()


def _get(activity: Activity, path: str, who: str | None = None, lang: str = "en") -> httpx.Response:
    cookies = {"heitje_lang": lang}
    if who is not None:
        cookies[SESSION_COOKIE] = activity.api.token(who)
    with httpx.Client(base_url=activity.api.stack.api_url, timeout=60, cookies=cookies) as http:
        return http.get(path)


def _csv(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))


def _iso(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


# ----- the figures, worked out by hand -----


def test_monthly_figures(activity: Activity) -> None:
    """The month's figures from the rules: active citizens 3 (two did a task, one of them and
    the third paid too: still three people), active shops 1, tasks 3 (the one approved at
    00:30 on the first, Dutch time, counts in this month), Noord 2 and Zuid 1; minted
    10 + 20 + 5 = 35.00, spent 4.00 + 5.00 = 9.00, redeemed 6.00; share 9 / 35 = 257 per
    mille (rounded down). Every other month of the year is zero."""
    finance = activity.staff["finance"]
    year, m = activity.year, activity.month.month
    months = [_iso(date(year, i, 1)) for i in range(1, 13)]

    active = _csv(_get(activity, f"/office/dashboard/active.csv?year={year}", finance))
    assert active[0] == ["Month", "Active citizens", "Active shops"]
    assert active[1:] == [
        [k, "3", "1"] if i + 1 == m else [k, "0", "0"] for i, k in enumerate(months)
    ]

    tasks = _csv(_get(activity, f"/office/dashboard/tasks.csv?year={year}", finance))
    assert tasks[1:] == [[k, "3" if i + 1 == m else "0"] for i, k in enumerate(months)]

    places = _csv(_get(activity, f"/office/dashboard/neighbourhoods.csv?year={year}", finance))
    assert places == [
        ["Neighbourhood", "Month", "Tasks done"],
        ["Noord", _iso(activity.month), "2"],
        ["Zuid", _iso(activity.month), "1"],
    ]

    heit = _csv(_get(activity, f"/office/dashboard/heit.csv?year={year}", finance))
    zero = ["0.00", "0.00", "0.00"]
    assert heit[1:] == [
        [k, *(["35.00", "9.00", "6.00"] if i + 1 == m else zero)] for i, k in enumerate(months)
    ]

    share = _csv(_get(activity, f"/office/dashboard/share.csv?year={year}", finance))
    assert share[0][-1] == "Per mille"
    assert share[m] == [_iso(activity.month), "35.00", "9.00", "257"]
    assert share[1 if m != 1 else 2][3] == ""  # nothing minted: no share

    token = activity.api.stack.token
    period_id = token.current_period_id()
    period = token.reward_period(period_id)
    assert period.minted == 3500  # the three rewards, nothing else on this stack
    budget = _csv(_get(activity, f"/office/dashboard/budget.csv?year={year}", finance))
    start = datetime.fromtimestamp(period.start, UTC).astimezone(AMSTERDAM).date()
    assert budget[1] == [
        str(period_id),
        start.isoformat(),
        format_heit(period.budget),
        "35.00",
        format_heit(period.budget - 3500),
        str(3500 * 1000 // period.budget),
    ]


def test_every_staff_role_sees_the_dashboard(activity: Activity) -> None:
    for role, who in activity.staff.items():
        r = _get(activity, "/office/dashboard", who)
        assert r.status_code == 200, role
    citizen = next(iter(activity.citizens))
    assert _get(activity, "/office/dashboard", citizen).status_code == 403
    assert _get(activity, "/office/dashboard/heit.csv", citizen).status_code == 403
    finance = activity.staff["finance"]
    assert _get(activity, "/office/dashboard/nothing.csv", finance).status_code == 404
    bad = _get(activity, "/office/dashboard?year=19x", finance)
    assert bad.status_code == 422 and 'id="year-error"' in bad.text


def test_without_chain_or_mirror_the_figures_say_so(tmp_path: Path) -> None:
    """No mirror yet and no chain: the chain's figures are None, the budget says why, and the
    plots built on them show a sentence instead of a chart; task figures still count."""
    settings = Settings(
        kek=SecretStr(base64.b64encode(os.urandom(32)).decode()),
        data_dir=tmp_path,
        dispatcher=False,
    )
    init_db(settings.service_db)
    ctx = Context(connect(settings.service_db), settings, datetime.now(UTC))
    try:
        board = dashboard.dashboard(ctx, *dashboard.year_range(2026))
    finally:
        ctx.close()
    assert board.mirror_block is None and board.minted is None and board.share_permille is None
    assert (board.budget, board.budget_problem) == (None, "chain_unavailable")
    assert [m.tasks_done for m in board.months] == [0] * 12
    shown = {p.slug: p for p in plots(board, "en")}
    for slug in ("heit", "share", "budget"):
        assert shown[slug].chart is None and shown[slug].empty, slug
        assert not shown[slug].rows, slug
    assert shown["tasks"].chart is not None


def test_mirror_months_by_block_time(tmp_path: Path) -> None:
    """The mirror's figures per time window, found through block numbers (a binary search over
    the kept block headers, timestamps equal across blocks included): each event counts in the
    window of its block's time, a window with no blocks is empty, nothing outside counts."""
    path = tmp_path / "mirror.sqlite"
    conn = sqlite3.connect(path)
    ensure_schema(conn)
    times = {1: 100, 2: 200, 3: 200, 4: 200, 5: 350, 6: 400, 9: 999}  # block -> timestamp
    citizen, shop = "0x" + "1" * 40, "0x" + "2" * 40
    with conn:
        conn.executemany(
            insert_sql("blocks"), [(n, f"h{n}", f"h{n - 1}", t) for n, t in times.items()]
        )
        conn.executemany(
            insert_sql("registrations"),
            [("r1", 0, 1, 100, citizen, "citizen"), ("r2", 1, 1, 100, shop, "shop")],
        )
        conn.executemany(
            insert_sql("rewards"),
            [(f"m{n}", 0, n, t, citizen, 100 * n, "0x") for n, t in times.items()],
        )
        conn.executemany(
            insert_sql("transfers"),
            [(f"p{n}", 1, n, t, citizen, shop, n) for n, t in times.items()]
            + [("back", 2, 5, 350, shop, citizen, 1000)],  # a refund: not spent at shops
        )
        conn.execute("INSERT INTO checkpoint VALUES (1, 9, 'h9')")
    conn.close()
    with Mirror(path) as mirror:
        win = mirror_activity.window(mirror, [200, 300, 400, 500])
        assert mirror_activity.minted(mirror, win) == {0: 200 + 300 + 400, 1: 500, 2: 600}
        paid = mirror_activity.payments(mirror, win)
        assert paid.spent == {0: 2 + 3 + 4, 1: 5, 2: 6}
        assert {b for b, _ in paid.payers} == {0, 1, 2} and len(paid.shops) == 3
        assert mirror_activity.window(mirror, [500, 600]) is None  # no block in it
        everything = mirror_activity.window(mirror, [0, 10_000])
        assert mirror_activity.minted(mirror, everything) == {0: 100 * (1 + 2 + 3 + 4 + 5 + 6 + 9)}


def test_chart_text_is_escaped() -> None:
    """Names people typed (a neighbourhood) end up as text in the SVG, never as markup."""
    name = '<script>alert(1)</script> & "Noord"'
    chart = svg.hbar_chart(name, name, [name, "Zuid"], [3, 1])
    root = ET.fromstring(str(chart))
    assert root.find(f".//{SVG}script") is None
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == name
    assert name in [t.text for t in root.iter(f"{SVG}text")]
    assert svg.nice_ticks(3) == [0, 1, 2, 3] and svg.nice_ticks(17) == [0, 5, 10, 15, 20]
    assert svg.nice_ticks(3500, 100) == [0, 1000, 2000, 3000, 4000]  # whole HEIT


# ----- charts and tables -----


class _Tables(HTMLParser):
    """The cells of every table with an id, by id: rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id")
            if self._table:
                self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _same(table_cell: str, csv_cell: str) -> bool:
    """A table cell (English, for people) and its CSV cell (for machines) say the same."""
    if re.fullmatch(r"\d{4}-\d{2}", csv_cell):
        year, month = map(int, csv_cell.split("-"))
        return table_cell == format_date(date(year, month, 1), "LLLL y", locale="en_GB")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", csv_cell):
        return table_cell == format_date(date.fromisoformat(csv_cell), "long", locale="en_GB")
    if table_cell.endswith("%"):
        permille = int(csv_cell)
        return table_cell == f"{permille // 10:,}.{permille % 10}\u00a0%"
    if table_cell == "\u2013":
        return csv_cell == ""
    return table_cell.replace(",", "") == csv_cell


def test_charts_are_svg_with_a_title_and_tables_match_the_csv(activity: Activity) -> None:
    finance, year = activity.staff["finance"], activity.year
    page = _get(activity, f"/office/dashboard?year={year}", finance)
    assert page.status_code == 200
    charts = re.findall(r"<svg\b.*?</svg>", page.text, re.S)
    assert len(charts) == 6
    for chart in charts:
        root = ET.fromstring(chart)
        assert root.tag == f"{SVG}svg" and root.get("role") == "img"
        assert root.get("viewBox") and not root.get("width")
        title = root.find(f"{SVG}title")
        assert title is not None and (title.text or "").strip()
        assert root.get("aria-labelledby", "").startswith(title.get("id", "-"))
        assert root.find(f"{SVG}desc") is not None
        assert root.find(f".//{SVG}script") is None
    tables = _Tables()
    tables.feed(page.text)
    for plot in ("active", "tasks", "neighbourhoods", "heit", "share", "budget"):
        rows = _csv(_get(activity, f"/office/dashboard/{plot}.csv?year={year}", finance))
        table = tables.tables[f"table-{plot}"]
        assert len(table) == len(rows), plot
        assert table[0][: len(rows[0]) - 1] == rows[0][:-1], plot  # same columns
        for shown, data in zip(table[1:], rows[1:], strict=True):
            assert len(shown) == len(data), plot
            assert all(_same(s, d) for s, d in zip(shown, data, strict=True)), (plot, shown, data)
        assert f'href="/office/dashboard/{plot}.csv?year={year}"' in page.text
    assert 'href="/open-data?year=' in page.text


# ----- open data -----


def _service_db(stack: Stack) -> sqlite3.Connection:
    conn = sqlite3.connect(stack.paths.service_db, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


@pytest.fixture(scope="module")
def crowd(activity: Activity) -> dict[str, Any]:
    """Citizens and approved tasks written straight into the service database (sign-ups
    through the API register wallets on chain, slow for nine people), all in June of the year
    before: Noord 5 citizens with a 7.00 task each, Zuid 4 with a 3.00 task each plus one
    resident who did nothing, and one resident of "Kleinwijk" with a task. One task's place
    is named like a spreadsheet formula."""
    year = activity.year - 1
    decided = datetime(year, 6, 15, 10, 0, tzinfo=UTC).isoformat()
    people: list[tuple[str, str, int | None]] = (
        [(fresh("crowdn"), "Noord", 700) for _ in range(5)]
        + [(fresh("crowdz"), "Zuid", 300) for _ in range(4)]
        + [(fresh("crowdz"), "Zuid", None), (fresh("crowdk"), "Kleinwijk", 900)]
    )
    conn = _service_db(activity.api.stack)
    try:
        with conn:
            admin_id = conn.execute("SELECT id FROM users WHERE username = 'admin'").fetchone()[0]
            for n, (username, home, reward) in enumerate(people):
                cur = conn.execute(
                    "INSERT INTO users (username, role, password_hash, name, created_at, "
                    "username_key) VALUES (?, 'citizen', 'x', ?, ?, ?)",
                    (username, f"Secret Name {username}", decided, username),
                )
                user_id = cur.lastrowid
                conn.execute("INSERT INTO citizens VALUES (?, ?)", (user_id, home))
                if reward is None:
                    continue
                place = "=HYPERLINK(1)" if n == 0 else home
                conn.execute(
                    "INSERT INTO tasks (ref, kind, title, reward, neighbourhood, status, "
                    "published_by, published_at, claimed_by, claimed_at, decided_by, "
                    "decided_at, approved_year) VALUES (?, 'paint-bin', ?, ?, ?, 'approved', "
                    "?, ?, ?, ?, ?, ?, ?)",
                    (
                        fresh("crowd-t"),
                        f"Secret task of {username}",
                        reward,
                        place,
                        admin_id,
                        decided,
                        user_id,
                        decided,
                        admin_id,
                        decided,
                        year,
                    ),
                )
    finally:
        conn.close()
    return {"year": year, "people": [p[0] for p in people]}


def test_open_data_hides_cells_of_fewer_than_five_people(
    activity: Activity, crowd: dict[str, Any]
) -> None:
    """The year before: June in Noord (5 citizens, 5 tasks of 7.00) shown; Zuid (4 active)
    hidden; Kleinwijk (one resident) counted under "" and hidden. This year's month: Noord
    (2 active) and Zuid (1) hidden. No totals, no names, usernames or addresses."""
    before = _csv(_get(activity, f"/open-data/neighbourhoods.csv?year={crowd['year']}"))
    june = f"{crowd['year']:04d}-06"
    assert before == [
        ["month", "neighbourhood", "citizens_active", "tasks_done", "heit_earned"],
        [june, "Noord", "5", "5", "35.00"],
        [june, "Zuid", "", "", ""],
        [june, "", "", "", ""],
    ]
    now = _csv(_get(activity, f"/open-data/neighbourhoods.csv?year={activity.year}"))
    month = _iso(activity.month)
    assert now[1:] == [[month, "Noord", "", "", ""], [month, "Zuid", "", "", ""]]

    page = _get(activity, f"/open-data?year={crowd['year']}")
    assert page.status_code == 200
    tables = _Tables()
    tables.feed(page.text)
    june_en = format_date(date(crowd["year"], 6, 1), "LLLL y", locale="en_GB")
    assert tables.tables["open-data"][1:] == [
        [june_en, "Noord", "5", "5", "35.00"],
        [june_en, "Zuid", "<5", "<5", "<5"],
        [june_en, "Other neighbourhoods or unknown", "<5", "<5", "<5"],
    ]
    assert 'href="/open-data/neighbourhoods.csv?year=' in page.text
    texts = page.text + "".join(",".join(r) for r in before + now)
    secrets_ = [*crowd["people"], "Secret", "Kleinwijk", *activity.citizens, activity.shop]
    secrets_ += list(activity.api.addresses.values())
    assert not [s for s in secrets_ if s.lower() in texts.lower()]


def test_made_up_sign_ups_do_not_bring_a_name_to_five(
    activity: Activity, crowd: dict[str, Any]
) -> None:
    """Review of issue 11: four sign-ups anyone can make, naming Kleinwijk (where one resident
    did a task), do not get Kleinwijk published: only residents whose work a coordinator
    approved count towards the five. The resident stays among "other or unknown"."""
    conn = _service_db(activity.api.stack)
    try:
        with conn:
            for _ in range(4):
                username = fresh("fakek")
                cur = conn.execute(
                    "INSERT INTO users (username, role, password_hash, name, created_at, "
                    "username_key) VALUES (?, 'citizen', 'x', 'Fake', '2026-01-01', ?)",
                    (username, username),
                )
                conn.execute("INSERT INTO citizens VALUES (?, 'Kleinwijk')", (cur.lastrowid,))
    finally:
        conn.close()
    rows = _csv(_get(activity, f"/open-data/neighbourhoods.csv?year={crowd['year']}"))
    assert "Kleinwijk" not in {r[1] for r in rows}
    assert [f"{crowd['year']:04d}-06", "", "", "", ""] in rows


def test_csv_cells_cannot_start_a_formula(activity: Activity, crowd: dict[str, Any]) -> None:
    finance = activity.staff["finance"]
    rows = _csv(
        _get(activity, f"/office/dashboard/neighbourhoods.csv?year={crowd['year']}", finance)
    )
    assert ["'=HYPERLINK(1)", f"{crowd['year']:04d}-06", "1"] in rows
    assert not [c for r in rows for c in r if c.startswith("=")]


# ----- in the browser -----


def _log_in(page: Page, url: str, path: str, username: str, password: str) -> None:
    page.goto(url + path)
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()


@browser_test
def test_pages_fit_a_phone_and_pass_axe(
    activity: Activity, crowd: dict[str, Any], browser: Browser, tmp_path: Path
) -> None:
    url = activity.api.stack.api_url
    finance = activity.staff["finance"]
    shots = Path("/tmp/shots/dashboard")
    found: dict[str, Any] = {}
    for locale, lang in (("nl-NL", "nl"), ("en-GB", "en")):
        heading = i18n.gettext(lang, "Dashboard")
        context = phone_context(browser, locale)
        try:
            page = context.new_page()
            _log_in(page, url, "/office/dashboard", finance, activity.api.passwords[finance])
            expect(page.locator("h1")).to_have_text(heading)
            expect(page.locator("svg.heitje-chart").first).to_be_visible()
            for details in page.locator("details").all():
                details.locator("summary").click()  # open every table, as a reader would
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            found[f"{lang} dashboard"] = axe_violations(page)
            screenshot(page, f"dashboard-{lang}", shots)
            page.goto(f"{url}/open-data?year={crowd['year']}")
            expect(page.locator("#open-data")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            found[f"{lang} open data"] = axe_violations(page)
            screenshot(page, f"open-data-{lang}", shots)
        finally:
            context.close()
    assert {k: v for k, v in found.items() if v} == {}

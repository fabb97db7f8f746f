"""The dashboard's plots (`web.office_dashboard`): from `domain.dashboard.Dashboard` to charts
(`web.svg`), their tables and their CSV files, in the reader's language.

Each `Plot` holds the same figures three ways: the chart, the table under it (`rows`, as text
in the reader's language) and the CSV (`csv_rows`: months as `YYYY-MM`, amounts in HEIT with a
decimal point, shares in per mille, counts as integers). Row i of the table and of the CSV are
the same figures.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal
from markupsafe import Markup

from domain.dashboard import Dashboard
from heitje.money import format_heit
from web import i18n, svg
from web._shop_export import spreadsheet_safe
from web.i18n import N_

PLOTS = ("active", "tasks", "neighbourhoods", "heit", "share", "budget")
"""The plots, in page order; each has `/office/dashboard/<plot>.csv`."""

Cell = str | int


@dataclass(frozen=True)
class Plot:
    """One plot: `slug` (its CSV's name), title and a sentence saying what it shows (both in
    the reader's language), the chart (None with `empty` saying why there is none), the
    table's `columns` (which are `numeric`) and `rows`, and the CSV's `csv_rows`."""

    slug: str
    title: str
    about: str
    chart: Markup | None
    empty: str | None
    columns: list[str]
    numeric: list[bool]
    rows: list[list[str]] = field(default_factory=list)
    csv_rows: list[list[Cell]] = field(default_factory=list)


class _Words:
    """Formatting in one language."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.locale = i18n.FORMAT_LOCALES[language]

    def t(self, message: str) -> str:
        return i18n.gettext(self.language, message)

    def month(self, day: date) -> str:
        return format_date(day, "LLLL y", locale=self.locale)

    def short_month(self, day: date) -> str:
        return format_date(day, "LLL", locale=self.locale)

    def number(self, n: int) -> str:
        return format_decimal(n, locale=self.locale)

    def amount(self, units: int) -> str:
        return i18n.format_amount(units, self.language)

    def whole_heit(self, units: int) -> str:
        return format_decimal(units // 100, locale=self.locale)

    def percent(self, permille: int) -> str:
        share = format_decimal(Decimal(permille).scaleb(-1), format="#,##0.0", locale=self.locale)
        return f"{share}\u00a0%"


def percent(permille: int, language: str) -> str:
    """Per mille as a percentage with one decimal in `language`: 257 -> "25,7 %" (nl)."""
    return _Words(language).percent(permille)


def _iso_month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def plots(board: Dashboard, language: str) -> list[Plot]:
    """The plots of `board` in `language`, in `PLOTS` order."""
    w = _Words(language)
    return [
        _active(board, w),
        _tasks(board, w),
        _neighbourhoods(board, w),
        _heit(board, w),
        _share(board, w),
        _budget(board, w),
    ]


def _span(board: Dashboard, w: _Words) -> str:
    return f"{w.month(board.months[0].month)} \u2013 {w.month(board.months[-1].month)}"


def _no_chain(w: _Words) -> str:
    return w.t(
        N_(
            "The figures from the chain are not there yet: the mirror of the chain has not "
            "been made. Try again later."
        )
    )


def _active(board: Dashboard, w: _Words) -> Plot:
    months = board.months
    labels = [w.short_month(m.month) for m in months]
    citizens = [m.active_citizens for m in months]
    shops = [m.active_shops for m in months]
    title = w.t(N_("Active citizens and shops per month"))
    about = w.t(
        N_(
            "Active citizens did a task or paid at a shop that month; active shops received "
            "a payment."
        )
    )
    desc = f"{about} {_span(board, w)}. " + w.t(N_("The table under the chart has the figures."))
    chart = svg.line_chart(
        title,
        desc,
        labels,
        [(w.t(N_("Citizens")), citizens), (w.t(N_("Shops")), shops)],
        label=w.number,
    )
    return Plot(
        "active",
        title,
        about,
        chart,
        None,
        [w.t(N_("Month")), w.t(N_("Active citizens")), w.t(N_("Active shops"))],
        [False, True, True],
        [[w.month(m.month), w.number(m.active_citizens), w.number(m.active_shops)] for m in months],
        [[_iso_month(m.month), m.active_citizens, m.active_shops] for m in months],
    )


def _tasks(board: Dashboard, w: _Words) -> Plot:
    months = board.months
    title = w.t(N_("Tasks done per month"))
    about = w.t(N_("Tasks a coordinator approved that month."))
    desc = f"{about} {_span(board, w)}. " + w.t(N_("The table under the chart has the figures."))
    chart = svg.bar_chart(
        title,
        desc,
        [w.short_month(m.month) for m in months],
        [m.tasks_done for m in months],
        label=w.number,
    )
    return Plot(
        "tasks",
        title,
        about,
        chart,
        None,
        [w.t(N_("Month")), w.t(N_("Tasks done"))],
        [False, True],
        [[w.month(m.month), w.number(m.tasks_done)] for m in months],
        [[_iso_month(m.month), m.tasks_done] for m in months],
    )


def _neighbourhoods(board: Dashboard, w: _Words) -> Plot:
    title = w.t(N_("Tasks done per neighbourhood"))
    about = w.t(
        N_("Where the jobs were, over the whole period; the table has them per month as well.")
    )
    unknown = w.t(N_("No neighbourhood given"))
    places = board.neighbourhoods
    columns = [w.t(N_("Neighbourhood")), w.t(N_("Month")), w.t(N_("Tasks done"))]
    rows: list[list[str]] = []
    csv_rows: list[list[Cell]] = []
    for place in places:
        for m, n in zip(board.months, place.per_month, strict=True):
            if n:
                rows.append([place.name or unknown, w.month(m.month), w.number(n)])
                csv_rows.append([place.name or unknown, _iso_month(m.month), n])
    if not places:
        return Plot(
            "neighbourhoods",
            title,
            about,
            None,
            w.t(N_("No tasks were done in this period.")),
            columns,
            [False, False, True],
        )
    shown = places[:12]
    desc = f"{about} {_span(board, w)}."
    if len(places) > len(shown):
        desc += " " + w.t(N_("The chart shows the 12 with the most tasks."))
    chart = svg.hbar_chart(
        title,
        desc,
        [p.name or unknown for p in shown],
        [p.total for p in shown],
        label=w.number,
    )
    return Plot(
        "neighbourhoods", title, about, chart, None, columns, [False, False, True], rows, csv_rows
    )


def _heit(board: Dashboard, w: _Words) -> Plot:
    months = board.months
    title = w.t(N_("Coins made, spent at shops and exchanged per month"))
    about = w.t(
        N_(
            "Coins made as rewards, paid by citizens at shops, and exchanged by shops for "
            "euros, as the chain recorded them (1 coin = 1 euro)."
        )
    )
    columns = [
        w.t(N_("Month")),
        w.t(N_("Made (coins)")),
        w.t(N_("Spent at shops (coins)")),
        w.t(N_("Exchanged for euros (coins)")),
    ]
    if board.mirror_block is None:
        return Plot("heit", title, about, None, _no_chain(w), columns, [False, True, True, True])
    desc = f"{about} {_span(board, w)}. " + w.t(N_("The table under the chart has the figures."))
    chart = svg.line_chart(
        title,
        desc,
        [w.short_month(m.month) for m in months],
        [
            (w.t(N_("Made")), [m.minted for m in months]),
            (w.t(N_("Spent at shops")), [m.spent for m in months]),
            (w.t(N_("Exchanged for euros")), [m.redeemed for m in months]),
        ],
        label=w.whole_heit,
        step=100,
    )
    return Plot(
        "heit",
        title,
        about,
        chart,
        None,
        columns,
        [False, True, True, True],
        [
            [
                w.month(m.month),
                w.amount(m.minted or 0),
                w.amount(m.spent or 0),
                w.amount(m.redeemed or 0),
            ]
            for m in months
        ],
        [
            [
                _iso_month(m.month),
                format_heit(m.minted or 0),
                format_heit(m.spent or 0),
                format_heit(m.redeemed or 0),
            ]
            for m in months
        ],
    )


def _share(board: Dashboard, w: _Words) -> Plot:
    months = board.months
    title = w.t(N_("Share of rewards spent locally"))
    about = w.t(
        N_(
            "Coins spent at shops as a part of the coins made that month. It can be more "
            "than 100 % when people spend coins of earlier months."
        )
    )
    columns = [
        w.t(N_("Month")),
        w.t(N_("Made (coins)")),
        w.t(N_("Spent at shops (coins)")),
        w.t(N_("Spent locally (%)")),
    ]
    numeric = [False, True, True, True]
    if board.mirror_block is None:
        return Plot("share", title, about, None, _no_chain(w), columns, numeric)
    desc = f"{about} {_span(board, w)}. " + w.t(N_("The table under the chart has the figures."))
    chart = svg.bar_chart(
        title,
        desc,
        [w.short_month(m.month) for m in months],
        [m.share_permille or 0 for m in months],
        label=lambda p: w.percent(p),
        step=100,
    )
    rows: list[list[str]] = []
    csv_rows: list[list[Cell]] = []
    for m in months:
        share = "\u2013" if m.share_permille is None else w.percent(m.share_permille)
        rows.append([w.month(m.month), w.amount(m.minted or 0), w.amount(m.spent or 0), share])
        csv_rows.append(
            [
                _iso_month(m.month),
                format_heit(m.minted or 0),
                format_heit(m.spent or 0),
                "" if m.share_permille is None else m.share_permille,
            ]
        )
    columns[-1] = w.t(N_("Spent locally (%)"))
    return Plot("share", title, about, chart, None, columns, numeric, rows, csv_rows)


def _budget(board: Dashboard, w: _Words) -> Plot:
    title = w.t(N_("Budget used in the reward period"))
    about = w.t(
        N_(
            "How much of the budget of the reward period in force is made into coins, read "
            "from the chain."
        )
    )
    columns = [
        w.t(N_("Reward period")),
        w.t(N_("Start")),
        w.t(N_("Budget (coins)")),
        w.t(N_("Used (coins)")),
        w.t(N_("Left (coins)")),
        w.t(N_("Used (%)")),
    ]
    numeric = [True, False, True, True, True, True]
    budget = board.budget
    if budget is None:
        empty = (
            w.t(N_("No reward period is open."))
            if board.budget_problem == "no_reward_period"
            else w.t(N_("The chain does not answer now, so the budget cannot be shown."))
        )
        return Plot("budget", title, about, None, empty, columns, numeric)
    start = datetime.fromtimestamp(budget.start, UTC).astimezone(i18n.TIMEZONE).date()
    left = budget.budget - budget.minted
    chart = svg.hbar_chart(
        title,
        f"{about} "
        + w.t(N_("Used: %(used)s of %(budget)s coins."))
        % {"used": w.amount(budget.minted), "budget": w.amount(budget.budget)},
        [w.t(N_("Budget")), w.t(N_("Used"))],
        [budget.budget, budget.minted],
        label=w.whole_heit,
        step=100,
    )
    return Plot(
        "budget",
        title,
        about,
        chart,
        None,
        columns,
        numeric,
        [
            [
                str(budget.period_id),
                i18n.format_day(start, w.language),
                w.amount(budget.budget),
                w.amount(budget.minted),
                w.amount(left),
                w.percent(budget.used_permille),
            ]
        ],
        [
            [
                budget.period_id,
                start.isoformat(),
                format_heit(budget.budget),
                format_heit(budget.minted),
                format_heit(left),
                budget.used_permille,
            ]
        ],
    )


def csv_text(plot: Plot, w_language: str) -> str:
    """The CSV of `plot`: the table's column names (in `w_language`; shares in per mille),
    then its rows; text cells guarded against spreadsheet formulas (`spreadsheet_safe`)."""
    w = _Words(w_language)
    header = list(plot.columns)
    if plot.slug in ("share", "budget"):
        header[-1] = w.t(N_("Per mille"))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_safe(h) for h in header])
    for row in plot.csv_rows:
        writer.writerow([spreadsheet_safe(c) if isinstance(c, str) else c for c in row])
    return out.getvalue()

"""Open data per neighbourhood (public): `/open-data` (the page, with the table and what the
figures mean) and `/open-data/neighbourhoods.csv` (the same rows as CSV), for a calendar year.

Per month and per neighbourhood where citizens live: citizens active, tasks done, HEIT
earned (`domain.dashboard.open_data`). A count of fewer than 5 people is hidden: "<5" on the
page, an empty cell in the CSV. There are no totals (a total minus the cells shown would give
a hidden cell back); see `domain.dashboard.open_data`.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated

from babel.dates import format_date
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from domain import dashboard
from domain.context import Context
from domain.security import SESSION_COOKIE, csrf_token
from heitje.money import format_heit
from web import i18n
from web._shop_export import spreadsheet_safe
from web.forms import PageCtx, user_of
from web.i18n import N_
from web.office_dashboard_years import parse_year, year_options
from web.templating import language_of, render

router = APIRouter(include_in_schema=False)

HIDDEN = "<5"
"""What the page shows for a hidden cell (the CSV leaves it empty)."""


def _rows(ctx: Context, year: int) -> list[dashboard.OpenDataRow]:
    first, last = dashboard.year_range(year)
    return dashboard.open_data(ctx, first, last)


@router.get("/open-data")
def open_data_page(
    request: Request,
    ctx: PageCtx,
    year: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The open data of calendar `year` (default this year) as a table, with the CSV link.
    A year that is not one: this year, 422, the message by the year field."""
    shown, error = parse_year(ctx, year)
    language = language_of(request)
    locale = i18n.FORMAT_LOCALES[language]
    other = i18n.gettext(language, N_("Other neighbourhoods or unknown"))
    rows = [
        {
            "month": format_date(r.month, "LLLL y", locale=locale),
            "neighbourhood": r.neighbourhood or other,
            "citizens": HIDDEN if r.citizens_active is None else str(r.citizens_active),
            "tasks": HIDDEN if r.tasks_done is None else str(r.tasks_done),
            "earned": HIDDEN
            if r.heit_earned is None
            else i18n.format_amount(r.heit_earned, language),
        }
        for r in _rows(ctx, shown)
    ]
    user = user_of(request, ctx)
    token = request.cookies.get(SESSION_COOKIE)
    return render(
        request,
        "open_data.html",
        status=422 if error else 200,
        title=N_("Open data per neighbourhood"),
        user=user,
        csrf_token=csrf_token(token) if user is not None and token else None,
        rows=rows,
        year=str(shown),
        year_error=error,
        years=year_options(ctx, shown),
        k=dashboard.K_ANONYMITY,
    )


def open_data_csv_text(ctx: Context, year: int) -> str:
    """The CSV of `year`: a header row (English column names, fixed for machines), then
    one row per month and neighbourhood: `month` (YYYY-MM), `neighbourhood` ("" for other
    neighbourhoods and unknown), `citizens_active`, `tasks_done`, `heit_earned` (HEIT with a
    decimal point); hidden cells are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["month", "neighbourhood", "citizens_active", "tasks_done", "heit_earned"])
    for r in _rows(ctx, year):
        writer.writerow(
            [
                f"{r.month.year:04d}-{r.month.month:02d}",
                spreadsheet_safe(r.neighbourhood),
                "" if r.citizens_active is None else r.citizens_active,
                "" if r.tasks_done is None else r.tasks_done,
                "" if r.heit_earned is None else format_heit(r.heit_earned),
            ]
        )
    return out.getvalue()


@router.get("/open-data/neighbourhoods.csv")
def open_data_csv(
    request: Request,
    ctx: PageCtx,
    year: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The open data of calendar `year` as CSV (`open_data_csv_text`), UTF-8; a bad year:
    the page, 422."""
    shown, error = parse_year(ctx, year)
    if error:
        return open_data_page(request, ctx, year)
    return Response(
        open_data_csv_text(ctx, shown),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="heitje-neighbourhoods-{shown}.csv"'
        },
    )

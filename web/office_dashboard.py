"""The municipality's dashboard (`/office/dashboard`, every staff role): per month of a chosen
year, active citizens and shops, tasks done (also per neighbourhood), coins made, spent at
shops and exchanged, the share spent locally and the budget used; each plot a chart rendered
on the server (SVG, `web.svg`), its figures as a table and as a CSV download
(`/office/dashboard/<plot>.csv`). The open data per neighbourhood (`/open-data`, public) is in
`web.office_dashboard_open`, included here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from domain import dashboard
from web import office_dashboard_open
from web.forms import PageCtx
from web.i18n import N_
from web.office_common import Staff, office_session
from web.office_dashboard_plots import PLOTS, csv_text, percent, plots
from web.office_dashboard_years import parse_year, year_options
from web.templating import language_of, render

router = APIRouter(include_in_schema=False)
router.include_router(office_dashboard_open.router)


@router.get("/office/dashboard")
def dashboard_page(
    request: Request,
    ctx: PageCtx,
    year: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The dashboard of calendar `year` (Dutch time; default this year). A year that is not
    one: this year's dashboard, 422, the message by the year field."""
    staff = office_session(request, ctx)
    if not isinstance(staff, Staff):
        return staff
    shown, error = parse_year(ctx, year)
    first, last = dashboard.year_range(shown)
    board = dashboard.dashboard(ctx, first, last)
    language = language_of(request)
    return render(
        request,
        "office/dashboard.html",
        status=422 if error else 200,
        title=N_("Dashboard"),
        user=staff.caller,
        csrf_token=staff.csrf,
        year=str(shown),
        typed_year=(year or "")[:20] if error else str(shown),
        year_error=error,
        years=year_options(ctx, shown),
        board=board,
        plots=plots(board, language),
        share=board.share_permille,
        minted=board.minted,
        spent=board.spent,
        format_permille=lambda permille: percent(permille, language),
    )


@router.get("/office/dashboard/{plot}.csv")
def dashboard_csv(
    request: Request,
    ctx: PageCtx,
    plot: str,
    year: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The figures of one plot (`PLOTS`) of calendar `year` as CSV (an attachment, UTF-8
    with a byte order mark); an unknown plot: 404 page; a bad year: the dashboard, 422."""
    staff = office_session(request, ctx)
    if not isinstance(staff, Staff):
        return staff
    if plot not in PLOTS:
        return render(
            request,
            "office/dashboard_missing.html",
            status=404,
            title=N_("Not found"),
            user=staff.caller,
            csrf_token=staff.csrf,
        )
    shown, error = parse_year(ctx, year)
    if error:
        return dashboard_page(request, ctx, year)
    first, last = dashboard.year_range(shown)
    language = language_of(request)
    board = dashboard.dashboard(ctx, first, last)
    chosen = next(p for p in plots(board, language) if p.slug == plot)
    return Response(
        "\ufeff" + csv_text(chosen, language),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="heitje-{plot}-{shown}.csv"'},
    )

"""The bookkeeper's CSV export of a shop's payments or redemptions (`/shop/export.csv`)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from domain import shops
from domain.context import Caller, Context
from heitje.errors import Refused
from heitje.money import format_heit
from heitje.spreadsheet import FORMULA_START as FORMULA_START
from heitje.spreadsheet import spreadsheet_safe as spreadsheet_safe
from web import i18n
from web._shop_common import not_a_shop, shop_session
from web._shop_home import home_page
from web.forms import PageCtx
from web.i18n import N_
from web.templating import language_of

router = APIRouter(include_in_schema=False)

_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


FIRST_YEAR, LAST_YEAR = 2000, 2999
"""Years an export may name (outside them the day bounds in UTC would overflow)."""


def _day(text: str | None) -> date | None:
    if text is None or _DAY.match(text.strip()) is None:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None  # year 1 or 9999: no overflow


def _local(moment: datetime) -> tuple[str, str]:
    local = moment.astimezone(shops.TIMEZONE)
    return local.date().isoformat(), local.strftime("%H:%M:%S")


def export_csv(ctx: Context, shop: Caller, what: str, start: date, end: date, language: str) -> str:
    """The CSV text of the shop's payments or redemptions on days `start`..`end` (Dutch
    time): a header row (column names in `language`, saying amounts are euros with a decimal
    point and times are Dutch time), then one row per item, oldest first."""

    def t(message: str) -> str:
        return i18n.gettext(language, message)

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if what == "payments":
        writer.writerow(
            [
                t(N_("Date")),
                t(N_("Time (Europe/Amsterdam)")),
                t(N_("Payment number")),
                t(N_("Paid by")),
                t(N_("Amount in euros (decimal point)")),
                t(N_("Paid back in euros (decimal point)")),
                t(N_("Status")),
            ]
        )
        for p in shops.payments_between(ctx, shop, start, end):
            writer.writerow(
                [
                    *_local(p.at),
                    p.id,
                    spreadsheet_safe(p.payer_name),
                    format_heit(p.amount),
                    format_heit(p.refunded),
                    p.status,
                ]
            )
    else:
        writer.writerow(
            [
                t(N_("Date")),
                t(N_("Time (Europe/Amsterdam)")),
                t(N_("Exchange number")),
                t(N_("Amount in euros (decimal point)")),
                t(N_("Status")),
                t(N_("Payment file")),
                t(N_("Day of the bank transfer")),
            ]
        )
        for r in shops.redemptions_between(ctx, shop, start, end):
            writer.writerow(
                [
                    *_local(r.at),
                    r.id,
                    format_heit(r.amount),
                    r.state,
                    r.file_name or "",
                    r.execution_date.isoformat() if r.execution_date else "",
                ]
            )
    return out.getvalue()


@router.get("/shop/export.csv")
def export(
    request: Request,
    ctx: PageCtx,
    what: str = "payments",
    from_: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    to: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The bookkeeper's CSV (`export_csv`) of `what` (payments, redemptions) on days `from`
    through `to` (YYYY-MM-DD, Dutch time), as an attachment. Bad dates: the shop's home with
    the error next to the date field."""
    signed_in = shop_session(request, ctx)
    if signed_in is None:
        return not_a_shop()
    shop, token = signed_in
    start, end = _day(from_), _day(to)
    errors: dict[str, str] = {}
    if start is None:
        errors["from"] = "invalid_date"
    if end is None:
        errors["to"] = "invalid_date"
    if start is not None and end is not None:
        try:
            shops.check_range(start, end)
        except Refused as e:
            errors["to"] = e.code
    if what not in shops.EXPORT_KINDS:
        what = "payments"
    typed = {"from": (from_ or "")[:20], "to": (to or "")[:20], "what": what}
    if errors or start is None or end is None:
        return home_page(request, ctx, shop, token, status=422, field_errors=errors, typed=typed)
    text = export_csv(ctx, shop, what, start, end, language_of(request))
    name = f"heitje-{shop.username}-{what}-{start.isoformat()}-{end.isoformat()}.csv"
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}"'},
    )

"""The auditor's workbench (issue 11, item 5), read-only, for auditors and finance:

- `/office/audit`: a period's totals side by side (chain, mirror, service ledger, payment
  files, bank), each row saying whether they agree or by how much they differ;
- `/office/audit/mints`, `/office/audit/redemptions`, `/office/audit/settlements`: the lists,
  filtered (period, neighbourhood, shop), `PAGE_SIZE` a page;
- `/office/audit/evidence.zip`: the evidence pack of the period (`web.office_audit_evidence`).

Every page is a GET; nothing here changes anything. The figures come from
`domain.workbench`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from domain import workbench
from domain.workbench import Period, Sources
from heitje.errors import Refused
from web import office_audit_evidence
from web.forms import PageCtx
from web.i18n import N_
from web.office_common import Staff, office_session
from web.templating import render

router = APIRouter(include_in_schema=False)
router.include_router(office_audit_evidence.router)

ROLES = ("auditor", "finance")
"""Who sees the workbench."""
PAGE_SIZE = workbench.PAGE_SIZE

ROW_TEXT = {
    "minted": N_("Minted as rewards"),
    "paid_to_shops": N_("Paid at shops"),
    "refunded": N_("Paid back by shops"),
    "redeemed": N_("Exchanged for euros by shops"),
    "supply": N_("In circulation at the end"),
    "settled": N_("Paid out in euros (settlements)"),
}
"""Totals row -> message id of its name."""

UNAVAILABLE = N_(
    "The figures cannot be read now: the blockchain or its copy in our database is not"
    " available. Try again in a few minutes."
)
"""The page's message when the mirror (or the chain) cannot be read (503)."""

ERRORS = {
    "invalid_day": N_("Fill in a day like 2026-03-31."),
    "invalid_period": N_("The last day cannot be before the first day."),
    "too_long": N_("A period can be at most ten years."),
    "shop_not_found": N_("There is no shop with this username."),
}


@dataclass(frozen=True)
class Filter:
    """The period filter as typed (`first`, `last`), its errors by field and the period."""

    first: str
    last: str
    errors: dict[str, str]
    period: Period | None

    def query(self, **extra: Any) -> str:
        """The query string of this period plus `extra` (empty values left out)."""
        values = {"from": self.first, "until": self.last, **extra}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


def read_filter(first: str, last: str) -> Filter:
    """Parse the period filter: days as YYYY-MM-DD (empty: the defaults of
    `workbench.period`); errors next to the field they belong to."""
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name, text in (("from", first.strip()), ("until", last.strip())):
        try:
            days[name] = date.fromisoformat(text) if text else None
        except ValueError:
            errors[name] = ERRORS["invalid_day"]
    p = None
    if not errors:
        p = (
            workbench.period(days["from"], days["until"], datetime.now(UTC))
            if _fits(days, errors)
            else None
        )
    if p is not None:
        first, last = p.first.isoformat(), p.last.isoformat()
    return Filter(first.strip(), last.strip(), errors, p)


def _fits(days: dict[str, date | None], errors: dict[str, str]) -> bool:
    """True when the typed days make a period; else the error goes next to the last day."""
    first, last = days["from"], days["until"]
    if first is not None and last is not None:
        if last < first:
            errors["until"] = ERRORS["invalid_period"]
        elif (last - first).days > workbench.MAX_DAYS:
            errors["until"] = ERRORS["too_long"]
    elif first is not None and last is None:
        today = datetime.now(UTC).astimezone(workbench.AMSTERDAM).date()
        if today < first:
            errors["until"] = ERRORS["invalid_period"]
    return not errors


def _page(
    request: Request,
    staff: Staff,
    name: str,
    title: str,
    f: Filter,
    status: int = 200,
    **values: Any,
) -> Response:
    return render(
        request,
        f"office/{name}.html",
        status=status,
        title=title,
        user=staff.caller,
        csrf_token=staff.csrf,
        filter=f,
        row_text=ROW_TEXT,
        **values,
    )


@router.get("/office/audit")
def audit_home(
    request: Request,
    ctx: PageCtx,
    first: Annotated[str, Query(alias="from", max_length=32)] = "",
    last: Annotated[str, Query(alias="until", max_length=32)] = "",
) -> Response:
    """The period's totals side by side, with links to the lists and the evidence pack."""
    staff = office_session(request, ctx, ROLES)
    if not isinstance(staff, Staff):
        return staff
    f = read_filter(first, last)
    if f.period is None:
        return _page(request, staff, "audit_totals", N_("Audit"), f, 400, totals=None)
    try:
        totals = workbench.totals(Sources.from_context(ctx), f.period)
    except Refused:  # mirror_unavailable, mirror_empty
        return _page(
            request, staff, "audit_totals", N_("Audit"), f, 503, totals=None, error=UNAVAILABLE
        )
    return _page(request, staff, "audit_totals", N_("Audit"), f, totals=totals)


@router.get("/office/audit/mints")
def audit_mints(
    request: Request,
    ctx: PageCtx,
    first: Annotated[str, Query(alias="from", max_length=32)] = "",
    last: Annotated[str, Query(alias="until", max_length=32)] = "",
    neighbourhood: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every mint of the period with its task (title, approvers, dates, photos)."""
    staff = office_session(request, ctx, ROLES)
    if not isinstance(staff, Staff):
        return staff
    f = read_filter(first, last)
    values: dict[str, Any] = {"neighbourhood": neighbourhood, "neighbourhoods": []}
    try:
        src = Sources.from_context(ctx)
        values["neighbourhoods"] = workbench.neighbourhoods(src)
        if f.period is None:
            return _page(request, staff, "audit_mints", N_("Mints"), f, 400, result=None, **values)
        result = workbench.mints(src, f.period, neighbourhood=neighbourhood or None, page=page)
    except Refused:
        return _page(
            request, staff, "audit_mints", N_("Mints"), f, 503, result=None, error=UNAVAILABLE,
            **values,
        )  # fmt: skip
    return _page(request, staff, "audit_mints", N_("Mints"), f, result=result, **values)


@router.get("/office/audit/redemptions")
def audit_redemptions(
    request: Request,
    ctx: PageCtx,
    first: Annotated[str, Query(alias="from", max_length=32)] = "",
    last: Annotated[str, Query(alias="until", max_length=32)] = "",
    shop: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every redemption of the period with its settlement file line and bank booking."""
    staff = office_session(request, ctx, ROLES)
    if not isinstance(staff, Staff):
        return staff
    f = read_filter(first, last)
    values: dict[str, Any] = {"shop": shop, "shops": []}
    title = N_("Exchanges for euros")
    try:
        src = Sources.from_context(ctx)
        values["shops"] = workbench.shops(src)
        if f.period is None:
            return _page(request, staff, "audit_redemptions", title, f, 400, result=None, **values)
        result = workbench.redemptions(src, f.period, shop=shop.strip() or None, page=page)
    except Refused as e:
        if e.code != "shop_not_found":
            return _page(
                request, staff, "audit_redemptions", title, f, 503, result=None,
                error=UNAVAILABLE, **values,
            )  # fmt: skip
        f = Filter(f.first, f.last, {**f.errors, "shop": ERRORS["shop_not_found"]}, f.period)
        return _page(request, staff, "audit_redemptions", title, f, 404, result=None, **values)
    return _page(request, staff, "audit_redemptions", title, f, result=result, **values)


@router.get("/office/audit/settlements")
def audit_settlements(
    request: Request,
    ctx: PageCtx,
    first: Annotated[str, Query(alias="from", max_length=32)] = "",
    last: Annotated[str, Query(alias="until", max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every settlement batch of the period: ledger, payment file and on-chain record."""
    staff = office_session(request, ctx, ROLES)
    if not isinstance(staff, Staff):
        return staff
    f = read_filter(first, last)
    title = N_("Settlements")
    if f.period is None:
        return _page(request, staff, "audit_settlements", title, f, 400, result=None)
    try:
        result = workbench.settlements(Sources.from_context(ctx), f.period, page=page)
    except Refused:
        return _page(
            request, staff, "audit_settlements", title, f, 503, result=None, error=UNAVAILABLE
        )
    return _page(request, staff, "audit_settlements", title, f, result=result)

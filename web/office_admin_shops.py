"""The admin's shop applications page (`/office/shops`): pending applications first, then
the decided ones, each with its KvK number, IBAN and address; approve one (its wallet is
registered on chain as a shop through the outbox) or decline it with a reason the shop reads
on its own page. `shop.approve` and `shop.reject` go in the staff log
(`domain.accounts.review_shop`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from domain import accounts
from domain.context import Context
from heitje.errors import HeitjeError
from web.forms import PageCtx
from web.i18n import N_
from web.office_admin_common import ADMIN, error_text, reason_problem
from web.office_common import Staff, check_csrf, office_session
from web.templating import render

router = APIRouter(include_in_schema=False)

NOTICES = {
    "approved": N_("The shop is approved. It is being registered on the chain."),
    "declined": N_("The shop is declined. It sees your reason on its page."),
}
"""Notice code (`/office/shops?notice=`) -> message id."""

STATUS_TEXT = {
    "pending": N_("Waiting for a decision"),
    "approved": N_("Approved"),
    "rejected": N_("Declined"),
}
"""A shop application's status -> message id."""


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _shown(shop: dict[str, Any]) -> dict[str, Any]:
    """An application as the page shows it: the IBAN in groups of four, times as datetimes."""
    iban = str(shop["iban"])
    return {
        **shop,
        "iban_shown": " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)),
        "applied": _moment(shop["created_at"]),
        "decided": _moment(shop["reviewed_at"]),
    }


def _shops_page(
    request: Request,
    ctx: Context,
    staff: Staff,
    *,
    about: str = "",
    error: str | None = None,
    typed_reason: str = "",
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The page; `error` a code shown at the top and next to the decline reason of shop
    `about`, whose typed reason is kept."""
    shops: list[dict[str, Any]] = [_shown(s) for s in accounts.shop_reviews(ctx)]
    pending = [s for s in shops if s["status"] == "pending"]
    decided = [s for s in shops if s["status"] != "pending"]
    return render(
        request,
        "office/admin_shops.html",
        status,
        title=N_("Shops"),
        user=staff.caller,
        csrf_token=staff.csrf,
        pending=pending,
        decided=decided,
        status_text=STATUS_TEXT,
        about=about,
        error_text=error_text(request, error) if error else None,
        typed_reason=typed_reason,
        notice=NOTICES.get(notice or ""),
    )


@router.get("/office/shops")
def shop_list(
    request: Request,
    ctx: PageCtx,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Shop applications (admins only): pending first (oldest first), then the decided ones
    (newest decision first)."""
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    return _shops_page(request, ctx, staff, notice=notice)


def _decide(
    request: Request,
    ctx: Context,
    username: str,
    reason: str,
    csrf: str,
    *,
    approve: bool,
) -> Response:
    check_csrf(request, csrf)  # first: no session, no page
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    problem = reason_problem(reason, required=not approve)
    if problem:
        return _shops_page(
            request, ctx, staff, about=username, error=problem, typed_reason=reason, status=422
        )
    try:
        accounts.review_shop(
            ctx, staff.caller, username, approve=approve, reason=" ".join(reason.split())
        )
    except HeitjeError as e:
        return _shops_page(
            request,
            ctx,
            staff,
            about=username,
            error=e.code,
            typed_reason=reason,
            status=e.http_status,
        )
    notice = "approved" if approve else "declined"
    return RedirectResponse(f"/office/shops?notice={notice}", status_code=303)


@router.post("/office/shops/{username}/approve")
def shop_approve(
    request: Request,
    ctx: PageCtx,
    username: str,
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Approve a pending shop (admins only): its wallet is registered on chain as a shop
    (outbox), it is listed and citizens can pay it. `shop.approve` in the staff log."""
    return _decide(request, ctx, username, "", csrf, approve=True)


@router.post("/office/shops/{username}/decline")
def shop_decline(
    request: Request,
    ctx: PageCtx,
    username: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Decline a pending shop (admins only) with a reason (needed), which the shop reads on
    its page. `shop.reject` in the staff log, with the reason."""
    return _decide(request, ctx, username, reason, csrf, approve=False)

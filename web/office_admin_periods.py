"""The admin's reward periods page (`/office/periods`): the period in force with its budget,
what was minted and what is left and the cap per citizen, all read from the chain; periods
still to start; the form to open the next one (signed with the admin key, the same code as
`heitje period open`: `domain.periods`); and pausing and unpausing the coin (the pauser key),
with a banner while it is paused. `period.open`, `chain.pause` and `chain.unpause` go in the
staff log once their transaction is mined."""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from domain import periods
from domain.context import Context
from heitje.errors import ChainError, HeitjeError, InvalidAmount
from heitje.money import parse_typed_heit
from web.forms import PageCtx
from web.i18n import N_
from web.office_admin_common import ADMIN, error_text, error_texts, reason_problem
from web.office_common import Staff, check_csrf, office_session
from web.templating import render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

NOTICES = {
    "opened": N_("The reward period is opened on the chain."),
    "unpaused": N_("The coin works again."),
}
"""Notice code (`/office/periods?notice=`) -> message id (a pause shows its own banner)."""

FIELD_OF = {
    "invalid_period": "start",
    "start_in_past": "start",
}
"""A refusal code of opening a period -> the field it is shown next to."""


def _periods_page(
    request: Request,
    ctx: Context,
    staff: Staff,
    *,
    typed: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    error: str | None = None,
    error_detail: str = "",
    pause_error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The page. `field_errors`: the open form's field -> error code; `pause_error` the
    pause form's reason error code; `error` a code shown at the top (`chain_refused` with the
    chain's own `error_detail`)."""
    state: periods.ChainState | None = None
    try:
        state = periods.chain_state(ctx)
    except (HeitjeError, OSError):
        log.exception("reading the reward periods from the chain failed")
        error = error or "chain_unavailable"
    return render(
        request,
        "office/admin_periods.html",
        status,
        title=N_("Reward periods"),
        user=staff.caller,
        csrf_token=staff.csrf,
        state=state,
        typed=typed or {},
        field_errors=error_texts(request, field_errors or {}),
        pause_error=error_text(request, pause_error) if pause_error else None,
        error_text=error_text(request, error, error_detail) if error else None,
        notice=NOTICES.get(notice or ""),
    )


@router.get("/office/periods")
def period_list(
    request: Request,
    ctx: PageCtx,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Reward periods and the pause (admins only), read from the chain."""
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    return _periods_page(request, ctx, staff, notice=notice)


def _amount(text: str) -> tuple[int | None, str | None]:
    if not text.strip():
        return None, "required"
    try:
        return int(parse_typed_heit(text)), None
    except InvalidAmount:
        return None, "invalid_amount"


def _chain_refusal(e: ChainError) -> tuple[str, str]:
    """(error code, the chain's detail) of a refusal without a text of its own."""
    if e.code == "missing_role":
        return "missing_role", ""
    return "chain_refused", str(e)


@router.post("/office/periods")
def period_open(
    request: Request,
    ctx: PageCtx,
    start: Annotated[str, Form(max_length=64)] = "",
    budget: Annotated[str, Form(max_length=64)] = "",
    cap: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Open the next reward period (admins only) from day `start` (Dutch time; today means
    now) with `budget` and `cap` per citizen in HEIT, signed with the admin key. Refused by
    the form or the chain: the form again, each error next to its field, nothing sent."""
    check_csrf(request, csrf)  # first: no session, no page
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    typed = {"start": start, "budget": budget, "cap": cap, "reason": reason}
    problems: dict[str, str] = {}
    day: date | None = None
    try:
        day = date.fromisoformat(start.strip())
    except ValueError:
        problems["start"] = "required" if not start.strip() else "invalid_date"
    budget_units, problem = _amount(budget)
    if problem:
        problems["budget"] = problem
    cap_units, problem = _amount(cap)
    if problem:
        problems["cap"] = problem
    problem = reason_problem(reason, required=False)
    if problem:
        problems["reason"] = problem
    if problems or day is None or budget_units is None or cap_units is None:
        return _periods_page(request, ctx, staff, typed=typed, field_errors=problems, status=422)
    try:
        periods.open_period(
            ctx,
            staff.caller,
            start_day=day,
            budget=budget_units,
            cap_per_citizen=cap_units,
            reason=" ".join(reason.split()),
        )
    except ChainError as e:
        field = FIELD_OF.get(e.code)
        if field is not None:
            return _periods_page(
                request, ctx, staff, typed=typed, field_errors={field: e.code}, status=422
            )
        code, detail = _chain_refusal(e)
        return _periods_page(
            request, ctx, staff, typed=typed, error=code, error_detail=detail, status=422
        )
    except HeitjeError as e:
        field = FIELD_OF.get(e.code)
        if field is not None:
            return _periods_page(
                request, ctx, staff, typed=typed, field_errors={field: e.code}, status=422
            )
        status = int(getattr(e, "http_status", 422))
        return _periods_page(request, ctx, staff, typed=typed, error=e.code, status=status)
    return RedirectResponse("/office/periods?notice=opened", status_code=303)


def _pause(request: Request, ctx: Context, reason: str, csrf: str, *, paused: bool) -> Response:
    check_csrf(request, csrf)  # first: no session, no page
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    problem = reason_problem(reason, required=True)
    if problem:
        return _periods_page(
            request, ctx, staff, typed={"pause_reason": reason}, pause_error=problem, status=422
        )
    try:
        periods.set_paused(ctx, staff.caller, paused, reason)
    except ChainError as e:
        code, detail = _chain_refusal(e)
        return _periods_page(
            request,
            ctx,
            staff,
            typed={"pause_reason": reason},
            error=code,
            error_detail=detail,
            status=422,
        )
    except HeitjeError as e:
        status = int(getattr(e, "http_status", 422))
        return _periods_page(
            request, ctx, staff, typed={"pause_reason": reason}, error=e.code, status=status
        )
    return RedirectResponse(
        f"/office/periods?notice={'paused' if paused else 'unpaused'}", status_code=303
    )


@router.post("/office/periods/pause")
def pause(
    request: Request,
    ctx: PageCtx,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Pause the coin (admins only; the pauser key) for `reason` (needed): no payments,
    rewards, exchanges or settlement records until it is unpaused. `chain.pause` in the
    staff log."""
    return _pause(request, ctx, reason, csrf, paused=True)


@router.post("/office/periods/unpause")
def unpause(
    request: Request,
    ctx: PageCtx,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Unpause the coin (admins only; the pauser key) for `reason` (needed). `chain.unpause`
    in the staff log."""
    return _pause(request, ctx, reason, csrf, paused=False)

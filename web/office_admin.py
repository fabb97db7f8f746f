"""The admin's pages (issue 11, item 3): staff accounts here (`/office/staff`: the list,
create, switch off and on, reset a second factor); shop applications
(`web.office_admin_shops`, `/office/shops`) and reward periods and the pause
(`web.office_admin_periods`, `/office/periods`) are included in `router`.

Every action goes in the staff log in its own transaction (`domain.staff_log`). Forms post
their CSRF token; a refused form is shown again with each error next to its field, what was
typed kept (never a password), nothing changed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from domain import accounts, second_factor, sessions
from domain.context import Caller, Context
from domain.schemas import USERNAME_PATTERN, StaffCreate
from heitje.errors import HeitjeError
from web import office_admin_periods, office_admin_shops
from web.forms import PageCtx
from web.i18n import N_
from web.office_admin_common import ADMIN, error_text, error_texts, reason_problem
from web.office_common import Staff, check_csrf, office_session
from web.templating import render

router = APIRouter(include_in_schema=False)
router.include_router(office_admin_shops.router)
router.include_router(office_admin_periods.router)

ROLES = ("coordinator", "finance", "auditor", "admin")
"""The roles an admin gives a staff account, in the order the form offers them."""

ROLE_TEXT = {
    "coordinator": N_("Coordinator"),
    "finance": N_("Finance"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
}
"""A staff role -> message id of its name."""

NOTICES = {
    "created": N_("The account is made. Give the person their username and password."),
    "disabled": N_("The account is switched off. It cannot log in any more."),
    "enabled": N_("The account is switched on again."),
    "second_factor_reset": N_(
        "The second factor is reset. The person sets up a new one at their next log-in."
    ),
}
"""Notice code (`/office/staff?notice=`) -> message id."""

FIELD_LIMITS = {"username": 64, "name": 200, "password": 256}

FIELD_OF = {"username_taken": "username"}
"""A refusal code -> the create form's field it is shown next to."""


def _staff_page(
    request: Request,
    ctx: Context,
    staff: Staff,
    *,
    typed: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
    error: str | None = None,
    about: str = "",
    reset_error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response:
    """The staff accounts page: the list and the create form. `field_errors`: field -> error
    code of the create form; `error` a code shown at the top (`about`: the account it is
    about, whose switch form's reason field shows it too); `reset_error` the same for the
    account's second-factor reset form."""
    shown = dict(typed or {})
    shown.pop("password", None)
    members: list[dict[str, Any]] = [
        {**m, "second_factor": _second_factor(ctx, m)} for m in accounts.staff_accounts(ctx)
    ]
    return render(
        request,
        "office/admin_staff.html",
        status,
        title=N_("Staff"),
        user=staff.caller,
        csrf_token=staff.csrf,
        members=members,
        roles=[(r, ROLE_TEXT[r]) for r in ROLES],
        role_text=ROLE_TEXT,
        typed=shown,
        field_errors=error_texts(request, field_errors or {}),
        error_text=error_text(request, error) if error else None,
        reset_error=error_text(request, reset_error) if reset_error else None,
        about=about,
        notice=NOTICES.get(notice or ""),
    )


def _second_factor(ctx: Context, member: dict[str, Any]) -> str:
    """`enrolled`, `started` (set up, not yet confirmed with a first code) or `none`."""
    who = Caller(member["id"], member["username"], member["role"], member["name"], None)
    return second_factor.state(ctx, who)


@router.get("/office/staff")
def staff_list(
    request: Request,
    ctx: PageCtx,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """Staff accounts (admins only): username, name, role, switched on or off, second factor
    set up or not; the form to make one."""
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    return _staff_page(request, ctx, staff, notice=notice)


def _create_problems(typed: dict[str, str]) -> dict[str, str]:
    """Field -> error code for what the create form itself can tell."""
    problems: dict[str, str] = {}
    for field, limit in FIELD_LIMITS.items():
        value = typed[field] if field == "password" else typed[field].strip()
        if not value:
            problems[field] = "required"
        elif len(value) > limit:
            problems[field] = "too_long"
    if "username" not in problems and re.match(USERNAME_PATTERN, typed["username"].strip()) is None:
        problems["username"] = "invalid_username"
    if "password" not in problems and len(typed["password"]) < 8:
        problems["password"] = "invalid_password"
    if typed["role"] not in ROLES:
        problems["role"] = "invalid_role"
    reason = reason_problem(typed["reason"], required=False)
    if reason:
        problems["reason"] = reason
    return problems


@router.post("/office/staff")
def staff_create(
    request: Request,
    ctx: PageCtx,
    username: Annotated[str, Form(max_length=500)] = "",
    name: Annotated[str, Form(max_length=500)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    password: Annotated[str, Form(max_length=500)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Make a staff account (admins only; `domain.accounts.create_staff`, `staff.create` in
    the staff log). Refused: the form again, each error next to its field, nothing made."""
    check_csrf(request, csrf)  # first: no session, no page
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    typed = {
        "username": username,
        "name": name,
        "role": role,
        "password": password,
        "reason": reason,
    }
    problems = _create_problems(typed)
    if problems:
        return _staff_page(request, ctx, staff, typed=typed, field_errors=problems, status=422)
    body = StaffCreate(
        username=username.strip(),
        name=" ".join(name.split()),
        role=role,  # type: ignore[arg-type]  # checked against ROLES above
        password=password,
    )
    try:
        accounts.create_staff(ctx, body, staff.caller, " ".join(reason.split()))
    except HeitjeError as e:
        field = FIELD_OF.get(e.code)
        if field is not None:
            return _staff_page(
                request, ctx, staff, typed=typed, field_errors={field: e.code}, status=409
            )
        return _staff_page(request, ctx, staff, typed=typed, error=e.code, status=e.http_status)
    return RedirectResponse("/office/staff?notice=created", status_code=303)


def _switch(
    request: Request, ctx: Context, username: str, reason: str, csrf: str, *, disabled: bool
) -> Response:
    check_csrf(request, csrf)  # first: no session, no page
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    problem = reason_problem(reason, required=False)
    if problem:
        return _staff_page(request, ctx, staff, error=problem, about=username, status=422)
    try:
        sessions.set_staff_disabled(
            ctx, username, disabled, caller=staff.caller, reason=" ".join(reason.split())
        )
    except HeitjeError as e:
        return _staff_page(request, ctx, staff, error=e.code, about=username, status=e.http_status)
    notice = "disabled" if disabled else "enabled"
    return RedirectResponse(f"/office/staff?notice={notice}", status_code=303)


@router.post("/office/staff/{username}/disable")
def staff_disable(
    request: Request,
    ctx: PageCtx,
    username: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Switch a staff account off (admins only; not one's own, nor the last administrator
    switched on): it cannot log in and its sessions end. `staff.disable` in the staff log."""
    return _switch(request, ctx, username, reason, csrf, disabled=True)


@router.post("/office/staff/{username}/enable")
def staff_enable(
    request: Request,
    ctx: PageCtx,
    username: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Switch a staff account on again (admins only). `staff.enable` in the staff log."""
    return _switch(request, ctx, username, reason, csrf, disabled=False)


@router.post("/office/staff/{username}/second-factor/reset")
def staff_reset_second_factor(
    request: Request,
    ctx: PageCtx,
    username: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
) -> Response:
    """Reset a staff account's second factor (admins only; not one's own) for `reason`
    (needed): its secret and recovery codes are deleted, its sessions end, and its next log-in
    sets up a new one (`domain.second_factor.reset_second_factor`,
    `staff.second_factor_reset` in the staff log)."""
    check_csrf(request, csrf)  # first: no session, no page
    staff = office_session(request, ctx, ADMIN)
    if not isinstance(staff, Staff):
        return staff
    problem = reason_problem(reason, required=True)
    if problem:
        return _staff_page(request, ctx, staff, reset_error=problem, about=username, status=422)
    try:
        second_factor.reset_second_factor(ctx, staff.caller, username, reason)
    except HeitjeError as e:
        return _staff_page(
            request, ctx, staff, reset_error=e.code, about=username, status=e.http_status
        )
    return RedirectResponse("/office/staff?notice=second_factor_reset", status_code=303)

"""The municipality's staff pages, under /office: a home page per role and the staff log;
coordinators' task pages (`web.office_tasks`), admins' (`web.office_admin`), finance's
(`web.office_finance`), auditors' (`web.office_audit`), the dashboard
(`web.office_dashboard`) and the second factor (`web.office_auth`) are included in `router`.

Staff log in with the same form as everyone (`POST /login`); `/` sends them here. Every page
checks the role (`web.office_common.office_session`).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from domain import staff_log
from web import (
    office_admin,
    office_audit,
    office_auth,
    office_dashboard,
    office_finance,
    office_tasks,
)
from web.forms import PageCtx
from web.i18n import N_
from web.office_common import Staff, office_session
from web.templating import OFFICE_MENU, render

router = APIRouter(include_in_schema=False)
for _part in (office_auth, office_tasks, office_admin, office_finance, office_audit):
    router.include_router(_part.router)
router.include_router(office_dashboard.router)

SECTION_TEXT = {
    "/office/tasks": N_("Publish tasks, change them or take them back."),
    "/office/review": N_(
        "Look at the work citizens sent in, with their photos; approve or reject it."
    ),
    "/office/staff": N_("Create staff accounts, switch them off, reset a second factor."),
    "/office/shops": N_("Approve or decline the shops that want to take coins."),
    "/office/periods": N_("Open a reward period with its budget; pause the coin in an emergency."),
    "/office/log": N_("Everything staff did, with who, when and why."),
    "/office/settlement": N_("Pay shops in euros: run a settlement, download the bank files."),
    "/office/bank": N_("Read the bank's statement in, to see which shops are paid."),
    "/office/audit": N_("Compare the chain, the mirror and the bank, and download evidence."),
    "/office/dashboard": N_("How the programme is doing, month by month."),
}
"""A section's path -> message id of what it is for (the home page's list)."""

ACTION_TEXT = {
    "task.publish": N_("Published a task"),
    "task.edit": N_("Changed a task"),
    "task.withdraw": N_("Took a task back"),
    "task.approve": N_("Approved work"),
    "task.first_approval": N_("First approval of work"),
    "task.reject": N_("Rejected work"),
    "shop.approve": N_("Approved a shop"),
    "shop.reject": N_("Declined a shop"),
    "staff.create": N_("Created a staff account"),
    "staff.disable": N_("Switched off a staff account"),
    "staff.enable": N_("Switched on a staff account"),
    "staff.second_factor_reset": N_("Reset a second factor"),
    "staff.second_factor_enrol": N_("Set up a second factor"),
    "period.open": N_("Opened a reward period"),
    "chain.pause": N_("Paused the coin"),
    "chain.unpause": N_("Unpaused the coin"),
    "settlement.run": N_("Ran a settlement"),
    "settlement.anchor": N_("Recorded a settlement on chain"),
    "bank.statement_import": N_("Read in a bank statement"),
    "bank.status_import": N_("Read in a bank status report"),
    "evidence.download": N_("Downloaded an evidence pack"),
    "citizen.erase": N_("Erased a citizen"),
    "account.rotate_key": N_("Gave a wallet a new key"),
}
"""A staff log action -> message id of how the log page names it."""

PAGE_SIZE = 50


@router.get("/office")
def office_home(request: Request, ctx: PageCtx) -> Response:
    """A staff member's home page: their role's sections, each with what it is for."""
    staff = office_session(request, ctx)
    if not isinstance(staff, Staff):
        return staff
    sections = [
        (href, text, SECTION_TEXT.get(href, ""))
        for href, text in OFFICE_MENU[staff.caller.role]
        if href != "/office"
    ]
    return render(
        request,
        "office/home.html",
        title=N_("Overview"),
        user=staff.caller,
        csrf_token=staff.csrf,
        sections=sections,
    )


@router.get("/office/log")
def office_log(
    request: Request,
    ctx: PageCtx,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    actor: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The staff log (auditors and admins): newest first, `PAGE_SIZE` a page; `since` and
    `until` are days (both included), `actor` a username."""
    staff = office_session(request, ctx, ("auditor", "admin"))
    if not isinstance(staff, Staff):
        return staff
    rows = staff_log.entries(
        ctx,
        since=since.isoformat() if since else None,
        until=(until + timedelta(days=1)).isoformat() if until else None,
        actor=actor.strip() or None,
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    return render(
        request,
        "office/log.html",
        title=N_("Staff log"),
        user=staff.caller,
        csrf_token=staff.csrf,
        entries=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        page=page,
        since=since.isoformat() if since else "",
        until=until.isoformat() if until else "",
        actor=actor,
        action_text=ACTION_TEXT,
    )

"""The review queue (`/office/review`, coordinators): work residents sent in, the longest
waiting first, each with the resident's note and photos (served by `GET /tasks/{ref}/proof/{n}`
to staff with a session cookie), the reward and its rate per hour, the resident's approved
rewards this month and this year against the caps, and the four-eyes state; a button to
approve, and a form to reject with a reason (required here; the resident sees it). Work can
also be ticked and approved together (`/office/review/approve-selected`, `domain.tasks.
approve_many`), each piece with every rule of a single approval.

A refusal (the coordinator's own task, the same coordinator approving twice, a cap, no reward
period open, ...) is shown as a message at that piece of work and at the top of the page;
nothing changes (`domain.tasks.approve` and `reject` write nothing when they refuse).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from domain import allowance, approvals, task_review, tasks
from domain.context import Context
from heitje.errors import HeitjeError
from heitje.money import units_of
from web import i18n
from web.forms import PageCtx
from web.i18n import N_
from web.office_common import Staff, check_csrf, office_session
from web.office_tasks_form import Problem, per_hour_problem, say, task_row
from web.templating import language_of, render

router = APIRouter(include_in_schema=False)

NOTICES = {
    "approved": N_("The work is approved. The coins go to the resident."),
    "first_approval": N_(
        "Your approval is recorded. A second coordinator has to approve this work too."
    ),
    "rejected": N_("The work is rejected. The resident sees your reason."),
}
"""Notice code (`?notice=`) -> message id."""

REFUSALS = {
    "approver_is_publisher": N_(
        "You published this task, so another coordinator has to judge the work."
    ),
    "approver_is_claimant": N_(
        "You took this task yourself, so another coordinator has to judge it."
    ),
    "second_approver_required": N_(
        "You gave the first approval already. A second, different coordinator has to approve."
    ),
    "task_already_approved": N_("This work is approved already."),
    "task_not_submitted": N_("This work is no longer waiting for a decision."),
    "task_not_found": N_("This task does not exist."),
    "no_reward_period": N_(
        "No reward period is open, so no coins can be paid. An administrator has to open one first."
    ),
    "period_budget_exhausted": N_("The budget of the reward period is not enough for this reward."),
    "citizen_cap_exceeded": N_(
        "With this reward the resident would get more than the reward period allows per person."
    ),
    "chain_unavailable": N_("The coin system cannot be reached now. Try again in a minute."),
    "reason_required": N_("Say why you reject the work. The resident sees this."),
    "reason_too_long": N_("Use at most 1000 characters."),
}
"""Refusal code -> message id (the cap refusals have figures: `_problem`)."""


def _when(text: str | None, language: str) -> str:
    if not text:
        return ""
    try:
        return i18n.format_when(datetime.fromisoformat(text), language)
    except ValueError:
        return text


def _item(entry: task_review.ReviewItem, language: str) -> dict[str, Any]:
    """What the page shows of one piece of work."""
    return {
        "task": task_row(entry.task, language),
        "citizen": entry.citizen,
        "submitted": _when(entry.submitted_at, language),
        "note": entry.note,
        "photos": entry.photos,
        "month_total": entry.month_total,
        "month_cap": entry.month_cap,
        "year_total": entry.year_total,
        "year_cap": entry.year_cap,
        "first_by": entry.first_approved_by,
        "first_at": _when(entry.first_approved_at, language),
        "published_by": entry.published_by,
    }


def _problem(ctx: Context, code: str, entry: task_review.ReviewItem | None) -> Problem:
    """The message of refusal `code` of the work `entry`, with its figures."""
    if entry is not None:
        reward = units_of(entry.task.reward)
        if code == "monthly_cap_exceeded":
            return (
                N_(
                    "%(citizen)s has %(total)s approved this month. With %(reward)s more this "
                    "would pass the monthly maximum of %(cap)s."
                ),
                {
                    "citizen": entry.citizen,
                    "total": entry.month_total,
                    "reward": reward,
                    "cap": entry.month_cap or 0,
                },
            )
        if code == "annual_cap_exceeded":
            return (
                N_(
                    "%(citizen)s has %(total)s approved this year. With %(reward)s more this "
                    "would pass the yearly maximum of %(cap)s."
                ),
                {
                    "citizen": entry.citizen,
                    "total": entry.year_total,
                    "reward": reward,
                    "cap": entry.year_cap,
                },
            )
        minutes = entry.task.estimated_minutes
        if code == "reward_per_hour_exceeded" and minutes:
            return per_hour_problem(
                allowance.per_hour(reward, minutes), ctx.settings.max_per_hour_units()
            )
    return (REFUSALS.get(code, N_("That did not work. Try again later.")), {})


def _page(
    request: Request,
    ctx: Context,
    staff: Staff,
    *,
    status: int = 200,
    notice: str = "",
    failed: str = "",
    code: str = "",
    reason: str = "",
    batch: dict[str, Any] | None = None,
    select_error: bool = False,
) -> Response:
    """The queue; `failed` the ref of the work whose decision was refused with `code`
    (`reason` as typed); `batch` the outcome of approving ticked work together (counts
    `approved`, `first`, and `refused`: [(ref, code)] turned into titles and messages here)."""
    language = language_of(request)
    queue = task_review.review_queue(ctx, staff.caller)
    error = None
    if code:
        entry = next((e for e in queue if e.task.ref == failed), None)
        error = say(_problem(ctx, code, entry), language)
    if batch is not None:
        by_ref = {e.task.ref: e for e in queue}
        refused = []
        for ref, refusal in batch.get("refused", []):
            entry = by_ref.get(ref)
            title = entry.task.title if entry is not None else ref
            refused.append({"title": title, "text": say(_problem(ctx, refusal, entry), language)})
        batch = {**batch, "refused": refused}
    return render(
        request,
        "office/review.html",
        status,
        title=N_("Work to review"),
        user=staff.caller,
        csrf_token=staff.csrf,
        items=[_item(e, language) for e in queue],
        me=staff.caller.username,
        notice=NOTICES.get(notice),
        failed=failed,
        batch=batch,
        select_error=select_error,
        error_text=error,
        reason_field=code in ("reason_required", "reason_too_long"),
        reason=reason,
    )


@router.get("/office/review")
def review(request: Request, ctx: PageCtx, notice: str = "", done: str = "") -> Response:
    """The queue of work waiting for a decision, the longest waiting first; `done`
    ("<approved>,<first approvals>") after ticked work was approved together."""
    staff = office_session(request, ctx, ("coordinator",))
    if not isinstance(staff, Staff):
        return staff
    batch = None
    counts = done[:24].split(",")
    if len(counts) == 2 and all(c.isdigit() for c in counts):
        batch = {"approved": int(counts[0]), "first": int(counts[1]), "refused": []}
    return _page(request, ctx, staff, notice=notice[:32], batch=batch)


@router.post("/office/review/approve-selected")
async def decide_selected(request: Request, ctx: PageCtx) -> Response:
    """Approve the ticked work together (`refs`, as `POST /tasks/approvals`: every rule of one
    approval for each): 303 to the queue with the counts when nothing was refused; else the
    queue with the counts and each refused piece of work with its reason (the rest is
    approved). Nothing ticked: the queue with a message, 422."""
    form = await request.form()
    refs = [v[:64] for v in form.getlist("refs") if isinstance(v, str)]
    token = form.get("csrf_token", "")
    return await run_in_threadpool(
        _decide_selected, request, ctx, refs, token if isinstance(token, str) else ""
    )


def _decide_selected(request: Request, ctx: Context, refs: list[str], token: str) -> Response:
    check_csrf(request, token)  # first: no session, no page
    staff = office_session(request, ctx, ("coordinator",))
    if not isinstance(staff, Staff):
        return staff
    refs = list(dict.fromkeys(refs))  # a ref ticked twice (two tabs) is one decision
    if not refs:
        return _page(request, ctx, staff, status=422, select_error=True)
    if len(refs) > approvals.APPROVE_MANY_MAX:  # the page never shows more (REVIEW_MAX)
        refs = refs[: approvals.APPROVE_MANY_MAX]
    try:
        results = approvals.approve_many(ctx, staff.caller, refs)
    except HeitjeError as e:
        return _page(request, ctx, staff, status=e.http_status, failed="", code=e.code)
    approved = sum(r.result == "approved" for r in results)
    first = sum(r.result == "first_approval" for r in results)
    refused = [(r.ref, r.code or "") for r in results if r.result == "refused"]
    if not refused:
        return RedirectResponse(f"/office/review?done={approved},{first}", status_code=303)
    batch = {"approved": approved, "first": first, "refused": refused}
    return _page(request, ctx, staff, batch=batch)


@router.post("/office/review")
async def decide(request: Request, ctx: PageCtx) -> Response:
    """Approve (`action` approve) or reject (`action` reject, with `reason`, required) the
    work of task `ref`: 303 to the queue with a notice; refused: the queue with the message at
    that work, nothing changed. (The form is read here, the rest runs in the thread pool: an
    approval writes the database and asks the chain.)"""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return await run_in_threadpool(_decide, request, ctx, values)


def _decide(request: Request, ctx: Context, values: dict[str, str]) -> Response:
    check_csrf(request, values.get("csrf_token", ""))  # first: no session, no page
    staff = office_session(request, ctx, ("coordinator",))
    if not isinstance(staff, Staff):
        return staff
    ref = values.get("ref", "")[:64]
    action = values.get("action", "")
    reason = values.get("reason", "")[:5000]
    try:
        if action == "approve":
            done = approvals.approve(ctx, staff.caller, ref)
            notice = "approved" if done.status == "approved" else "first_approval"
        elif action == "reject":
            if not reason.strip():
                return _page(request, ctx, staff, status=422, failed=ref, code="reason_required")
            tasks.reject(ctx, staff.caller, ref, reason)
            notice = "rejected"
        else:
            return RedirectResponse("/office/review", status_code=303)
    except HeitjeError as e:
        return _page(
            request, ctx, staff, status=e.http_status, failed=ref, code=e.code, reason=reason
        )
    return RedirectResponse(f"/office/review?notice={notice}", status_code=303)

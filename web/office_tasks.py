"""The coordinator's task pages (issue 11, item 2): the list of tasks with a status filter
(`/office/tasks`), publishing a task (`/office/tasks/new`), a task's page to change it while
it is open or withdraw it while it is open or claimed (`/office/tasks/{ref}`); the review
queue is `web.office_tasks_review`.

Coordinators only (`web.office_common.office_session`). The same domain functions as the JSON
API (`domain.tasks`); each action is in the staff log. A form with a problem is shown again
with the message next to its field and what was typed kept, and nothing changes.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from domain import task_changes, tasks
from domain.context import Context
from domain.schemas import TaskCreate
from heitje.errors import HeitjeError, Refused
from web import i18n, office_tasks_review
from web.forms import PageCtx
from web.i18n import N_
from web.office_common import Staff, check_csrf, office_session
from web.office_tasks_form import (
    FIELDS,
    Problem,
    TaskForm,
    href,
    per_hour_problem,
    read,
    say,
    task_row,
)
from web.office_tasks_form import typed_of as form_of
from web.tasks import STATUS_WORDS
from web.templating import language_of, render

router = APIRouter(include_in_schema=False)
router.include_router(office_tasks_review.router)

COORDINATOR = ("coordinator",)

NOTICES = {
    "published": N_("The task is published. Residents can take it now."),
    "changed": N_("The task is changed."),
    "unchanged": N_("Nothing was changed."),
    "withdrawn": N_("The task is withdrawn. Nobody can take it or send it in any more."),
}
"""Notice code (`?notice=`) -> message id."""

REFUSALS = {
    "task_not_open": N_("This task is not open any more, so it cannot be changed."),
    "not_publisher": N_(
        "Only the coordinator who published this task can change it. You can take it back."
    ),
    "task_not_withdrawable": N_(
        "Only a task that is open or taken can be withdrawn. Work that was sent in is approved "
        "or rejected."
    ),
    "reason_required": N_("Say why you withdraw the task. The resident who took it sees this."),
    "reason_too_long": N_("Use at most 1000 characters."),
}
"""Refusal code -> message id, on a task's page."""

LIST_MAX = 500


@router.get("/office/tasks")
def task_list(
    request: Request,
    ctx: PageCtx,
    status: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """All tasks, newest first (at most `LIST_MAX`), or those with `status` (a select)."""
    staff = office_session(request, ctx, COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    chosen = status if status in tasks.STATUSES else ""
    found = tasks.list_tasks(ctx, chosen or None, LIST_MAX, 0, staff.caller)
    language = language_of(request)
    return render(
        request,
        "office/tasks_list.html",
        title=N_("Tasks"),
        user=staff.caller,
        csrf_token=staff.csrf,
        tasks=[task_row(t, language) for t in found],
        statuses=[(s, STATUS_WORDS[s]) for s in tasks.STATUSES],
        chosen=chosen,
    )


def _form_page(
    request: Request,
    ctx: Context,
    staff: Staff,
    form: TaskForm,
    *,
    status: int = 200,
) -> Response:
    language = language_of(request)
    return render(
        request,
        "office/tasks_new.html",
        status,
        title=N_("Publish a task"),
        user=staff.caller,
        csrf_token=staff.csrf,
        typed=form.typed,
        errors={k: say(v, language) for k, v in form.errors.items()},
        order=FIELDS,
        most_per_hour=ctx.settings.max_per_hour_units(),
        per_hour=form.per_hour,
    )


@router.get("/office/tasks/new")
def new_task(request: Request, ctx: PageCtx) -> Response:
    """The form to publish a task: title, description, reward, hours, people, place,
    neighbourhood, deadline, materials."""
    staff = office_session(request, ctx, COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    return _form_page(request, ctx, staff, TaskForm({"people": "1"}))


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/office/tasks/new")
async def publish_task(request: Request, ctx: PageCtx) -> Response:
    """Publish the task typed in the form: 303 to its page; a problem: the form again (422)
    with the message by its field, nothing published. (The form is read here, the rest runs
    in the thread pool: it writes the database and may ask the chain.)"""
    values = await _posted(request)
    return await run_in_threadpool(_publish_task, request, ctx, values)


def _publish_task(request: Request, ctx: Context, values: dict[str, str]) -> Response:
    check_csrf(request, values.get("csrf_token", ""))  # first: no session, no page
    staff = office_session(request, ctx, COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    form = read(ctx, values)
    if form.body is not None:
        ref = f"{ctx.now:%Y%m%d}-{secrets.token_hex(3)}"
        try:
            tasks.publish(
                ctx,
                staff.caller,
                TaskCreate(ref=ref, kind="task", **form.body.model_dump()),
            )
        except HeitjeError as e:
            form.errors["reward"] = _refusal_problem(ctx, e, form)
        else:
            return RedirectResponse(f"{href(ref)}?notice=published", status_code=303)
    return _form_page(request, ctx, staff, form, status=422)


def _refusal_problem(ctx: Context, e: HeitjeError, form: TaskForm) -> Problem:
    """A refusal of the domain after the form's own checks (the rule may differ from the form's
    by then only through a setting read twice): shown by the reward."""
    if e.code == "reward_per_hour_exceeded" and form.per_hour is not None:
        return per_hour_problem(form.per_hour, ctx.settings.max_per_hour_units())
    return (REFUSALS.get(e.code, N_("That did not work. Try again later.")), {})


def _task_page(
    request: Request,
    ctx: Context,
    staff: Staff,
    ref: str,
    *,
    status: int = 200,
    notice: str = "",
    form: TaskForm | None = None,
    withdraw_error: str | None = None,
    reason: str = "",
    error: str | None = None,
) -> Response:
    language = language_of(request)
    try:
        task = tasks.get_task(ctx, ref, staff.caller)
    except Refused:
        return render(
            request,
            "office/tasks_missing.html",
            404,
            title=N_("Task not found"),
            user=staff.caller,
            csrf_token=staff.csrf,
        )
    form = form or TaskForm(form_of(task, language))
    return render(
        request,
        "office/tasks_task.html",
        status,
        title=N_("Task"),
        user=staff.caller,
        csrf_token=staff.csrf,
        task=task_row(task, language),
        action=href(ref),
        typed=form.typed,
        errors={k: say(v, language) for k, v in form.errors.items()},
        order=FIELDS,
        most_per_hour=ctx.settings.max_per_hour_units(),
        per_hour=form.per_hour,
        notice=NOTICES.get(notice),
        withdraw_error=withdraw_error,
        reason=reason,
        error_text=error,
    )


@router.get("/office/tasks/{ref}")
def task_page(
    request: Request,
    ctx: PageCtx,
    ref: str,
    notice: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """A task: its facts and status; the form to change it (open) and to withdraw it (open or
    taken), with a reason."""
    staff = office_session(request, ctx, COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    return _task_page(request, ctx, staff, ref, notice=notice)


@router.post("/office/tasks/{ref}")
async def task_form(request: Request, ctx: PageCtx, ref: str) -> Response:
    """The task page's forms: `action` edit (the task form's fields) or withdraw (`reason`,
    required). Done: 303 to the task's page with a notice; a problem: the page again with the
    message by its field, nothing changed. (The form is read here, the rest runs in the thread
    pool.)"""
    values = await _posted(request)
    return await run_in_threadpool(_task_form, request, ctx, ref, values)


def _task_form(request: Request, ctx: Context, ref: str, values: dict[str, str]) -> Response:
    check_csrf(request, values.get("csrf_token", ""))  # first: no session, no page
    staff = office_session(request, ctx, COORDINATOR)
    if not isinstance(staff, Staff):
        return staff
    action = values.get("action", "")
    if action == "withdraw":
        reason = values.get("reason", "")
        try:
            task_changes.withdraw(ctx, staff.caller, ref, reason)
        except HeitjeError as e:
            if e.code == "task_not_found":
                return _task_page(request, ctx, staff, ref)
            message = REFUSALS.get(e.code, N_("That did not work. Try again later."))
            text = i18n.gettext(language_of(request), message)
            field = e.code in ("reason_required", "reason_too_long")
            return _task_page(
                request,
                ctx,
                staff,
                ref,
                status=e.http_status,
                withdraw_error=text if field else None,
                error=None if field else text,
                reason=reason,
            )
        return RedirectResponse(f"{href(ref)}?notice=withdrawn", status_code=303)
    if action != "edit":
        return _task_page(request, ctx, staff, ref)
    form = read(ctx, values)
    if form.body is None:
        return _task_page(request, ctx, staff, ref, status=422, form=form)
    try:
        before = tasks.get_task(ctx, ref, staff.caller)
        after = task_changes.edit(ctx, staff.caller, ref, form.body)
    except HeitjeError as e:
        if e.code == "task_not_found":
            return _task_page(request, ctx, staff, ref)
        problem = _refusal_problem(ctx, e, form)
        return _task_page(
            request,
            ctx,
            staff,
            ref,
            status=e.http_status,
            form=form,
            error=say(problem, language_of(request)),
        )
    notice = "unchanged" if after == before else "changed"
    return RedirectResponse(f"{href(ref)}?notice={notice}", status_code=303)

"""The task pages: the list of tasks (filter by neighbourhood; "my tasks"), a task's page, and
its forms to claim it, give it back and send it in with photos and a note.

The same domain functions as the JSON API (`domain.tasks`, `domain.proofs`). `GET /tasks` and
`GET /tasks/{ref}` share their addresses with the API: a browser (whose `Accept` prefers
HTML) gets these pages, any other client JSON (`api.routes.tasks.JsonRoute`). The forms post
to `POST /tasks/{ref}` with the session's CSRF token and an `action` (claim, give_back,
submit); a refusal shows the task page again with its message (next to the field it is about,
and at the top) in the reader's language, and changes nothing. Messages come from fixed lists
of codes (`ERRORS`, `NOTICES`): a query string names a code, never the text.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from domain import proofs, sessions, tasks
from domain.context import Caller, Context, Services
from domain.schemas import TaskProofPublic, TaskPublic
from domain.security import SESSION_COOKIE, csrf_token
from heitje.errors import HeitjeError, Refused
from heitje.money import units_of
from web import i18n
from web.i18n import N_
from web.templating import language_of, render

router = APIRouter(tags=["pages"], include_in_schema=False)

STATUS_WORDS = {
    "open": N_("Open"),
    "claimed": N_("Claimed"),
    "submitted": N_("Submitted"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}
"""Task status -> message id of its word on the pages."""

ERRORS = {
    "task_not_open": N_("Someone else has taken this task already."),
    "not_your_task": N_("This task is not yours."),
    "task_not_claimed": N_("You can only do this with a task you have taken and not sent in."),
    "photo_required": N_("Add at least one photo of the work."),
    "too_many_photos": N_("Add at most 3 photos."),
    "invalid_photo": N_("This is not a photo we can use. Choose a JPEG, PNG or WebP photo."),
    "photo_too_large": N_("A photo is too large. Each photo can be at most 10 MB."),
    "note_required": N_("Write in a few words what you did."),
    "note_too_long": N_("Your message is too long. Use at most 2000 characters."),
    "csrf_failed": N_("The form has expired. Please try again."),
    "task_failed": N_("That did not work. Try again later."),
}
"""Refusal code -> message id of the text the task page shows."""
FIELD_ERRORS = {
    "photo_required": "photos",
    "too_many_photos": "photos",
    "invalid_photo": "photos",
    "photo_too_large": "photos",
    "note_required": "note",
    "note_too_long": "note",
}
"""Refusal codes shown next to a field of the send-in form (and at the top)."""

NOTICES = {
    "claimed": N_("The task is yours. When it is done, send it in with a photo."),
    "given_back": N_("You gave the task back. Someone else can take it now."),
    "submitted": N_("Sent in. A coordinator will check your work."),
}
"""Notice code (`?notice=`) -> message id."""

ACTIONS = ("claim", "give_back", "submit")
"""What the task page's forms do (`action`)."""


def _context(request: Request) -> Iterator[Context]:
    services: Services = request.app.state.services
    ctx = services.context(datetime.now(UTC))
    try:
        yield ctx
    finally:
        ctx.close()


PageCtx = Annotated[Context, Depends(_context)]


def _viewer(request: Request, ctx: Context) -> tuple[Caller | None, str | None]:
    """The logged-in reader and their session token, or (None, None)."""
    token = request.cookies.get(SESSION_COOKIE)
    user = sessions.session_caller(ctx, token)
    return (user, token) if user is not None and token else (None, None)


def _day(value: date | None, language: str) -> str | None:
    return i18n.format_day(value, language) if value is not None else None


def _card(task: TaskPublic, language: str) -> dict[str, Any]:
    """What the pages show of `task`: its fields, reward in base units, deadline in words,
    status word."""
    return {
        "ref": task.ref,
        "title": task.title,
        "units": units_of(task.reward),
        "place": task.place,
        "neighbourhood": task.neighbourhood,
        "deadline": _day(task.deadline, language),
        "materials": task.materials,
        "status": task.status,
        "status_word": STATUS_WORDS.get(task.status, task.status),
        "rejection_reason": task.rejection_reason,
        "withdrawal_reason": task.withdrawal_reason,
        "description": task.description,
        "minutes": task.estimated_minutes,
        "hours": _hours(task.estimated_minutes, language),
        "people": task.people,
    }


def _hours(minutes: int | None, language: str) -> str:
    """Minutes as hours in `language` ("1,5"), or ''."""
    if minutes is None:
        return ""
    text = i18n.format_amount((minutes * 100 * 2 + 60) // 120, language)
    return text.rstrip("0").rstrip(",.")


def _href(ref: str) -> str:
    return "/tasks/" + quote(ref, safe="")


@router.get("/tasks", response_class=HTMLResponse)
def task_list(
    request: Request,
    ctx: PageCtx,
    neighbourhood: Annotated[str | None, Query(max_length=200)] = None,
    mine: Annotated[str | None, Query(max_length=8)] = None,
) -> Response:
    """The open tasks (for anyone; logged out it says to log in to take one), newest first,
    optionally in one `neighbourhood` (a form with a select, no JavaScript needed). With
    `mine` (any value but empty): the tasks the logged-in citizen took, sent in, or was
    rewarded or refused for, each with its status in words (logged out: to the login form)."""
    user, token = _viewer(request, ctx)
    language = language_of(request)
    if mine and user is None:
        return RedirectResponse("/", status_code=303)
    area = neighbourhood or None
    if mine:
        found = tasks.list_tasks(ctx, None, 500, 0, user, mine=True)
        options = sorted({t.neighbourhood for t in found if t.neighbourhood})
        found = [t for t in found if area is None or t.neighbourhood == area]
    else:
        found = tasks.list_tasks(ctx, "open", 200, 0, user, neighbourhood=area)
        options = tasks.neighbourhoods(ctx, "open")
    if area is not None and area not in options:
        options.append(area)
    return render(
        request,
        "tasks/list.html",
        title=N_("My tasks") if mine else N_("Tasks"),
        user=user,
        csrf_token=csrf_token(token) if token else None,
        my_tasks=bool(mine),
        tasks=[_card(t, language) | {"href": _href(t.ref)} for t in found],
        neighbourhoods=options,
        selected=area or "",
    )


def _task_page(
    request: Request,
    ctx: Context,
    ref: str,
    user: Caller | None,
    token: str | None,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    """The page of task `ref` as `user` sees it (404 page for an unknown task); `error` a
    refusal code (`ERRORS`), `notice` a notice code (`NOTICES`), `typed` the note as typed."""
    language = language_of(request)
    try:
        task = tasks.get_task(ctx, ref, user)
    except Refused:
        return render(
            request,
            "tasks/not_found.html",
            404,
            title=N_("Task not found"),
            user=user,
            csrf_token=csrf_token(token) if token else None,
        )
    mine = user is not None and task.claimed_by is not None and task.claimed_by == user.username
    proof: TaskProofPublic | None = None
    if user is not None and task.status in ("submitted", "approved", "rejected"):
        try:
            proof = proofs.proof(ctx, user, ref)
        except Refused:  # not theirs to see, or sent in without photos (the JSON API)
            proof = None
    message = ERRORS.get(error or "") if error else None
    return render(
        request,
        "tasks/task.html",
        status,
        title=N_("Task"),
        user=user,
        csrf_token=csrf_token(token) if token else None,
        task=_card(task, language),
        action=_href(ref),
        own=mine,
        citizen=user is not None and user.role == "citizen",
        proof=proof,
        notice=NOTICES.get(notice or ""),
        error=message,
        field_errors={FIELD_ERRORS[error]: message} if error in FIELD_ERRORS else {},
        typed=typed or {},
    )


@router.get("/tasks/{ref}", response_class=HTMLResponse)
def task_page(
    request: Request,
    ctx: PageCtx,
    ref: str,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """A task: reward, place, neighbourhood, deadline, materials and status; for a citizen the
    forms to take it, give it back, and send it in (photos and a note); the rejection reason
    and the photos sent in, for the citizen who sent them (and staff). `notice`: a code
    (`NOTICES`; an unknown one shows nothing)."""
    user, token = _viewer(request, ctx)
    return _task_page(request, ctx, ref, user, token, notice=notice)


def _citizen_of(request: Request, ctx: Context, given: str) -> tuple[Caller, str]:
    """The citizen posting a task form, their CSRF token checked.

    Errors: 403 `csrf_failed` (no session, or not the session's token), `forbidden` (not a
    citizen)."""
    token = request.cookies.get(SESSION_COOKIE) or ""
    if not token or not hmac.compare_digest(csrf_token(token).encode(), given.encode()):
        raise Refused(403, "csrf_failed", "the form expired; reload the page")
    user = sessions.session_caller(ctx, token)
    if user is None:
        raise Refused(403, "csrf_failed", "the form expired; log in and reload the page")
    if user.role != "citizen":
        raise Refused(403, "forbidden", "only residents take and send in tasks")
    return user, token


@router.post("/tasks/{ref}")
def task_form(
    request: Request,
    ctx: PageCtx,
    ref: str,
    csrf: Annotated[str, Form(alias="csrf_token", max_length=64)] = "",
    action: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """The task page's forms (citizens; `csrf_token` the session's form token): `action`
    claim, give_back, or submit (with `photos`, 1 to 3 image files, and `note`). Done: 303 to
    the task page with a notice; refused: the task page with the message (and the note as
    typed), nothing changed. No session or a wrong token: 403 `csrf_failed`; not a citizen:
    403 `forbidden`."""
    user, token = _citizen_of(request, ctx, csrf)
    typed = {"note": note}
    try:
        if action == "claim":
            tasks.claim(ctx, user, ref)
        elif action == "give_back":
            tasks.give_back(ctx, user, ref)
        elif action == "submit":
            files = [f.file.read(proofs.PHOTO_MAX_BYTES + 1) for f in photos or [] if f.filename]
            proofs.submit(ctx, user, ref, note, files)
        else:
            return _task_page(request, ctx, ref, user, token)
    except HeitjeError as e:
        code = e.code if e.code in ERRORS else "task_failed"
        if e.code == "task_not_found":
            return _task_page(request, ctx, ref, user, token)
        return _task_page(
            request, ctx, ref, user, token, status=e.http_status, error=code, typed=typed
        )
    done = {"claim": "claimed", "give_back": "given_back", "submit": "submitted"}[action]
    return RedirectResponse(f"{_href(ref)}?{urlencode({'notice': done})}", status_code=303)

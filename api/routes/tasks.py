"""The task lifecycle over HTTP (`domain.tasks`, `domain.proofs`): publish -> claim (-> give
back) -> submit (with proof: photos and a note) -> approve (reward minted) or reject (with a
reason).

`GET /tasks` and `GET /tasks/{ref}` are the pages' addresses too: a request that prefers HTML
(a browser opening the address: `Accept` names `text/html` above `application/json`) is left
to the task pages (`web.tasks`); every other gets JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, File, Form, Path, Query, UploadFile
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from api.deps import CitizenUser, CoordinatorUser, Ctx, OptionalUser, role_checker
from domain import approvals, proofs, task_changes, tasks
from domain.context import Caller
from domain.schemas import (
    ErrorPublic,
    TaskApprovals,
    TaskApprovalsPublic,
    TaskCreate,
    TaskEdit,
    TaskProofPublic,
    TaskPublic,
    TaskReject,
    TaskWithdraw,
)

router = APIRouter(prefix="/tasks", tags=["tasks"])

ProofReader = Annotated[Caller, Depends(role_checker("citizen", "coordinator", "auditor", "admin"))]
"""Who may ask for a proof: citizens (their own only, `domain.proofs`) and staff who check work."""


def prefers_html(accept: str | None) -> bool:
    """True when an `Accept` header ranks `text/html` above `application/json` (a browser
    opening an address); `*/*` or no header: False."""
    quality: dict[str, float] = {}
    for part in (accept or "")[:2000].split(","):
        media, *params = [p.strip() for p in part.split(";")]
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])  # a preference weight, never money
                except ValueError:
                    q = 0.0
        quality[media.lower()] = max(q, quality.get(media.lower(), 0.0))
    html = quality.get("text/html", 0.0)
    return html > 0 and html > quality.get("application/json", 0.0)


class JsonRoute(APIRoute):
    """A route that leaves requests preferring HTML to the pages (`prefers_html`)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match != Match.NONE and prefers_html(Headers(scope=scope).get("accept")):
            return Match.NONE, {}
        return match, child


F = TypeVar("F", bound=Callable[..., Any])


def _json_get(path: str, **options: Any) -> Callable[[F], F]:
    """`router.get(path)` as a `JsonRoute`."""

    def register(endpoint: F) -> F:
        router.add_api_route(
            path, endpoint, methods=["GET"], route_class_override=JsonRoute, **options
        )
        return endpoint

    return register


_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}
_CHAIN_ERRORS: dict[int | str, dict[str, object]] = {**_ERRORS, 503: {"model": ErrorPublic}}


@router.post("", status_code=201, responses=_ERRORS)
def publish(body: TaskCreate, ctx: Ctx, user: CoordinatorUser) -> TaskPublic:
    """Publish a task (coordinators). `reward` is HEIT with at most two decimals; optional
    `description`, `estimated_minutes` (whole minutes) and `people` (default 1). With an
    estimate, the reward per hour may not pass `HEITJE_MAX_REWARD_PER_HOUR`. Recorded in the
    staff log.

    Errors: 403 `forbidden`; 409 `task_already_published`; 422 `invalid_amount`,
    `reward_per_hour_exceeded`.
    """
    return tasks.publish(ctx, user, body)


@_json_get("")
def list_tasks(
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    neighbourhood: Annotated[str | None, Query(max_length=200)] = None,
    viewer: OptionalUser = None,
) -> list[TaskPublic]:
    """Tasks, newest first, optionally by `status` (open, claimed, submitted, approved,
    rejected, withdrawn) and `neighbourhood`, `limit` (1..500) from `offset` (0..10^9).
    Public: citizens browse open tasks. `claimed_by`, `rejection_reason` and
    `withdrawal_reason` are shown only to staff and to the citizen who claimed the task (a
    bearer token or session cookie tells who asks); anyone else gets null.

    Errors: 422 `invalid_request` (a bound passed)."""
    return tasks.list_tasks(ctx, status, limit, offset, viewer, neighbourhood=neighbourhood)


@_json_get("/{ref}", responses=_ERRORS)
def get_task(ref: str, ctx: Ctx, viewer: OptionalUser = None) -> TaskPublic:
    """One task with its reward status: `reward_status` pending, sent, blocked or confirmed;
    while blocked, `reward_error` says why (the dispatcher keeps trying). `claimed_by` only
    for staff and the claimant, as in `GET /tasks`.

    Errors: 404 `task_not_found`."""
    return tasks.get_task(ctx, ref, viewer)


@router.patch("/{ref}", responses=_ERRORS)
def edit(ref: str, body: TaskEdit, ctx: Ctx, user: CoordinatorUser) -> TaskPublic:
    """Change an open task (coordinators): every field of `TaskEdit` (title, description,
    reward, estimated_minutes, place, neighbourhood, deadline, people, materials); the reward
    per hour is checked as at publishing. Recorded in the staff log with old and new values.

    Errors: 403 `forbidden`; 404 `task_not_found`; 409 `task_not_open`; 422 `invalid_amount`,
    `reward_per_hour_exceeded`.
    """
    return task_changes.edit(ctx, user, ref, body)


@router.post("/{ref}/withdraw", responses=_ERRORS)
def withdraw(ref: str, body: TaskWithdraw, ctx: Ctx, user: CoordinatorUser) -> TaskPublic:
    """Withdraw a task that is open or claimed (coordinators), saying why (`reason`, 1 to 1000
    characters; the citizen who claimed it sees it): its status is `withdrawn`, nobody can
    claim or send it in any more. Recorded in the staff log.

    Errors: 403 `forbidden`; 404 `task_not_found`; 409 `task_not_withdrawable`; 422
    `reason_required`, `reason_too_long`.
    """
    return task_changes.withdraw(ctx, user, ref, body.reason)


@router.post("/{ref}/claim", responses=_ERRORS)
def claim(ref: str, ctx: Ctx, user: CitizenUser) -> TaskPublic:
    """Claim an open task (citizens). Errors: 404 `task_not_found`, 409 `task_not_open`."""
    return tasks.claim(ctx, user, ref)


@router.post("/{ref}/give-back", responses=_ERRORS)
def give_back(ref: str, ctx: Ctx, user: CitizenUser) -> TaskPublic:
    """Give a claimed task back (only the citizen who claimed it, before sending it in): it is
    open again.

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    return tasks.give_back(ctx, user, ref)


@router.post("/{ref}/submit", responses=_ERRORS)
def submit(ref: str, ctx: Ctx, user: CitizenUser) -> TaskPublic:
    """Report a claimed task done (only by the citizen who claimed it), without photos (the
    pages and `POST /tasks/{ref}/proof` send proof in).

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    return tasks.submit(ctx, user, ref)


@router.post("/{ref}/proof", responses={**_ERRORS, 413: {"model": ErrorPublic}})
def submit_with_proof(
    ref: str,
    ctx: Ctx,
    user: CitizenUser,
    note: Annotated[str, Form(max_length=20_000)] = "",
    photos: Annotated[list[UploadFile] | None, File()] = None,
) -> TaskPublic:
    """Send a claimed task in with proof (multipart/form-data; only the citizen who claimed
    it): `photos` (1 to 3 files, JPEG, PNG or WebP, at most 10 MiB each; stored re-encoded as
    JPEG of at most 1600 px, without EXIF or location) and `note` (1 to 2000 characters).

    Errors: 404 `task_not_found`; 403 `not_your_task`; 409 `task_not_claimed`; 413
    `photo_too_large`, `body_too_large`; 422 `photo_required`, `too_many_photos`,
    `invalid_photo`, `note_required`, `note_too_long`.
    """
    files = [f.file.read(proofs.PHOTO_MAX_BYTES + 1) for f in photos or []]
    return proofs.submit(ctx, user, ref, note, files)


@router.get("/{ref}/proof", responses=_ERRORS)
def get_proof(ref: str, ctx: Ctx, user: ProofReader) -> TaskProofPublic:
    """The proof sent in with a task: its note and its photos' paths (the citizen who sent it
    in, coordinators, auditors, admins).

    Errors: 403 `forbidden`, `not_your_task`; 404 `task_not_found`, `proof_not_found`.
    """
    return proofs.proof(ctx, user, ref)


@router.get(
    "/{ref}/proof/{n}",
    responses={**_ERRORS, 200: {"content": {"image/jpeg": {}}}},
    response_class=FileResponse,
)
def get_proof_photo(
    ref: str, n: Annotated[int, Path(ge=1, le=3)], ctx: Ctx, user: ProofReader
) -> FileResponse:
    """Photo `n` (1 to 3) of a task's proof, JPEG (who may: as `GET /tasks/{ref}/proof`).

    Errors: 403 `forbidden`, `not_your_task`; 404 `task_not_found`, `proof_not_found`,
    `photo_not_found`.
    """
    path = proofs.photo(ctx, user, ref, n)
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "private, no-store"}
    )


@router.post("/approvals", responses=_CHAIN_ERRORS)
def approve_many(body: TaskApprovals, ctx: Ctx, user: CoordinatorUser) -> TaskApprovalsPublic:
    """Approve several pieces of submitted work at once (coordinators): `{refs: [1 to 200 task
    refs]}`. Each ref is decided with every rule of `POST /tasks/{ref}/approve` (separation
    of duties, four-eyes, the yearly and monthly caps, the reward per hour, the reward period's
    budget and cap per citizen, counting the rewards approved earlier in the same request),
    in order; the chain's reward period is read once for the whole request, and the approved
    rewards are minted in batches (`mintRewards`). A refusal refuses that ref only: its entry
    has `result` "refused" with the `code` and `message` the single approval would answer.

    Returns 200 `{results: [{ref, result: approved | first_approval | refused, code,
    message}], approved, first_approvals, refused}` (counts of each result).

    Errors (nothing decided): 403 `forbidden`; 422 `invalid_request` (no refs, more than 200,
    a ref longer than 64 characters); 503 `chain_unavailable`.
    """
    results = approvals.approve_many(ctx, user, body.refs)
    return TaskApprovalsPublic(
        results=results,
        approved=sum(r.result == "approved" for r in results),
        first_approvals=sum(r.result == "first_approval" for r in results),
        refused=sum(r.result == "refused" for r in results),
    )


@router.post("/{ref}/approve", responses=_CHAIN_ERRORS)
def approve(ref: str, ctx: Ctx, user: CoordinatorUser) -> TaskPublic:
    """Approve submitted work (coordinators): the reward is minted to the citizen. Not by the
    coordinator who published (or claimed) the task while `HEITJE_SEPARATION_OF_DUTIES` holds.

    The task state and the mint intent are written in one transaction; `reward_status` follows
    the mint (pending -> sent -> confirmed; blocked, with `reward_error`, while the chain
    refuses it). Refused when the citizen's approved rewards in the calendar year of `now` plus
    this reward would exceed the yearly cap, those in its calendar month the monthly cap
    (`HEITJE_MONTHLY_REWARD_CAP`), or the reward per estimated hour passes
    `HEITJE_MAX_REWARD_PER_HOUR`; then, read from the chain, when no reward period
    is open, when the period's budget left (minus rewards approved but not minted yet) cannot
    pay it, or when it would take the citizen past the period's cap per citizen (minted plus
    on its way).

    Errors: 403 `forbidden`, `approver_is_publisher`, `approver_is_claimant`; 404
    `task_not_found`; 409 `task_already_approved`, `task_not_submitted`, `no_reward_period`,
    `second_approver_required`; 422 `annual_cap_exceeded`, `monthly_cap_exceeded`,
    `reward_per_hour_exceeded`, `period_budget_exhausted`, `citizen_cap_exceeded`; 503
    `chain_unavailable`.
    """
    return approvals.approve(ctx, user, ref)


@router.post("/{ref}/reject", responses=_ERRORS)
def reject(ref: str, ctx: Ctx, user: CoordinatorUser, body: TaskReject | None = None) -> TaskPublic:
    """Close submitted work without reward (coordinators; not the one who published or
    claimed it while `HEITJE_SEPARATION_OF_DUTIES` holds), optionally saying why (`reason`,
    shown to the citizen).

    Errors: 403 `forbidden`, `approver_is_publisher`, `approver_is_claimant`; 404
    `task_not_found`; 409 `task_not_submitted`; 422 `invalid_request`.
    """
    return tasks.reject(ctx, user, ref, body.reason if body is not None else "")

"""The task lifecycle over HTTP (`domain.tasks`): publish -> claim -> submit -> approve (reward
minted) or reject."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import CitizenUser, CoordinatorUser, Ctx, OptionalUser
from domain import tasks
from domain.schemas import ErrorPublic, TaskCreate, TaskPublic

router = APIRouter(prefix="/tasks", tags=["tasks"])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}
_CHAIN_ERRORS: dict[int | str, dict[str, object]] = {**_ERRORS, 503: {"model": ErrorPublic}}


@router.post("", status_code=201, responses=_ERRORS)
def publish(body: TaskCreate, ctx: Ctx, user: CoordinatorUser) -> TaskPublic:
    """Publish a task (coordinators). `reward` is HEIT with at most two decimals.

    Errors: 403 `forbidden`; 409 `task_already_published`; 422 `invalid_amount`.
    """
    return tasks.publish(ctx, user, body)


@router.get("")
def list_tasks(
    ctx: Ctx,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    viewer: OptionalUser = None,
) -> list[TaskPublic]:
    """Tasks, newest first, optionally by `status` (open, claimed, submitted, approved,
    rejected), `limit` (1..500) from `offset` (0..10^9). Public: citizens browse open tasks.
    `claimed_by` is shown only to staff and to the citizen who claimed the task (a bearer
    token or session cookie tells who asks); anyone else gets null.

    Errors: 422 `invalid_request` (a bound passed)."""
    return tasks.list_tasks(ctx, status, limit, offset, viewer)


@router.get("/{ref}", responses=_ERRORS)
def get_task(ref: str, ctx: Ctx, viewer: OptionalUser = None) -> TaskPublic:
    """One task with its reward status: `reward_status` pending, sent, blocked or confirmed;
    while blocked, `reward_error` says why (the dispatcher keeps trying). `claimed_by` only
    for staff and the claimant, as in `GET /tasks`.

    Errors: 404 `task_not_found`."""
    return tasks.get_task(ctx, ref, viewer)


@router.post("/{ref}/claim", responses=_ERRORS)
def claim(ref: str, ctx: Ctx, user: CitizenUser) -> TaskPublic:
    """Claim an open task (citizens). Errors: 404 `task_not_found`, 409 `task_not_open`."""
    return tasks.claim(ctx, user, ref)


@router.post("/{ref}/submit", responses=_ERRORS)
def submit(ref: str, ctx: Ctx, user: CitizenUser) -> TaskPublic:
    """Report a claimed task done (only by the citizen who claimed it).

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    return tasks.submit(ctx, user, ref)


@router.post("/{ref}/approve", responses=_CHAIN_ERRORS)
def approve(ref: str, ctx: Ctx, user: CoordinatorUser) -> TaskPublic:
    """Approve submitted work (coordinators): the reward is minted to the citizen. Not by the
    coordinator who published (or claimed) the task while `HEITJE_SEPARATION_OF_DUTIES` holds.

    The task state and the mint intent are written in one transaction; `reward_status` follows
    the mint (pending -> sent -> confirmed; blocked, with `reward_error`, while the chain
    refuses it). Refused when the citizen's approved rewards in the calendar year of `now` plus
    this reward would exceed the yearly cap; then, read from the chain, when no reward period
    is open, when the period's budget left (minus rewards approved but not minted yet) cannot
    pay it, or when it would take the citizen past the period's cap per citizen (minted plus
    on its way).

    Errors: 403 `forbidden`, `approver_is_publisher`, `approver_is_claimant`; 404
    `task_not_found`; 409 `task_already_approved`, `task_not_submitted`, `no_reward_period`;
    422 `annual_cap_exceeded`, `period_budget_exhausted`, `citizen_cap_exceeded`; 503
    `chain_unavailable`.
    """
    return tasks.approve(ctx, user, ref)


@router.post("/{ref}/reject", responses=_ERRORS)
def reject(ref: str, ctx: Ctx, user: CoordinatorUser) -> TaskPublic:
    """Close submitted work without reward (coordinators; not the one who published or
    claimed it while `HEITJE_SEPARATION_OF_DUTIES` holds).

    Errors: 403 `forbidden`, `approver_is_publisher`, `approver_is_claimant`; 404
    `task_not_found`; 409 `task_not_submitted`.
    """
    return tasks.reject(ctx, user, ref)

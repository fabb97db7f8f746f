"""The task lifecycle: publish (-> edit while open) -> claim (-> give back: open again) -> submit
-> approve (reward minted) or reject (with a reason the citizen sees); a coordinator may
withdraw a task while it is open or claimed (with a reason the claimant sees; edit and
withdraw: `domain.task_changes`). Proof sent in with a task: `domain.proofs`; the review
queue: `domain.task_review`. Every coordinator's action (publish, edit, withdraw, first
approval, approve, reject) is written to the staff log (`domain.staff_log`) in its own
transaction.

Volunteer allowance (`domain.allowance`): a task's reward per estimated hour may not pass
`max_reward_per_hour` (checked when it is published, edited and approved; a task without
estimated hours is not checked), and a citizen's approved rewards in one calendar month may
not pass `monthly_reward_cap` (checked when it is approved).

Approval checks the yearly reward cap (calendar year of the approval, in the approval time's
own offset) and the chain's reward period (one is open, its budget and its cap per citizen,
counting rewards approved but not minted yet), then writes the task state and a mint intent in
one database transaction; the outbox dispatcher sends the mint. A task is rewarded at most once
(database and contract both).
"""

from __future__ import annotations

import sqlite3
from datetime import date

from domain import staff_log
from domain.allowance import check_per_hour
from domain.context import Caller, Context
from domain.schemas import TaskCreate, TaskPublic
from heitje.errors import Refused
from heitje.money import format_heit, parse_heit
from store import tasks
from store.db import transaction

STATUSES = ("open", "claimed", "submitted", "approved", "rejected", "withdrawn")
REASON_MAX = 1000
"""Most characters of a rejection or withdrawal reason."""


STAFF_ROLES = ("admin", "coordinator", "finance", "auditor")
"""Roles that see who claimed a task (besides the claimant)."""


def task_public(ctx: Context, row: sqlite3.Row, viewer: Caller | None) -> TaskPublic:
    """The task as `viewer` may see it: `claimed_by` only for staff and the claimant (a
    username next to a reward transaction would tie a person to a wallet address)."""
    threshold = ctx.settings.four_eyes_units()
    needed = 2 if threshold is not None and int(row["reward"]) >= threshold else 1
    sees_claimant = viewer is not None and (
        viewer.role in STAFF_ROLES or viewer.id == row["claimed_by"]
    )
    return TaskPublic(
        ref=row["ref"],
        kind=row["kind"],
        title=row["title"],
        reward=format_heit(row["reward"]),
        neighbourhood=row["neighbourhood"],
        status=row["status"],
        claimed_by=row["claimed_by_name"] if sees_claimant else None,
        reward_status=row["reward_status"],
        reward_tx=row["reward_tx"],
        reward_error=_reason(row["reward_error"]) if row["reward_status"] == "blocked" else None,
        approvals=needed if row["status"] == "approved" else int(bool(row["first_approved_by"])),
        approvals_needed=needed,
        place=row["place"],
        deadline=date.fromisoformat(row["deadline"]) if row["deadline"] else None,
        materials=row["materials"],
        rejection_reason=row["rejection_reason"] if sees_claimant else None,
        description=row["description"],
        estimated_minutes=row["estimated_minutes"],
        people=int(row["people"]),
        withdrawal_reason=row["withdrawal_reason"] if sees_claimant else None,
    )


def require_coordinator(caller: Caller) -> None:
    """Errors: 403 `forbidden` unless `caller` is a coordinator."""
    if caller.role != "coordinator":
        raise Refused(403, "forbidden", "this needs the role coordinator")


def _reason(last_error: str | None) -> str | None:
    """The plain-text part of an intent's `last_error` ("code: reason")."""
    if last_error is None:
        return None
    return last_error.split(": ", 1)[-1]


def task_row(ctx: Context, ref: str) -> sqlite3.Row:
    """Task `ref` with its people and mint (`store.tasks.get`). Errors: 404 `task_not_found`."""
    row = tasks.get(ctx.db, ref)
    if row is None:
        raise Refused(404, "task_not_found", f"no published task {ref!r}")
    return row


def publish(ctx: Context, caller: Caller, body: TaskCreate) -> TaskPublic:
    """Publish a task (recorded in the staff log as `task.publish`); `reward` is HEIT with at
    most two decimals, `estimated_minutes` whole minutes (optional). With an estimate, the
    reward per hour may not pass `max_reward_per_hour` (`check_per_hour`).

    Errors: 409 `task_already_published`; 422 `invalid_amount`, `reward_per_hour_exceeded`.
    """
    reward = parse_heit(body.reward)
    check_per_hour(reward, body.estimated_minutes, ctx.settings.max_per_hour_units())
    with transaction(ctx.db):
        if tasks.exists(ctx.db, body.ref):
            raise Refused(409, "task_already_published", f"task {body.ref!r} is published")
        tasks.insert(
            ctx.db,
            ref=body.ref,
            kind=body.kind,
            title=body.title,
            reward=reward,
            neighbourhood=body.neighbourhood,
            published_by=caller.id,
            published_at=ctx.now.isoformat(),
            place=body.place,
            deadline=body.deadline.isoformat() if body.deadline else None,
            materials=body.materials,
            description=body.description,
            estimated_minutes=body.estimated_minutes,
            people=body.people,
        )
        staff_log.record(
            ctx,
            caller,
            "task.publish",
            body.ref,
            title=body.title,
            reward=reward,
            estimated_minutes=body.estimated_minutes,
        )
    return task_public(ctx, task_row(ctx, body.ref), caller)


def list_tasks(
    ctx: Context,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
    viewer: Caller | None = None,
    *,
    neighbourhood: str | None = None,
    mine: bool = False,
) -> list[TaskPublic]:
    """Tasks newest first, optionally only those with `status`, in `neighbourhood`, or (with
    `mine`) claimed by `viewer` (none for an anonymous viewer); `limit` is kept in 1..500.
    `claimed_by` is shown to staff and to the claimant only (`viewer`; None: anonymous)."""
    limit = max(1, min(limit, 500))
    if mine and viewer is None:
        return []
    rows = tasks.listing(
        ctx.db,
        status,
        limit,
        offset,
        neighbourhood=neighbourhood,
        claimed_by=viewer.id if mine and viewer is not None else None,
    )
    return [task_public(ctx, r, viewer) for r in rows]


def neighbourhoods(ctx: Context, status: str = "open") -> list[str]:
    """The neighbourhoods that have tasks with `status` (default open), sorted."""
    return tasks.neighbourhoods(ctx.db, status)


def get_task(ctx: Context, ref: str, viewer: Caller | None = None) -> TaskPublic:
    """One task with its reward status; `claimed_by` as in `list_tasks`.
    Errors: 404 `task_not_found`."""
    return task_public(ctx, task_row(ctx, ref), viewer)


def check_duties(ctx: Context, caller: Caller, task: sqlite3.Row, decision: str) -> None:
    """Separation of duties (setting `separation_of_duties`): a coordinator never decides
    (`decision`: approve, reject) on a task they published or claimed.

    Errors: 403 `approver_is_publisher`, `approver_is_claimant`.
    """
    if not ctx.settings.separation_of_duties:
        return
    if task["published_by"] == caller.id:
        raise Refused(
            403,
            "approver_is_publisher",
            f"you published task {task['ref']!r}: another coordinator must {decision} it",
        )
    if task["claimed_by"] == caller.id:
        raise Refused(
            403,
            "approver_is_claimant",
            f"you claimed task {task['ref']!r}: another coordinator must {decision} it",
        )


def claim(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Claim an open task. Errors: 404 `task_not_found`, 409 `task_not_open`."""
    with transaction(ctx.db):
        task = task_row(ctx, ref)
        if task["status"] != "open":
            raise Refused(409, "task_not_open", f"task {ref!r} is {task['status']}, not open")
        tasks.set_claimed(ctx.db, task["id"], caller.id, ctx.now.isoformat())
    return task_public(ctx, task_row(ctx, ref), caller)


def give_back(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Give a claimed task back (only the citizen who claimed it, before sending it in): it is
    open again, for anyone to claim.

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    with transaction(ctx.db):
        task = claimed_task(ctx, caller, ref)
        tasks.set_open(ctx.db, task["id"])
    return task_public(ctx, task_row(ctx, ref), caller)


def claimed_task(ctx: Context, caller: Caller, ref: str) -> sqlite3.Row:
    """Task `ref`, claimed by `caller` and not sent in yet (call inside a transaction).

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    task = task_row(ctx, ref)
    if task["claimed_by"] is not None and task["claimed_by"] != caller.id:
        raise Refused(403, "not_your_task", f"task {ref!r} was claimed by someone else")
    if task["status"] != "claimed":
        raise Refused(409, "task_not_claimed", f"task {ref!r} is {task['status']}")
    return task


def submit(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Report a claimed task done (only by the citizen who claimed it), without proof (the
    JSON API; the pages send proof in, `domain.proofs.submit`).

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    with transaction(ctx.db):
        task = claimed_task(ctx, caller, ref)
        tasks.set_submitted(ctx.db, task["id"], ctx.now.isoformat())
    return task_public(ctx, task_row(ctx, ref), caller)


def reject(ctx: Context, caller: Caller, ref: str, reason: str = "") -> TaskPublic:
    """Close submitted work without reward, saying why (`reason`, shown to the citizen; at
    most 1000 characters, blank allowed); not by the coordinator who published or claimed it
    while `separation_of_duties` holds. Recorded in the staff log as `task.reject`.

    Errors: 404 `task_not_found`; 403 `approver_is_publisher`, `approver_is_claimant`; 409
    `task_not_submitted`; 422 `reason_too_long`."""
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise Refused(422, "reason_too_long", f"a reason has at most {REASON_MAX} characters")
    with transaction(ctx.db):
        task = task_row(ctx, ref)
        check_duties(ctx, caller, task, "reject")
        if task["status"] != "submitted":
            raise Refused(409, "task_not_submitted", f"task {ref!r} is {task['status']}")
        tasks.set_rejected(ctx.db, task["id"], caller.id, ctx.now.isoformat(), reason)
        staff_log.record(ctx, caller, "task.reject", ref, reason, reward=int(task["reward"]))
    return task_public(ctx, task_row(ctx, ref), caller)

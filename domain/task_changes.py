"""Changing a published task (coordinators): `edit` an open task, `withdraw` one that is open
or claimed. Each change is recorded in the staff log in its own transaction. Publishing,
claiming and deciding are in `domain.tasks`."""

from __future__ import annotations

import sqlite3
from typing import Any

from domain import staff_log
from domain.allowance import check_per_hour
from domain.context import Caller, Context
from domain.schemas import TaskEdit, TaskPublic
from domain.tasks import REASON_MAX, require_coordinator, task_public
from heitje.errors import Refused
from heitje.money import parse_heit
from store import tasks
from store.db import transaction


def _task(ctx: Context, ref: str) -> sqlite3.Row:
    row = tasks.get(ctx.db, ref)
    if row is None:
        raise Refused(404, "task_not_found", f"no published task {ref!r}")
    return row


def edit(ctx: Context, caller: Caller, ref: str, body: TaskEdit) -> TaskPublic:
    """Change an open task (coordinators; recorded as `task.edit` with the fields changed,
    old and new). The reward per hour is checked as at publishing.

    Only the coordinator who published it changes it: another could otherwise raise the
    reward of a colleague's task and then approve it alone (the publisher never approves,
    `separation_of_duties`). Another coordinator withdraws it and publishes a new one.

    Errors: 403 `forbidden`, `not_publisher`; 404 `task_not_found`; 409 `task_not_open`; 422
    `invalid_amount`, `reward_per_hour_exceeded`."""
    require_coordinator(caller)
    reward = parse_heit(body.reward)
    check_per_hour(reward, body.estimated_minutes, ctx.settings.max_per_hour_units())
    new: dict[str, Any] = {
        "title": body.title,
        "description": body.description,
        "reward": reward,
        "estimated_minutes": body.estimated_minutes,
        "place": body.place,
        "neighbourhood": body.neighbourhood,
        "deadline": body.deadline.isoformat() if body.deadline else None,
        "people": body.people,
        "materials": body.materials,
    }
    with transaction(ctx.db):
        task = _task(ctx, ref)
        if task["published_by"] != caller.id:
            raise Refused(
                403,
                "not_publisher",
                f"task {ref!r} was published by another coordinator: only they change it",
            )
        if task["status"] != "open":
            raise Refused(409, "task_not_open", f"task {ref!r} is {task['status']}, not open")
        changed = {k: v for k, v in new.items() if task[k] != v}
        if changed:
            tasks.update(ctx.db, int(task["id"]), changed)
            staff_log.record(
                ctx,
                caller,
                "task.edit",
                ref,
                changes={k: {"old": task[k], "new": v} for k, v in changed.items()},
            )
    return task_public(ctx, _task(ctx, ref), caller)


def withdraw(ctx: Context, caller: Caller, ref: str, reason: str) -> TaskPublic:
    """Withdraw a task that is open or claimed (coordinators), saying why: nobody can take it
    or send it in any more; a citizen who had claimed it sees it `withdrawn` with `reason` (1
    to 1000 characters). Work sent in already is judged (approve or reject), not withdrawn.
    Recorded as `task.withdraw`.

    Errors: 403 `forbidden`; 404 `task_not_found`; 409 `task_not_withdrawable`; 422
    `reason_required`, `reason_too_long`."""
    require_coordinator(caller)
    reason = reason.strip()
    if not reason:
        raise Refused(422, "reason_required", "say why the task is withdrawn")
    if len(reason) > REASON_MAX:
        raise Refused(422, "reason_too_long", f"a reason has at most {REASON_MAX} characters")
    with transaction(ctx.db):
        task = _task(ctx, ref)
        if task["status"] not in ("open", "claimed"):
            raise Refused(
                409,
                "task_not_withdrawable",
                f"task {ref!r} is {task['status']}: only an open or claimed task is withdrawn",
            )
        tasks.set_withdrawn(ctx.db, int(task["id"]), caller.id, ctx.now.isoformat(), reason)
        staff_log.record(
            ctx, caller, "task.withdraw", ref, reason, was=task["status"],
            claimed_by_id=task["claimed_by"],
        )  # fmt: skip
    return task_public(ctx, _task(ctx, ref), caller)

"""The task lifecycle: publish -> claim -> submit -> approve (reward minted) or reject.

Approval checks the yearly reward cap (calendar year of the approval, in the approval time's
own offset), then writes the task state and a mint intent in one database transaction; the
outbox dispatcher sends the mint. A task is rewarded at most once (database and contract both).
"""

from __future__ import annotations

import sqlite3

from domain.context import Caller, Context
from domain.schemas import TaskCreate, TaskPublic
from heitje.errors import Refused
from heitje.money import format_heit, parse_heit
from node.contract import task_ref
from store import outbox, tasks
from store.db import transaction

STATUSES = ("open", "claimed", "submitted", "approved", "rejected")


def _public(row: sqlite3.Row) -> TaskPublic:
    return TaskPublic(
        ref=row["ref"],
        kind=row["kind"],
        title=row["title"],
        reward=format_heit(row["reward"]),
        neighbourhood=row["neighbourhood"],
        status=row["status"],
        claimed_by=row["claimed_by_name"],
        reward_status=row["reward_status"],
        reward_tx=row["reward_tx"],
    )


def _task(ctx: Context, ref: str) -> sqlite3.Row:
    row = tasks.get(ctx.db, ref)
    if row is None:
        raise Refused(404, "task_not_found", f"no published task {ref!r}")
    return row


def publish(ctx: Context, caller: Caller, body: TaskCreate) -> TaskPublic:
    """Publish a task; `reward` is HEIT with at most two decimals.

    Errors: 409 `task_already_published`; 422 `invalid_amount`.
    """
    reward = parse_heit(body.reward)
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
        )
    return _public(_task(ctx, body.ref))


def list_tasks(
    ctx: Context, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[TaskPublic]:
    """Tasks newest first, optionally only those with `status`; `limit` is kept in 1..500."""
    limit = max(1, min(limit, 500))
    return [_public(r) for r in tasks.listing(ctx.db, status, limit, offset)]


def get_task(ctx: Context, ref: str) -> TaskPublic:
    """One task with its reward status. Errors: 404 `task_not_found`."""
    return _public(_task(ctx, ref))


def claim(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Claim an open task. Errors: 404 `task_not_found`, 409 `task_not_open`."""
    with transaction(ctx.db):
        task = _task(ctx, ref)
        if task["status"] != "open":
            raise Refused(409, "task_not_open", f"task {ref!r} is {task['status']}, not open")
        tasks.set_claimed(ctx.db, task["id"], caller.id, ctx.now.isoformat())
    return _public(_task(ctx, ref))


def submit(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Report a claimed task done (only by the citizen who claimed it).

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    with transaction(ctx.db):
        task = _task(ctx, ref)
        if task["claimed_by"] is not None and task["claimed_by"] != caller.id:
            raise Refused(403, "not_your_task", f"task {ref!r} was claimed by someone else")
        if task["status"] != "claimed":
            raise Refused(409, "task_not_claimed", f"task {ref!r} is {task['status']}")
        tasks.set_submitted(ctx.db, task["id"], ctx.now.isoformat())
    return _public(_task(ctx, ref))


def approve(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Approve submitted work: the reward is minted to the citizen.

    Refused when the citizen's approved rewards in the calendar year of `ctx.now` plus this
    reward would pass the yearly cap. The task state and the mint intent are written in one
    transaction; `reward_status` then follows the mint (pending -> sent -> confirmed).

    Errors: 404 `task_not_found`; 409 `task_already_approved`, `task_not_submitted`;
    422 `annual_cap_exceeded`.
    """
    with transaction(ctx.db):
        task = _task(ctx, ref)
        if task["status"] == "approved":
            raise Refused(409, "task_already_approved", f"task {ref!r} is already approved")
        if task["status"] != "submitted":
            raise Refused(409, "task_not_submitted", f"task {ref!r} is {task['status']}")
        year = ctx.now.year
        earned = tasks.approved_rewards(ctx.db, task["claimed_by"], year)
        cap = ctx.settings.cap_units()
        if earned + task["reward"] > cap:
            raise Refused(
                422,
                "annual_cap_exceeded",
                f"{task['claimed_by_name']} has {format_heit(earned)} HEIT in {year}; "
                f"{format_heit(task['reward'])} more would pass the cap of {format_heit(cap)}",
            )
        tasks.set_approved(ctx.db, task["id"], caller.id, ctx.now.isoformat(), year)
        outbox.add_mint(
            ctx.db,
            task["claimed_by"],
            task["id"],
            task["claimed_by_address"],
            task["reward"],
            "0x" + task_ref(f"{task['id']}:{task['ref']}").hex(),
        )
    ctx.wake()
    return _public(_task(ctx, ref))


def reject(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Close submitted work without reward. Errors: 404 `task_not_found`,
    409 `task_not_submitted`."""
    with transaction(ctx.db):
        task = _task(ctx, ref)
        if task["status"] != "submitted":
            raise Refused(409, "task_not_submitted", f"task {ref!r} is {task['status']}")
        tasks.set_rejected(ctx.db, task["id"], caller.id, ctx.now.isoformat())
    return _public(_task(ctx, ref))

"""The task lifecycle: publish -> claim -> submit -> approve (reward minted) or reject.

Approval checks the yearly reward cap (calendar year of the approval, in the approval time's
own offset), then writes the task state and a mint intent in one database transaction; the
dispatcher sends the mint. A task is rewarded at most once (database and contract both).
"""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Request

from api.accounts import now_iso
from api.db import transaction
from api.deps import CitizenUser, CoordinatorUser, NowDep, SessionDep, SettingsDep
from api.errors import ApiError
from api.schemas import ErrorPublic, TaskCreate, TaskPublic
from heitje.money import format_heit, parse_heit
from node.contract import task_ref

router = APIRouter(prefix="/tasks", tags=["tasks"])

_ERRORS: dict[int | str, dict[str, object]] = {
    403: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}

_SELECT = (
    "SELECT t.*, c.username AS claimed_by_name, i.status AS reward_status, "
    "i.tx_hash AS reward_tx FROM tasks t LEFT JOIN users c ON c.id = t.claimed_by "
    "LEFT JOIN intents i ON i.task_id = t.id "
)


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


def _task(conn: sqlite3.Connection, ref: str) -> sqlite3.Row:
    row = conn.execute(_SELECT + "WHERE t.ref = ?", (ref,)).fetchone()
    if row is None:
        raise ApiError(404, "task_not_found", f"no published task {ref!r}")
    found: sqlite3.Row = row
    return found


@router.post("", status_code=201, responses=_ERRORS)
def publish(body: TaskCreate, conn: SessionDep, now: NowDep, user: CoordinatorUser) -> TaskPublic:
    """Publish a task (coordinators). `reward` is HEIT with at most two decimals.

    Errors: 403 `forbidden`; 409 `task_already_published`; 422 `invalid_amount`.
    """
    reward = parse_heit(body.reward)
    with transaction(conn):
        if conn.execute("SELECT 1 FROM tasks WHERE ref = ?", (body.ref,)).fetchone():
            raise ApiError(409, "task_already_published", f"task {body.ref!r} is published")
        conn.execute(
            "INSERT INTO tasks (ref, kind, title, reward, neighbourhood, status, published_by, "
            "published_at) VALUES (?,?,?,?,?,'open',?,?)",
            (body.ref, body.kind, body.title, reward, body.neighbourhood, user.id, now.isoformat()),
        )
    return _public(_task(conn, body.ref))


@router.get("")
def list_tasks(
    conn: SessionDep, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[TaskPublic]:
    """Tasks, newest first, optionally by `status` (open, claimed, submitted, approved,
    rejected). Public: citizens browse open tasks."""
    limit = max(1, min(limit, 500))
    if status:
        rows = conn.execute(
            _SELECT + "WHERE t.status = ? ORDER BY t.id DESC LIMIT ? OFFSET ?",
            (status, limit, offset),
        ).fetchall()
    else:
        rows = conn.execute(
            _SELECT + "ORDER BY t.id DESC LIMIT ? OFFSET ?", (limit, offset)
        ).fetchall()
    return [_public(r) for r in rows]


@router.get("/{ref}", responses=_ERRORS)
def get_task(ref: str, conn: SessionDep) -> TaskPublic:
    """One task with its reward status. Errors: 404 `task_not_found`."""
    return _public(_task(conn, ref))


@router.post("/{ref}/claim", responses=_ERRORS)
def claim(ref: str, conn: SessionDep, now: NowDep, user: CitizenUser) -> TaskPublic:
    """Claim an open task (citizens). Errors: 404 `task_not_found`, 409 `task_not_open`."""
    with transaction(conn):
        task = _task(conn, ref)
        if task["status"] != "open":
            raise ApiError(409, "task_not_open", f"task {ref!r} is {task['status']}, not open")
        conn.execute(
            "UPDATE tasks SET status='claimed', claimed_by=?, claimed_at=? WHERE id=?",
            (user.id, now.isoformat(), task["id"]),
        )
    return _public(_task(conn, ref))


@router.post("/{ref}/submit", responses=_ERRORS)
def submit(ref: str, conn: SessionDep, now: NowDep, user: CitizenUser) -> TaskPublic:
    """Report a claimed task done (only by the citizen who claimed it).

    Errors: 404 `task_not_found`, 403 `not_your_task`, 409 `task_not_claimed`.
    """
    with transaction(conn):
        task = _task(conn, ref)
        if task["claimed_by"] is not None and task["claimed_by"] != user.id:
            raise ApiError(403, "not_your_task", f"task {ref!r} was claimed by someone else")
        if task["status"] != "claimed":
            raise ApiError(409, "task_not_claimed", f"task {ref!r} is {task['status']}")
        conn.execute(
            "UPDATE tasks SET status='submitted', submitted_at=? WHERE id=?",
            (now.isoformat(), task["id"]),
        )
    return _public(_task(conn, ref))


@router.post("/{ref}/approve", responses=_ERRORS)
def approve(
    ref: str,
    conn: SessionDep,
    now: NowDep,
    settings: SettingsDep,
    request: Request,
    user: CoordinatorUser,
) -> TaskPublic:
    """Approve submitted work (coordinators): the reward is minted to the citizen.

    The task state and the mint intent are written in one transaction; `reward_status` follows
    the mint (pending -> sent -> confirmed). Refused when the citizen's approved rewards in the
    calendar year of `now` plus this reward would exceed the yearly cap.

    Errors: 404 `task_not_found`; 409 `task_already_approved`, `task_not_submitted`;
    422 `annual_cap_exceeded`.
    """
    with transaction(conn):
        task = _task(conn, ref)
        if task["status"] == "approved":
            raise ApiError(409, "task_already_approved", f"task {ref!r} is already approved")
        if task["status"] != "submitted":
            raise ApiError(409, "task_not_submitted", f"task {ref!r} is {task['status']}")
        year = now.year
        earned = conn.execute(
            "SELECT COALESCE(SUM(reward), 0) FROM tasks WHERE claimed_by = ? AND "
            "status = 'approved' AND approved_year = ?",
            (task["claimed_by"], year),
        ).fetchone()[0]
        cap = settings.cap_units()
        if earned + task["reward"] > cap:
            raise ApiError(
                422,
                "annual_cap_exceeded",
                f"{task['claimed_by_name']} has {format_heit(earned)} HEIT in {year}; "
                f"{format_heit(task['reward'])} more would pass the cap of {format_heit(cap)}",
            )
        conn.execute(
            "UPDATE tasks SET status='approved', decided_by=?, decided_at=?, approved_year=? "
            "WHERE id=?",
            (user.id, now.isoformat(), year, task["id"]),
        )
        citizen = conn.execute(
            "SELECT address FROM users WHERE id = ?", (task["claimed_by"],)
        ).fetchone()
        conn.execute(
            "INSERT INTO intents (kind, user_id, task_id, account, amount, ref, status, "
            "created_at, updated_at) VALUES ('mint', ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (
                task["claimed_by"],
                task["id"],
                citizen["address"],
                task["reward"],
                "0x" + task_ref(f"{task['id']}:{task['ref']}").hex(),
                now_iso(),
                now_iso(),
            ),
        )
    dispatcher = request.app.state.dispatcher
    if dispatcher is not None:
        dispatcher.wake()
    return _public(_task(conn, ref))


@router.post("/{ref}/reject", responses=_ERRORS)
def reject(ref: str, conn: SessionDep, now: NowDep, user: CoordinatorUser) -> TaskPublic:
    """Close submitted work without reward (coordinators).

    Errors: 404 `task_not_found`, 409 `task_not_submitted`.
    """
    with transaction(conn):
        task = _task(conn, ref)
        if task["status"] != "submitted":
            raise ApiError(409, "task_not_submitted", f"task {ref!r} is {task['status']}")
        conn.execute(
            "UPDATE tasks SET status='rejected', decided_by=?, decided_at=? WHERE id=?",
            (user.id, now.isoformat(), task["id"]),
        )
    return _public(_task(conn, ref))

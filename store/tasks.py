"""Tasks: publish (-> edit) -> claim -> submit -> approve or reject, or withdraw while open or
claimed; rows joined with the usernames of the claimant, the publisher and the first approver,
and the reward's outbox status and last error.

A withdrawn task keeps its stored `status` (open or claimed; the CHECK of `tasks.status` is
older than withdrawal) and has `withdrawn_at` set: every row read here has `status`
'withdrawn' then (the first `status` column of `_SELECT`, which `sqlite3.Row` returns by name),
and `stored_status` the one kept.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from store.db import in_chunks

_SELECT = (
    "SELECT CASE WHEN t.withdrawn_at IS NOT NULL THEN 'withdrawn' ELSE t.status END AS status, "
    "t.status AS stored_status, t.*, c.username AS claimed_by_name, "
    "c.address AS claimed_by_address, p.username AS published_by_name, "
    "f.username AS first_approved_by_name, "
    "i.status AS reward_status, i.tx_hash AS reward_tx, i.last_error AS reward_error "
    "FROM tasks t "
    "LEFT JOIN users c ON c.id = t.claimed_by LEFT JOIN users p ON p.id = t.published_by "
    "LEFT JOIN users f ON f.id = t.first_approved_by LEFT JOIN intents i ON i.task_id = t.id "
)

EDITABLE = (
    "title", "description", "reward", "estimated_minutes", "place", "neighbourhood",
    "deadline", "people", "materials",
)  # fmt: skip
"""Columns an edit of an open task may change."""


def get(conn: sqlite3.Connection, ref: str) -> sqlite3.Row | None:
    """The task `ref` with claimant and reward status, or None."""
    row: sqlite3.Row | None = conn.execute(_SELECT + "WHERE t.ref = ?", (ref,)).fetchone()
    return row


def exists(conn: sqlite3.Connection, ref: str) -> bool:
    """True when task `ref` was published."""
    return conn.execute("SELECT 1 FROM tasks WHERE ref = ?", (ref,)).fetchone() is not None


def insert(
    conn: sqlite3.Connection,
    *,
    ref: str,
    kind: str,
    title: str,
    reward: int,
    neighbourhood: str,
    published_by: int,
    published_at: str,
    place: str = "",
    deadline: str | None = None,
    materials: str = "",
    description: str = "",
    estimated_minutes: int | None = None,
    people: int = 1,
) -> None:
    """Publish an open task; `reward` in base units, `deadline` an ISO date or None,
    `estimated_minutes` whole minutes or None."""
    conn.execute(
        "INSERT INTO tasks (ref, kind, title, reward, neighbourhood, status, published_by, "
        "published_at, place, deadline, materials, description, estimated_minutes, people) "
        "VALUES (?,?,?,?,?,'open',?,?,?,?,?,?,?,?)",
        (
            ref, kind, title, reward, neighbourhood, published_by, published_at, place,
            deadline, materials, description, estimated_minutes, people,
        ),
    )  # fmt: skip


def update(conn: sqlite3.Connection, task_id: int, values: dict[str, Any]) -> None:
    """Change the `EDITABLE` columns named in `values` (reward in base units)."""
    names = [n for n in values if n in EDITABLE]
    if len(names) != len(values):
        raise ValueError(f"not editable: {sorted(set(values) - set(EDITABLE))}")
    if not names:
        return
    sets = ", ".join(f"{n} = ?" for n in names)
    conn.execute(f"UPDATE tasks SET {sets} WHERE id = ?", (*(values[n] for n in names), task_id))


def set_withdrawn(conn: sqlite3.Connection, task_id: int, by: int, at: str, reason: str) -> None:
    """A coordinator withdrew the task (open or claimed), saying why (`reason`)."""
    conn.execute(
        "UPDATE tasks SET withdrawn_at=?, withdrawn_by=?, withdrawal_reason=? WHERE id=?",
        (at, by, reason, task_id),
    )


def listing(
    conn: sqlite3.Connection,
    status: str | None,
    limit: int,
    offset: int,
    *,
    neighbourhood: str | None = None,
    claimed_by: int | None = None,
) -> list[sqlite3.Row]:
    """Tasks newest first, optionally only those with `status`, in `neighbourhood`, claimed
    by user `claimed_by`."""
    where: list[str] = []
    args: list[str | int] = []
    if status == "withdrawn":
        where.append("t.withdrawn_at IS NOT NULL")
    elif status:
        where.append("t.withdrawn_at IS NULL")
    for column, value in (
        ("t.status", status if status and status != "withdrawn" else None),
        ("t.neighbourhood", neighbourhood),
        ("t.claimed_by", claimed_by),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    clause = ("WHERE " + " AND ".join(where) + " ") if where else ""
    return conn.execute(
        _SELECT + clause + "ORDER BY t.id DESC LIMIT ? OFFSET ?", (*args, limit, offset)
    ).fetchall()


def neighbourhoods(conn: sqlite3.Connection, status: str) -> list[str]:
    """The neighbourhoods that have tasks with `status`, sorted ('' left out)."""
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT neighbourhood FROM tasks WHERE status = ? AND neighbourhood != '' "
            "AND withdrawn_at IS NULL ORDER BY neighbourhood",
            (status,),
        )
    ]


def set_claimed(conn: sqlite3.Connection, task_id: int, user_id: int, at: str) -> None:
    """`user_id` claimed the task."""
    conn.execute(
        "UPDATE tasks SET status='claimed', claimed_by=?, claimed_at=? WHERE id=?",
        (user_id, at, task_id),
    )


def set_open(conn: sqlite3.Connection, task_id: int) -> None:
    """The claimant gave the task back: open again, claimed by no one."""
    conn.execute(
        "UPDATE tasks SET status='open', claimed_by=NULL, claimed_at=NULL WHERE id=?", (task_id,)
    )


def set_submitted(conn: sqlite3.Connection, task_id: int, at: str) -> None:
    """The claimant reported the task done."""
    conn.execute("UPDATE tasks SET status='submitted', submitted_at=? WHERE id=?", (at, task_id))


def set_approved(
    conn: sqlite3.Connection, task_id: int, decided_by: int, at: str, year: int
) -> None:
    """A coordinator approved the work; `year` is the calendar year the cap counts it in."""
    conn.execute(
        "UPDATE tasks SET status='approved', decided_by=?, decided_at=?, approved_year=? "
        "WHERE id=?",
        (decided_by, at, year, task_id),
    )


def set_first_approval(conn: sqlite3.Connection, task_id: int, by: int, at: str) -> None:
    """The first of two approvals of a reward at or above the four-eyes threshold."""
    conn.execute(
        "UPDATE tasks SET first_approved_by=?, first_approved_at=? WHERE id=?", (by, at, task_id)
    )


def set_rejected(
    conn: sqlite3.Connection, task_id: int, decided_by: int, at: str, reason: str
) -> None:
    """A coordinator closed the work without reward, saying why (`reason`)."""
    conn.execute(
        "UPDATE tasks SET status='rejected', decided_by=?, decided_at=?, rejection_reason=? "
        "WHERE id=?",
        (decided_by, at, reason, task_id),
    )


YEAR_SUM = (
    "SELECT COALESCE(SUM(reward), 0) FROM tasks WHERE claimed_by = ? AND "
    "status = 'approved' AND approved_year = ?"
)
"""The yearly cap's sum; read from the index tasks_year_rewards alone."""
MONTH_SUM = (
    "SELECT COALESCE(SUM(reward), 0) FROM tasks WHERE claimed_by = ? AND "
    "status = 'approved' AND substr(decided_at, 1, 7) = ?"
)
"""The monthly cap's sum; searched in the index tasks_month_rewards (same expression)."""


def approved_rewards(conn: sqlite3.Connection, user_id: int, year: int) -> int:
    """Base units of rewards approved for `user_id` in calendar year `year`."""
    return int(conn.execute(YEAR_SUM, (user_id, year)).fetchone()[0])


def approved_in_month(conn: sqlite3.Connection, user_id: int, month: str) -> int:
    """Base units of rewards approved for `user_id` in calendar month `month` ("YYYY-MM", of
    the approval time in its own offset, as `decided_at` holds it)."""
    return int(conn.execute(MONTH_SUM, (user_id, month)).fetchone()[0])


def claimant_addresses(conn: sqlite3.Connection, refs: list[str]) -> list[str]:
    """The wallet addresses of the citizens who claimed tasks `refs` (those claimed, with an
    address), each once."""
    out: list[str] = []
    for part, marks in in_chunks(refs):
        out += [
            str(r[0])
            for r in conn.execute(
                "SELECT DISTINCT u.address FROM tasks t JOIN users u ON u.id = t.claimed_by "
                f"WHERE t.ref IN ({marks}) AND u.address IS NOT NULL",
                part,
            )
        ]
    return list(dict.fromkeys(out))


def review_queue(conn: sqlite3.Connection, limit: int) -> list[sqlite3.Row]:
    """Submitted tasks, the longest waiting first (by when they were sent in)."""
    return conn.execute(
        _SELECT + "WHERE t.status = 'submitted' AND t.withdrawn_at IS NULL "
        "ORDER BY t.submitted_at, t.id LIMIT ?",
        (limit,),
    ).fetchall()

"""Tasks: publish -> claim -> submit -> approve or reject; rows joined with the claimant's
username and the reward's outbox status and last error."""

from __future__ import annotations

import sqlite3

_SELECT = (
    "SELECT t.*, c.username AS claimed_by_name, c.address AS claimed_by_address, "
    "i.status AS reward_status, i.tx_hash AS reward_tx, i.last_error AS reward_error "
    "FROM tasks t "
    "LEFT JOIN users c ON c.id = t.claimed_by LEFT JOIN intents i ON i.task_id = t.id "
)


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
) -> None:
    """Publish an open task; `reward` in base units, `deadline` an ISO date or None."""
    conn.execute(
        "INSERT INTO tasks (ref, kind, title, reward, neighbourhood, status, published_by, "
        "published_at, place, deadline, materials) VALUES (?,?,?,?,?,'open',?,?,?,?,?)",
        (
            ref, kind, title, reward, neighbourhood, published_by, published_at, place,
            deadline, materials,
        ),
    )  # fmt: skip


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
    for column, value in (
        ("t.status", status or None),
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
            "ORDER BY neighbourhood",
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


def approved_rewards(conn: sqlite3.Connection, user_id: int, year: int) -> int:
    """Base units of rewards approved for `user_id` in calendar year `year`."""
    return int(
        conn.execute(
            "SELECT COALESCE(SUM(reward), 0) FROM tasks WHERE claimed_by = ? AND "
            "status = 'approved' AND approved_year = ?",
            (user_id, year),
        ).fetchone()[0]
    )

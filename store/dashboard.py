"""Reads of the service database for the municipality's dashboard and open data
(`domain.dashboard`): approved tasks in a time span, whose wallet an address is, and where
citizens live (the neighbourhood they gave at sign-up). Read-only; no names or usernames leave
this module.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from store.db import in_chunks


@dataclass(frozen=True)
class ApprovedTask:
    """An approved task: when (`decided_at`, ISO 8601 with its offset), by which citizen
    (`citizen_id`, None if unknown), the reward (base units), the task's neighbourhood (where
    the job was) and the citizen's (where they live; '' when not given or erased)."""

    decided_at: str
    citizen_id: int | None
    reward: int
    task_neighbourhood: str
    home_neighbourhood: str


def approved_tasks(conn: sqlite3.Connection, since_day: str, until_day: str) -> list[ApprovedTask]:
    """Approved tasks decided on UTC days `since_day` <= day < `until_day` (ISO dates), read
    generously: the stored time may carry another UTC offset, so callers widen the span by a
    day each side and bucket the exact moments themselves. One scan of `tasks` (it has no
    index on `decided_at`; a programme's tasks number in the thousands)."""
    rows = conn.execute(
        "SELECT t.decided_at, t.claimed_by, t.reward, t.neighbourhood, "
        "COALESCE(c.neighbourhood, '') FROM tasks t LEFT JOIN citizens c "
        "ON c.user_id = t.claimed_by WHERE t.status = 'approved' AND t.decided_at IS NOT NULL "
        "AND t.decided_at >= ? AND t.decided_at < ?",
        (since_day, until_day),
    ).fetchall()
    return [
        ApprovedTask(str(r[0]), r[1], int(r[2]), str(r[3]).strip(), str(r[4]).strip()) for r in rows
    ]


def owners(conn: sqlite3.Connection, addresses: list[str]) -> dict[str, int]:
    """address -> user id for the accounts among `addresses` (any address an account ever had
    counts); addresses of no account are left out."""
    found: dict[str, int] = {}
    for chunk, marks in in_chunks(addresses):
        rows = conn.execute(
            f"SELECT address, user_id FROM account_addresses WHERE address IN ({marks})",
            chunk,
        ).fetchall()
        found.update((str(a), int(u)) for a, u in rows)
    return found


def home_neighbourhoods(conn: sqlite3.Connection, user_ids: list[int]) -> dict[int, str]:
    """citizen user id -> the neighbourhood they gave (trimmed; '' when none) for the citizens
    among `user_ids`."""
    found: dict[int, str] = {}
    for chunk, marks in in_chunks(user_ids):
        rows = conn.execute(
            f"SELECT user_id, neighbourhood FROM citizens WHERE user_id IN ({marks})",
            chunk,
        ).fetchall()
        found.update((int(u), str(n).strip()) for u, n in rows)
    return found


def residents(conn: sqlite3.Connection) -> dict[str, int]:
    """neighbourhood (trimmed) -> number of citizens who gave it at sign-up and had work
    approved by a coordinator at least once (accounts anyone can make by signing up do not
    count: else four made-up sign-ups would bring a one-resident name to five)."""
    counts: dict[str, int] = {}
    for name, n in conn.execute(
        "SELECT TRIM(c.neighbourhood), COUNT(*) FROM citizens c WHERE EXISTS (SELECT 1 FROM "
        "tasks t WHERE t.claimed_by = c.user_id AND t.status = 'approved') "
        "GROUP BY TRIM(c.neighbourhood)"
    ):
        counts[str(name)] = counts.get(str(name), 0) + int(n)
    return counts

"""The staff log's table (`staff_log`): one row per staff action, appended, never changed
(triggers refuse UPDATE and DELETE). Times are ISO 8601 UTC text."""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def append(
    conn: sqlite3.Connection,
    at: str,
    actor_id: int,
    actor: str,
    role: str,
    action: str,
    subject: str,
    reason: str,
    detail: dict[str, Any],
) -> int:
    """Append one entry; returns its id. Run it inside the action's own transaction, so the
    entry and the action are written together or not at all."""
    cur = conn.execute(
        "INSERT INTO staff_log (at, actor_id, actor, role, action, subject, reason, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (at, actor_id, actor, role, action, subject, reason, json.dumps(detail, sort_keys=True)),
    )
    return int(cur.lastrowid or 0)


def entries(
    conn: sqlite3.Connection,
    since: str | None = None,
    until: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[sqlite3.Row]:
    """Entries newest first; `since`/`until` compare with `at` (ISO text, `until`
    exclusive), `actor` a username, `action` an exact action or a prefix ending in "."
    ("task." for every task action)."""
    where: list[str] = []
    args: list[str | int] = []
    if since:
        where.append("at >= ?")
        args.append(since)
    if until:
        where.append("at < ?")
        args.append(until)
    if actor:
        where.append("actor = ? COLLATE NOCASE")
        args.append(actor)
    if action:
        if action.endswith("."):
            where.append("substr(action, 1, ?) = ?")
            args.extend([len(action), action])
        else:
            where.append("action = ?")
            args.append(action)
    sql = "SELECT * FROM staff_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
    return list(conn.execute(sql, [*args, limit, offset]))

"""Proofs of tasks: the note a citizen sent in with a task and how many photos came with it
(the photos are files in the data directory, `heitje.datadir.DataDir.proofs`)."""

from __future__ import annotations

import sqlite3


def insert(
    conn: sqlite3.Connection, task_id: int, user_id: int, note: str, photos: int, at: str
) -> None:
    """`user_id` sent in task `task_id` with `note` and `photos` (1..3) photos at `at`."""
    conn.execute(
        "INSERT INTO proofs (task_id, user_id, note, photos, created_at) VALUES (?,?,?,?,?)",
        (task_id, user_id, note, photos, at),
    )


def get(conn: sqlite3.Connection, task_id: int) -> sqlite3.Row | None:
    """The proof of task `task_id` (task_id, user_id, note, photos, created_at), or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT task_id, user_id, note, photos, created_at FROM proofs WHERE task_id = ?",
        (task_id,),
    ).fetchone()
    return row

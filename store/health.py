"""Reads for health checks on `service.sqlite`: what the outbox dispatcher still owes the chain.

An intent is open until it is `confirmed` or `failed`: `pending`, `sent`, and any status added
later for intents still waiting (e.g. `blocked`) all count, so a new status cannot hide work.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class Backlog:
    """Open outbox intents: how many, and `oldest` (the earliest `created_at`, ISO 8601 UTC, as
    the store writes it) or None when there are none."""

    open: int
    oldest: str | None


def backlog(conn: sqlite3.Connection) -> Backlog:
    """The open intents of the outbox (status neither `confirmed` nor `failed`)."""
    row = conn.execute(
        "SELECT COUNT(*), MIN(created_at) FROM intents WHERE status NOT IN ('confirmed','failed')"
    ).fetchone()
    return Backlog(int(row[0]), None if row[1] is None else str(row[1]))

"""The outbox table `intents`: registrations and mints the chain must receive, exactly once.

Statuses: `pending` (not sent, or to be sent again), `sent` (a transaction is journaled for it:
`tx_hash`), `confirmed` (the goal holds on chain), `failed`. The transaction's own fate (signed,
sent, mined, reverted, dropped) is recorded once, in the signer's journal (`node.signer`); an
intent becomes `confirmed` only from that record or from the chain's state. The rules live in
`domain.outbox`; this module is its SQL.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from store.db import now_iso

OPEN = ("pending", "sent")


def add_registration(conn: sqlite3.Connection, user_id: int, address: str, kind: str) -> None:
    """Queue the on-chain registration of `address` as `kind` (citizen or shop)."""
    conn.execute(
        "INSERT INTO intents (kind, user_id, account, account_kind, status, created_at, "
        "updated_at) VALUES ('register', ?, ?, ?, 'pending', ?, ?)",
        (user_id, address, kind, now_iso(), now_iso()),
    )


def add_mint(
    conn: sqlite3.Connection, user_id: int, task_id: int, account: str, amount: int, ref: str
) -> None:
    """Queue the reward mint of task `task_id`: `amount` base units to `account`, task
    reference `ref` (0x hex bytes32). One per task (unique)."""
    conn.execute(
        "INSERT INTO intents (kind, user_id, task_id, account, amount, ref, status, "
        "created_at, updated_at) VALUES ('mint', ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (user_id, task_id, account, amount, ref, now_iso(), now_iso()),
    )


def due(conn: sqlite3.Connection, limit: int = 500) -> list[sqlite3.Row]:
    """Open intents (pending or sent), oldest first."""
    return conn.execute(
        "SELECT * FROM intents WHERE status IN ('pending','sent') ORDER BY id LIMIT ?", (limit,)
    ).fetchall()


def get(conn: sqlite3.Connection, intent_id: int) -> sqlite3.Row | None:
    """One intent row."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM intents WHERE id = ?", (intent_id,)
    ).fetchone()
    return row


def mark_sent(conn: sqlite3.Connection, ids: list[int], tx_hash: str) -> None:
    """The intents `ids` have the journaled transaction `tx_hash` (before its broadcast)."""
    marks = ",".join("?" * len(ids))
    conn.execute(
        "UPDATE intents SET status='sent', tx_hash=?, attempts=attempts+1, "
        f"updated_at=? WHERE id IN ({marks})",
        (tx_hash, now_iso(), *ids),
    )


def mark_confirmed(conn: sqlite3.Connection, intent_id: int) -> None:
    """The intent's goal holds on chain."""
    conn.execute(
        "UPDATE intents SET status='confirmed', updated_at=? WHERE id=?", (now_iso(), intent_id)
    )


def mark_not_sent(conn: sqlite3.Connection, intent_id: int, error: str) -> None:
    """A send was refused before broadcast: count the attempt, keep the reason."""
    conn.execute(
        "UPDATE intents SET attempts=attempts+1, last_error=?, updated_at=? WHERE id=?",
        (error, now_iso(), intent_id),
    )


def mark_pending(conn: sqlite3.Connection, intent_id: int, error: str) -> None:
    """Send the intent again (its transaction reverted or left the chain)."""
    conn.execute(
        "UPDATE intents SET status='pending', last_error=?, updated_at=? WHERE id=?",
        (error, now_iso(), intent_id),
    )


def registration_status(conn: sqlite3.Connection, user_id: int) -> str | None:
    """Status of the account's registration intent, or None when it has none."""
    row = conn.execute(
        "SELECT status FROM intents WHERE user_id = ? AND kind = 'register'", (user_id,)
    ).fetchone()
    return None if row is None else str(row[0])


def has_open(conn: sqlite3.Connection, user_id: int, statuses: tuple[str, ...] = OPEN) -> bool:
    """True when an intent of `user_id` has one of `statuses`."""
    marks = ",".join("?" * len(statuses))
    return (
        conn.execute(
            f"SELECT 1 FROM intents WHERE user_id = ? AND status IN ({marks})",
            (user_id, *statuses),
        ).fetchone()
        is not None
    )


def listing(conn: sqlite3.Connection, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Intents newest first with the account's username (auditor view)."""
    sql = (
        "SELECT i.id, i.kind, u.username, i.account, i.amount, i.ref, i.status, i.tx_hash, "
        "i.attempts, i.last_error, i.created_at FROM intents i JOIN users u ON u.id=i.user_id"
    )
    rows = (
        conn.execute(sql + " WHERE i.status=? ORDER BY i.id DESC LIMIT ?", (status, limit))
        if status
        else conn.execute(sql + " ORDER BY i.id DESC LIMIT ?", (limit,))
    )
    return [dict(r) for r in rows]

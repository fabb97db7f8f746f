"""The outbox table `intents`: registrations and mints the chain must receive, exactly once.

Statuses: `pending` (not sent, or to be sent again), `sent` (a transaction is journaled for it:
`tx_hash`), `blocked` (a send failed: `last_error` says why; tried again from `next_attempt_at`,
unix seconds, after a wait that grows with its `failures`), `confirmed` (the goal holds on
chain), `failed`. The transaction's own fate (signed,
sent, mined, reverted, dropped) is recorded once, in the signer's journal (`node.signer`); an
intent becomes `confirmed` only from that record or from the chain's state. The rules live in
`domain.outbox`; this module is its SQL.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from store.db import in_chunks, now_iso

OPEN = ("pending", "sent", "blocked")
"""Statuses of an intent that is not done yet."""


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


def due(conn: sqlite3.Connection, now: float, limit: int = 2000) -> list[sqlite3.Row]:
    """Intents to work on at `now` (unix seconds), oldest first: every `sent` one (in flight,
    to be followed), and up to `limit` pending ones and blocked ones whose `next_attempt_at`
    has come (however many are in flight, so new work is never held back behind them). The
    `sent` ones carry only `id`, `kind`, `status` and `tx_hash` (thousands may be in flight)."""
    in_flight = conn.execute(
        "SELECT id, kind, status, tx_hash FROM intents WHERE status = 'sent' ORDER BY id"
    ).fetchall()
    to_send = conn.execute(
        "SELECT * FROM intents WHERE status = 'pending' "
        "OR (status = 'blocked' AND next_attempt_at <= ?) ORDER BY id LIMIT ?",
        (now, limit),
    ).fetchall()
    return sorted([*in_flight, *to_send], key=lambda r: int(r["id"]))


def next_attempt_at(conn: sqlite3.Connection) -> float | None:
    """The earliest `next_attempt_at` of a blocked intent (unix seconds), or None."""
    row = conn.execute(
        "SELECT MIN(next_attempt_at) FROM intents WHERE status = 'blocked'"
    ).fetchone()
    return None if row[0] is None else float(row[0])


def unconfirmed_mints(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Mint intents not confirmed yet (pending, sent, blocked), summed per account and
    transaction: `account`, `tx_hash` (that of the sent ones; None for the others), `ref` (one
    task reference of them) and `amount` (base units). A few rows per citizen however many
    rewards are on their way."""
    return conn.execute(
        "SELECT account, CASE WHEN status = 'sent' THEN tx_hash END AS tx_hash, MIN(ref) AS ref, "
        "SUM(amount) AS amount FROM intents "
        "WHERE kind = 'mint' AND status IN ('pending','sent','blocked') "
        "GROUP BY account, CASE WHEN status = 'sent' THEN tx_hash END"
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


def mark_confirmed(conn: sqlite3.Connection, *intent_ids: int) -> None:
    """The intents' goals hold on chain (any error of earlier tries is cleared): one statement,
    so one commit outside a transaction."""
    marks = ",".join("?" * len(intent_ids))
    conn.execute(
        "UPDATE intents SET status='confirmed', last_error=NULL, next_attempt_at=NULL, "
        f"failures=0, updated_at=? WHERE id IN ({marks})",
        (now_iso(), *intent_ids),
    )


def mark_blocked(
    conn: sqlite3.Connection, intent_id: int, error: str, retry_at: float, *, attempted: bool
) -> None:
    """A send failed with `error` ("code: message"): the intent is `blocked` until `retry_at`
    (unix seconds), one more failure counted; `attempted` counts a send attempt too (False when
    `mark_sent` counted it already)."""
    conn.execute(
        "UPDATE intents SET status='blocked', last_error=?, next_attempt_at=?, "
        "failures=failures+1, attempts=attempts+?, updated_at=? WHERE id=?",
        (error, retry_at, 1 if attempted else 0, now_iso(), intent_id),
    )


def mark_pending(conn: sqlite3.Connection, error: str, *intent_ids: int) -> None:
    """Send the intents again (their transaction reverted or left the chain)."""
    marks = ",".join("?" * len(intent_ids))
    conn.execute(
        f"UPDATE intents SET status='pending', last_error=?, updated_at=? WHERE id IN ({marks})",
        (error, now_iso(), *intent_ids),
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


def set_tx_hash(conn: sqlite3.Connection, tx_hash: str, *intent_ids: int) -> None:
    """The intents' transaction is now `tx_hash` (a twin that replaced the first, e.g. after a
    fee bump); nothing else changes."""
    marks = ",".join("?" * len(intent_ids))
    conn.execute(
        f"UPDATE intents SET tx_hash=?, updated_at=? WHERE id IN ({marks})",
        (tx_hash, now_iso(), *intent_ids),
    )


def task_titles(conn: sqlite3.Connection, refs: list[str]) -> dict[str, str]:
    """On-chain task reference (0x hex, lower case, as a mint intent holds it) -> the title of
    the task it rewards, for those of `refs` the service minted."""
    titles: dict[str, str] = {}
    for chunk, marks in in_chunks(refs):
        for ref, title in conn.execute(
            "SELECT i.ref, t.title FROM intents i JOIN tasks t ON t.id = i.task_id "
            f"WHERE i.kind = 'mint' AND i.ref IN ({marks})",
            chunk,
        ):
            titles[str(ref).lower()] = str(title)
    return titles

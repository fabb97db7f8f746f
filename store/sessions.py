"""Sessions, disabled accounts and log-in throttling on `service.sqlite` (`domain.sessions`
holds the rules): sessions by the sha256 of their token, `users.disabled_at`, and
`login_failures`, one row per throttled subject.
"""

from __future__ import annotations

import sqlite3

from store.db import now_iso

# ----- sessions -----


def insert_session(
    conn: sqlite3.Connection,
    token_hash: str,
    user_id: int,
    expires_at: float,
    second_factor_pending: bool = False,
) -> None:
    """Store a session by the hash of its token; `expires_at` in Unix seconds;
    `second_factor_pending`: it counts only once its second factor is given
    (`complete_session`)."""
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, expires_at, second_factor_pending) "
        "VALUES (?,?,?,?)",
        (token_hash, user_id, expires_at, int(second_factor_pending)),
    )


def session_user(
    conn: sqlite3.Connection, token_hash: str, now: float, *, pending: bool = False
) -> sqlite3.Row | None:
    """(id, username, role, name, address) of the live session `token_hash` of an account
    that is not disabled, or None. A session waiting for its second factor counts only with
    `pending` (and then only such a session does)."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT u.id, u.username, u.role, u.name, u.address FROM sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ? "
        "AND u.disabled_at IS NULL AND s.second_factor_pending = ?",
        (token_hash, now, int(pending)),
    ).fetchone()
    return row


def complete_session(conn: sqlite3.Connection, token_hash: str, expires_at: float) -> bool:
    """Mark the session `token_hash` complete (its second factor was given), to expire at
    `expires_at` (Unix seconds); False when there is no such session waiting for one."""
    cur = conn.execute(
        "UPDATE sessions SET second_factor_pending = 0, expires_at = ? "
        "WHERE token_hash = ? AND second_factor_pending = 1",
        (expires_at, token_hash),
    )
    return cur.rowcount == 1


def delete_session(conn: sqlite3.Connection, token_hash: str) -> None:
    """End one session."""
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def delete_sessions(conn: sqlite3.Connection, user_id: int) -> None:
    """End every session of `user_id`."""
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


def purge_sessions(conn: sqlite3.Connection, now: float) -> int:
    """Delete every session that expired at or before `now` (Unix seconds); returns how many."""
    return conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,)).rowcount


# ----- disabled accounts -----


def set_disabled(conn: sqlite3.Connection, user_id: int, disabled: bool) -> None:
    """Disable `user_id` (now) and delete its sessions, or enable it again. Run it inside the
    caller's transaction, so both happen or neither."""
    if disabled:
        conn.execute(
            "UPDATE users SET disabled_at = COALESCE(disabled_at, ?) WHERE id = ?",
            (now_iso(), user_id),
        )
        conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
    else:
        conn.execute("UPDATE users SET disabled_at = NULL WHERE id = ?", (user_id,))


def enabled_admins(conn: sqlite3.Connection) -> list[int]:
    """The ids of every admin account that is not disabled."""
    rows = conn.execute(
        "SELECT id FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id"
    ).fetchall()
    return [int(r["id"]) for r in rows]


# ----- log-in throttling -----
#
# One row per subject (a hash of the account's username or of the client's address):
# `failures` counts the failed log-ins since the subject was last forgotten, `locked_until`
# (Unix seconds) is when the next attempt may be tried; `domain.sessions` works out the lockout.


def login_failures(conn: sqlite3.Connection, subject: str) -> sqlite3.Row | None:
    """(failures, last_failure, locked_until) of `subject`, or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT failures, last_failure, locked_until FROM login_failures WHERE subject = ?",
        (subject,),
    ).fetchone()
    return row


def set_login_failures(
    conn: sqlite3.Connection, subject: str, failures: int, now: float, locked_until: float
) -> None:
    """Store `failures` of `subject`, the last at `now`, locked until `locked_until`."""
    conn.execute(
        "INSERT INTO login_failures VALUES (?,?,?,?) ON CONFLICT (subject) DO UPDATE SET "
        "failures = excluded.failures, last_failure = excluded.last_failure, "
        "locked_until = excluded.locked_until",
        (subject, failures, now, locked_until),
    )


def restamp_login_failure(
    conn: sqlite3.Connection, subject: str, now: float, locked_until: float
) -> None:
    """Move the last failure of `subject` to `now` and its lock to `locked_until`, never
    earlier than they are (a failure counted before its password was checked, stamped again
    when its answer is known)."""
    conn.execute(
        "UPDATE login_failures SET last_failure = MAX(last_failure, ?), "
        "locked_until = MAX(locked_until, ?) WHERE subject = ?",
        (now, locked_until, subject),
    )


def clear_login_failures(conn: sqlite3.Connection, subject: str) -> None:
    """Forget the failures of `subject` (a successful log-in)."""
    conn.execute("DELETE FROM login_failures WHERE subject = ?", (subject,))


def purge_login_failures(conn: sqlite3.Connection, forget_before: float, now: float) -> int:
    """Delete rows whose last failure was before `forget_before` and whose lock has ended at
    `now`; returns how many."""
    return conn.execute(
        "DELETE FROM login_failures WHERE last_failure < ? AND locked_until <= ?",
        (forget_before, now),
    ).rowcount

"""Staff second factors on `service.sqlite` (`domain.second_factor` holds the rules): one
`second_factors` row per staff account that set up an authenticator app (its TOTP secret
sealed under the KEK, when it was confirmed, the last 30-second step whose code was taken) and
its `recovery_codes` (argon2id hashes; a used code keeps its row with `used_at`).
"""

from __future__ import annotations

import sqlite3

# ----- the TOTP secret -----


def enrolment(conn: sqlite3.Connection, user_id: int) -> sqlite3.Row | None:
    """(nonce, ciphertext, key_id, created_at, confirmed_at, last_step) of `user_id`'s
    second factor, or None (never set up, or reset)."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT nonce, ciphertext, key_id, created_at, confirmed_at, last_step "
        "FROM second_factors WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    return row


def start_enrolment(
    conn: sqlite3.Connection, user_id: int, nonce: bytes, ciphertext: bytes, key_id: str, at: str
) -> None:
    """Store a new, unconfirmed secret of `user_id` (replacing an unconfirmed one; a confirmed
    one is never replaced: the row is left as it is)."""
    conn.execute(
        "INSERT INTO second_factors (user_id, nonce, ciphertext, key_id, created_at) "
        "VALUES (?,?,?,?,?) ON CONFLICT (user_id) DO UPDATE SET nonce = excluded.nonce, "
        "ciphertext = excluded.ciphertext, key_id = excluded.key_id, "
        "created_at = excluded.created_at, last_step = -1 "
        "WHERE second_factors.confirmed_at IS NULL",
        (user_id, nonce, ciphertext, key_id, at),
    )


def confirm(conn: sqlite3.Connection, user_id: int, step: int, at: str) -> bool:
    """Mark `user_id`'s secret confirmed at `at` with its first code's `step` taken; False
    when there is no unconfirmed secret (confirmed meanwhile, or reset)."""
    cur = conn.execute(
        "UPDATE second_factors SET confirmed_at = ?, last_step = ? "
        "WHERE user_id = ? AND confirmed_at IS NULL AND last_step < ?",
        (at, step, user_id, step),
    )
    return cur.rowcount == 1


def take_step(conn: sqlite3.Connection, user_id: int, step: int) -> bool:
    """Record that the code of 30-second `step` was taken; False when that step or a later
    one was taken already (a code is never taken twice)."""
    cur = conn.execute(
        "UPDATE second_factors SET last_step = ? "
        "WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?",
        (step, user_id, step),
    )
    return cur.rowcount == 1


def remove(conn: sqlite3.Connection, user_id: int) -> bool:
    """Delete `user_id`'s secret and recovery codes; True when there was a secret."""
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    return conn.execute("DELETE FROM second_factors WHERE user_id = ?", (user_id,)).rowcount > 0


# ----- recovery codes -----


def set_recovery_codes(conn: sqlite3.Connection, user_id: int, hashes: list[str]) -> None:
    """Replace every recovery code of `user_id` with `hashes`."""
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    conn.executemany(
        "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)",
        [(user_id, h) for h in hashes],
    )


def unused_recovery_codes(conn: sqlite3.Connection, user_id: int) -> list[tuple[int, str]]:
    """(id, hash) of each recovery code of `user_id` not used yet."""
    rows = conn.execute(
        "SELECT id, code_hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL "
        "ORDER BY id",
        (user_id,),
    ).fetchall()
    return [(int(r["id"]), str(r["code_hash"])) for r in rows]


def use_recovery_code(conn: sqlite3.Connection, code_id: int, at: str) -> bool:
    """Mark recovery code `code_id` used at `at`; False when it was used already."""
    cur = conn.execute(
        "UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL", (at, code_id)
    )
    return cur.rowcount == 1


def sealed_under(conn: sqlite3.Connection, key_id: str) -> list[sqlite3.Row]:
    """(user_id, nonce, ciphertext) of every TOTP secret sealed under KEK `key_id`."""
    return list(
        conn.execute(
            "SELECT user_id, nonce, ciphertext FROM second_factors WHERE key_id = ?", (key_id,)
        )
    )


def reseal(
    conn: sqlite3.Connection, user_id: int, old_key_id: str, nonce: bytes, ct: bytes, key_id: str
) -> bool:
    """Store a secret sealed anew under `key_id`, when it is still under `old_key_id`."""
    cur = conn.execute(
        "UPDATE second_factors SET nonce = ?, ciphertext = ?, key_id = ? "
        "WHERE user_id = ? AND key_id = ?",
        (nonce, ct, key_id, user_id, old_key_id),
    )
    return cur.rowcount == 1

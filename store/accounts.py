"""Accounts: users, citizens, shops, custodial keys, addresses, key rotations and sessions.

Rows are `sqlite3.Row`; custodial keys are stored encrypted (`domain.security` seals them).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from store.db import now_iso


def username_taken(conn: sqlite3.Connection, username: str) -> bool:
    """True when an account has `username`."""
    return (
        conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone() is not None
    )


def address_taken(conn: sqlite3.Connection, address: str) -> bool:
    """True when an account's current address is `address`."""
    return conn.execute("SELECT 1 FROM users WHERE address = ?", (address,)).fetchone() is not None


def has_admin(conn: sqlite3.Connection) -> bool:
    """True when an admin account exists."""
    return conn.execute("SELECT 1 FROM users WHERE role = 'admin'").fetchone() is not None


def insert_user(
    conn: sqlite3.Connection,
    *,
    username: str,
    role: str,
    password_hash: str,
    name: str,
    address: str | None,
) -> int:
    """Insert a user; returns its id. The address (if any) joins the account's addresses."""
    cur = conn.execute(
        "INSERT INTO users (username, role, password_hash, name, address, created_at) "
        "VALUES (?,?,?,?,?,?)",
        (username, role, password_hash, name, address, now_iso()),
    )
    user_id = int(cur.lastrowid or 0)
    if address is not None:
        add_address(conn, user_id, address)
    return user_id


def add_address(conn: sqlite3.Connection, user_id: int, address: str) -> None:
    """Record that `address` belongs (or belonged) to the account (idempotent)."""
    conn.execute(
        "INSERT OR IGNORE INTO account_addresses VALUES (?,?,?)", (address, user_id, now_iso())
    )


def insert_custodial_key(
    conn: sqlite3.Connection, user_id: int, address: str, nonce: bytes, ciphertext: bytes
) -> None:
    """Store the sealed custodial key of `user_id`."""
    conn.execute(
        "INSERT INTO custodial_keys VALUES (?,?,?,?)", (user_id, address, nonce, ciphertext)
    )


def insert_citizen(conn: sqlite3.Connection, user_id: int, neighbourhood: str) -> None:
    """The citizen details of `user_id`."""
    conn.execute("INSERT INTO citizens VALUES (?,?)", (user_id, neighbourhood))


def insert_shop(
    conn: sqlite3.Connection, user_id: int, category: str, iban: str, bic: str | None
) -> None:
    """The shop details of `user_id`: category and the IBAN (compact) and BIC it is paid on."""
    conn.execute("INSERT INTO shops VALUES (?,?,?,?)", (user_id, category, iban, bic))


def by_username(conn: sqlite3.Connection, username: str) -> sqlite3.Row | None:
    """The user row named `username`, or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM users WHERE username = ?", (username,)
    ).fetchone()
    return row


def by_id(conn: sqlite3.Connection, user_id: int) -> sqlite3.Row | None:
    """The user row with id `user_id`, or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    return row


def addresses(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """Every address the account has had, oldest first (key rotations add one)."""
    rows = conn.execute(
        "SELECT address FROM account_addresses WHERE user_id = ? ORDER BY rowid", (user_id,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def usernames_by_address(conn: sqlite3.Connection) -> dict[str, str]:
    """address -> username, over every address any account has had."""
    return {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT a.address, u.username FROM account_addresses a JOIN users u ON u.id = a.user_id"
        )
    }


def names_by_username(conn: sqlite3.Connection) -> dict[str, str]:
    """username -> display name."""
    return {r[0]: r[1] for r in conn.execute("SELECT username, name FROM users")}


def wallet_accounts(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """(username, role, address) of every account with a wallet, in creation order."""
    return conn.execute(
        "SELECT username, role, address FROM users WHERE address IS NOT NULL ORDER BY id"
    ).fetchall()


def shops(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every shop: username, name, category, address; by name."""
    rows = conn.execute(
        "SELECT u.username, u.name, s.category, u.address FROM users u "
        "JOIN shops s ON s.user_id = u.id ORDER BY u.name"
    ).fetchall()
    return [dict(r) for r in rows]


def custodial_key(conn: sqlite3.Connection, user_id: int) -> sqlite3.Row | None:
    """The sealed custodial key row (address, nonce, ciphertext) of `user_id`, or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM custodial_keys WHERE user_id = ?", (user_id,)
    ).fetchone()
    return row


def sealed_keys(conn: sqlite3.Connection) -> list[tuple[str, bytes, bytes]]:
    """(address, nonce, ciphertext) of every custodial key (for checks and re-keying)."""
    return [
        (str(r[0]), bytes(r[1]), bytes(r[2]))
        for r in conn.execute("SELECT address, nonce, ciphertext FROM custodial_keys")
    ]


# ----- key rotation -----


def pending_rotation(conn: sqlite3.Connection, user_id: int) -> sqlite3.Row | None:
    """The key rotation of `user_id` that started and has not finished, or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM key_rotations WHERE user_id = ?", (user_id,)
    ).fetchone()
    return row


def start_rotation(
    conn: sqlite3.Connection,
    user_id: int,
    new_address: str,
    nonce: bytes,
    ciphertext: bytes,
    reason: str,
) -> None:
    """Store the new sealed key of a rotation before any chain step."""
    conn.execute(
        "INSERT INTO key_rotations VALUES (?,?,?,?,?,?)",
        (user_id, new_address, nonce, ciphertext, reason, now_iso()),
    )


def finish_rotation(conn: sqlite3.Connection, user_id: int, rotation: sqlite3.Row) -> None:
    """Switch the account to the rotation's key (inside the caller's transaction): address,
    custodial key, pending outbox intents; the rotation row is removed."""
    new = rotation["new_address"]
    conn.execute("UPDATE users SET address = ? WHERE id = ?", (new, user_id))
    add_address(conn, user_id, new)
    conn.execute(
        "UPDATE custodial_keys SET address = ?, nonce = ?, ciphertext = ? WHERE user_id = ?",
        (new, rotation["nonce"], rotation["ciphertext"], user_id),
    )
    conn.execute(
        "UPDATE intents SET account = ? WHERE user_id = ? AND status IN ('pending','blocked')",
        (new, user_id),
    )
    conn.execute("DELETE FROM key_rotations WHERE user_id = ?", (user_id,))


def erase_citizen(conn: sqlite3.Connection, user_id: int, *, keep_wallet: bool) -> None:
    """Remove a citizen's personal data (inside the caller's transaction): sessions,
    neighbourhood, name, password; username becomes `erased-<id>`. Without `keep_wallet` the
    custodial key and pending intents go too and the address is cleared."""
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
    conn.execute("DELETE FROM citizens WHERE user_id = ?", (user_id,))
    if not keep_wallet:
        conn.execute("DELETE FROM custodial_keys WHERE user_id = ?", (user_id,))
        conn.execute(
            "DELETE FROM intents WHERE user_id = ? AND status IN ('pending','blocked')", (user_id,)
        )
    conn.execute(
        "UPDATE users SET username = ?, name = '', password_hash = '!', "
        "address = CASE WHEN ? THEN address END WHERE id = ?",
        (f"erased-{user_id}", keep_wallet, user_id),
    )


# ----- sessions -----


def insert_session(
    conn: sqlite3.Connection, token_hash: str, user_id: int, expires_at: float
) -> None:
    """Store a session by the hash of its token; `expires_at` in Unix seconds."""
    conn.execute("INSERT INTO sessions VALUES (?,?,?)", (token_hash, user_id, expires_at))


def session_user(conn: sqlite3.Connection, token_hash: str, now: float) -> sqlite3.Row | None:
    """(id, username, role, name, address) of the live session `token_hash`, or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT u.id, u.username, u.role, u.name, u.address FROM sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ?",
        (token_hash, now),
    ).fetchone()
    return row


def delete_session(conn: sqlite3.Connection, token_hash: str) -> None:
    """End one session."""
    conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def delete_sessions(conn: sqlite3.Connection, user_id: int) -> None:
    """End every session of `user_id`."""
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))

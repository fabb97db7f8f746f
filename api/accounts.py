"""Account helpers shared by routes: look-ups, creation with a custodial key, readiness."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

from eth_account.signers.local import LocalAccount
from fastapi import Response

from api.config import Settings
from api.errors import ApiError
from api.security import (
    DUMMY_HASH,
    hash_password,
    new_custodial_key,
    new_session_token,
    open_custodial_key,
    token_hash,
    verify_password,
)

SESSION_COOKIE = "heitje_session"
"""Name of the HttpOnly session cookie."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_by_username(conn: sqlite3.Connection, username: str) -> sqlite3.Row:
    """The user row, or 404 `unknown_account`."""
    row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    if row is None:
        raise ApiError(404, "unknown_account", f"no account named {username!r}")
    found: sqlite3.Row = row
    return found


def create_user(
    conn: sqlite3.Connection,
    *,
    username: str,
    password: str,
    name: str,
    role: str,
    kek: bytes | None,
    own_address: str | None = None,
) -> int:
    """Insert a user (inside the caller's transaction). With `kek`, also a custodial key and a
    registration intent for the chain; with `own_address` (a shop's own wallet, ownership
    already proven), only the registration intent. Raises 409 `username_taken`,
    `address_taken`."""
    if conn.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
        raise ApiError(409, "username_taken", f"the username {username!r} is taken")
    address = own_address
    if (
        own_address is not None
        and conn.execute("SELECT 1 FROM users WHERE address = ?", (own_address,)).fetchone()
    ):
        raise ApiError(409, "address_taken", f"{own_address} belongs to another account")
    if kek is not None and own_address is None:
        address, nonce, ct = new_custodial_key(kek)
    cur = conn.execute(
        "INSERT INTO users (username, role, password_hash, name, address, created_at) "
        "VALUES (?,?,?,?,?,?)",
        (username, role, hash_password(password), name, address, now_iso()),
    )
    user_id = int(cur.lastrowid or 0)
    if kek is not None and own_address is None:
        conn.execute("INSERT INTO custodial_keys VALUES (?,?,?,?)", (user_id, address, nonce, ct))
    if address is not None:
        conn.execute("INSERT INTO account_addresses VALUES (?,?,?)", (address, user_id, now_iso()))
        conn.execute(
            "INSERT INTO intents (kind, user_id, account, account_kind, status, created_at, "
            "updated_at) VALUES ('register', ?, ?, ?, 'pending', ?, ?)",
            (user_id, address, role, now_iso(), now_iso()),
        )
    return user_id


def account_addresses(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """Every address the account has had, oldest first (key rotations add one)."""
    rows = conn.execute(
        "SELECT address FROM account_addresses WHERE user_id = ? ORDER BY rowid", (user_id,)
    ).fetchall()
    return [str(r[0]) for r in rows]


def is_registered(conn: sqlite3.Connection, user_id: int) -> bool:
    """True once the account's registration on chain is confirmed."""
    row = conn.execute(
        "SELECT status FROM intents WHERE user_id = ? AND kind = 'register'", (user_id,)
    ).fetchone()
    return row is not None and row["status"] == "confirmed"


def custodial_key(conn: sqlite3.Connection, kek: bytes, user_id: int) -> LocalAccount:
    """Decrypt the user's custodial key (in memory only, never returned or logged)."""
    row = conn.execute("SELECT * FROM custodial_keys WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        raise ApiError(409, "no_custodial_wallet", "this account has no custodial wallet")
    return open_custodial_key(kek, row["address"], row["nonce"], row["ciphertext"])


def authenticate(conn: sqlite3.Connection, username: str, password: str) -> sqlite3.Row | None:
    """The user row when `password` is right, else None (same work for unknown users)."""
    row = conn.execute("SELECT * FROM users WHERE username = ?", (username,)).fetchone()
    ok = verify_password(password, row["password_hash"] if row else DUMMY_HASH)
    if row is None or not ok:
        return None
    found: sqlite3.Row = row
    return found


def open_session(
    conn: sqlite3.Connection, settings: Settings, user_id: int, response: Response
) -> tuple[str, int]:
    """Start a session: store the token's hash, set the HttpOnly cookie on `response`.

    Returns (bearer token, lifetime in seconds).
    """
    token = new_session_token()
    ttl = settings.session_hours * 3600
    conn.execute(
        "INSERT INTO sessions VALUES (?,?,?)", (token_hash(token), user_id, time.time() + ttl)
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ttl,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
    )
    return token, ttl

"""Accounts: users, citizens, shops, custodial keys, addresses, key rotations and sessions.

Rows are `sqlite3.Row`; custodial keys are stored encrypted (`domain.security` seals them).
"""

from __future__ import annotations

import sqlite3
import unicodedata
from typing import Any

from store.db import in_chunks, now_iso


def username_key(username: str) -> str:
    """The form usernames are compared in: NFKC-normalised and casefolded (Unicode default
    caseless matching, as PRECIS UsernameCaseMapped), so "Marieke", "MARIEKE" and "marieke" are
    one account. The display form is kept in `users.username`."""
    return unicodedata.normalize("NFKC", username).casefold()


def username_taken(conn: sqlite3.Connection, username: str) -> bool:
    """True when an account has `username`, compared without regard to case."""
    return (
        conn.execute(
            "SELECT 1 FROM users WHERE username_key = ?", (username_key(username),)
        ).fetchone()
        is not None
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
        "INSERT INTO users (username, role, password_hash, name, address, created_at, "
        "username_key) VALUES (?,?,?,?,?,?,?)",
        (username, role, password_hash, name, address, now_iso(), username_key(username)),
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
    conn: sqlite3.Connection,
    user_id: int,
    address: str,
    nonce: bytes,
    ciphertext: bytes,
    key_id: str,
) -> None:
    """Store the sealed custodial key of `user_id`, sealed under the KEK with id `key_id`."""
    conn.execute(
        "INSERT INTO custodial_keys (user_id, address, nonce, ciphertext, key_id) "
        "VALUES (?,?,?,?,?)",
        (user_id, address, nonce, ciphertext, key_id),
    )


def insert_citizen(conn: sqlite3.Connection, user_id: int, neighbourhood: str) -> None:
    """The citizen details of `user_id`."""
    conn.execute("INSERT INTO citizens VALUES (?,?)", (user_id, neighbourhood))


def set_consent(conn: sqlite3.Connection, user_id: int) -> None:
    """Record that `user_id` agreed to the privacy statement now (`users.consented_at`)."""
    conn.execute("UPDATE users SET consented_at = ? WHERE id = ?", (now_iso(), user_id))


def insert_shop(
    conn: sqlite3.Connection, user_id: int, category: str, iban: str, bic: str | None
) -> None:
    """The shop details of `user_id`: category and the IBAN (compact) and BIC it is paid on;
    `pending` until an admin approves it (`set_shop_status`)."""
    conn.execute(
        "INSERT INTO shops (user_id, category, iban, bic, status) VALUES (?,?,?,?,'pending')",
        (user_id, category, iban, bic),
    )


def shop_status(conn: sqlite3.Connection, user_id: int) -> str | None:
    """`pending`, `approved` or `rejected` for the shop `user_id`; None when it is no shop."""
    row = conn.execute("SELECT status FROM shops WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else str(row[0])


def set_shop_status(
    conn: sqlite3.Connection, user_id: int, status: str, reviewed_by: int | None
) -> None:
    """An admin decided the shop's application: `approved` or `rejected`."""
    conn.execute(
        "UPDATE shops SET status = ?, reviewed_by = ?, reviewed_at = ? WHERE user_id = ?",
        (status, reviewed_by, now_iso(), user_id),
    )


def shop_applications(conn: sqlite3.Connection, status: str | None) -> list[dict[str, Any]]:
    """Shops with their application: username, name, category, iban, bic, address, status,
    created_at, reviewed_by (a username), reviewed_at; oldest first, optionally only `status`."""
    sql = (
        "SELECT u.username, u.name, s.category, s.iban, s.bic, u.address, s.status, "
        "u.created_at, r.username AS reviewed_by, s.reviewed_at FROM users u "
        "JOIN shops s ON s.user_id = u.id LEFT JOIN users r ON r.id = s.reviewed_by "
    )
    rows = (
        conn.execute(sql + "WHERE s.status = ? ORDER BY u.id", (status,))
        if status
        else conn.execute(sql + "ORDER BY u.id")
    )
    return [dict(r) for r in rows]


def by_username(conn: sqlite3.Connection, username: str) -> sqlite3.Row | None:
    """The user row named `username` (compared without regard to case), or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM users WHERE username_key = ?", (username_key(username),)
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


def usernames_of(conn: sqlite3.Connection, addresses: list[str]) -> dict[str, str]:
    """address -> username for the accounts among `addresses` (every address an account ever
    had counts); addresses of no account are left out."""
    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    return {
        r[0]: r[1]
        for r in conn.execute(
            "SELECT a.address, u.username FROM account_addresses a JOIN users u "
            f"ON u.id = a.user_id WHERE a.address IN ({marks})",
            wanted,
        )
    }


def names_by_username(conn: sqlite3.Connection, usernames: list[str]) -> dict[str, str]:
    """username -> display name of the accounts among `usernames` (others left out)."""
    out: dict[str, str] = {}
    for part, marks in in_chunks(usernames):
        out.update(
            (str(r[0]), str(r[1]))
            for r in conn.execute(
                f"SELECT username, name FROM users WHERE username IN ({marks})", part
            )
        )
    return out


def wallet_accounts(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """(username, role, address) of every account with a wallet, in creation order."""
    return conn.execute(
        "SELECT username, role, address FROM users WHERE address IS NOT NULL ORDER BY id"
    ).fetchall()


def shops(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every approved shop: username, name, category, address; by name."""
    rows = conn.execute(
        "SELECT u.username, u.name, s.category, u.address FROM users u "
        "JOIN shops s ON s.user_id = u.id WHERE s.status = 'approved' ORDER BY u.name"
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
    key_id: str,
) -> None:
    """Store the new sealed key of a rotation (sealed under the KEK with id `key_id`) before
    any chain step."""
    conn.execute(
        "INSERT INTO key_rotations (user_id, new_address, nonce, ciphertext, reason, created_at, "
        "key_id) VALUES (?,?,?,?,?,?,?)",
        (user_id, new_address, nonce, ciphertext, reason, now_iso(), key_id),
    )


def finish_rotation(conn: sqlite3.Connection, user_id: int, rotation: sqlite3.Row) -> None:
    """Switch the account to the rotation's key (inside the caller's transaction): address,
    custodial key, pending outbox intents; the rotation row is removed."""
    new = rotation["new_address"]
    conn.execute("UPDATE users SET address = ? WHERE id = ?", (new, user_id))
    add_address(conn, user_id, new)
    conn.execute(
        "UPDATE custodial_keys SET address = ?, nonce = ?, ciphertext = ?, key_id = ? "
        "WHERE user_id = ?",
        (new, rotation["nonce"], rotation["ciphertext"], rotation["key_id"], user_id),
    )
    conn.execute(
        "UPDATE intents SET account = ? WHERE user_id = ? AND status IN ('pending','blocked')",
        (new, user_id),
    )
    conn.execute("DELETE FROM key_rotations WHERE user_id = ?", (user_id,))


def erase_citizen(conn: sqlite3.Connection, user_id: int, *, keep_wallet: bool) -> None:
    """Remove a citizen's personal data (inside the caller's transaction): sessions,
    neighbourhood, name, password; username becomes `erased_username(user_id)`. Without
    `keep_wallet` the custodial key and pending intents go too and the address is cleared."""
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
    conn.execute("DELETE FROM citizens WHERE user_id = ?", (user_id,))
    if not keep_wallet:
        conn.execute("DELETE FROM custodial_keys WHERE user_id = ?", (user_id,))
        conn.execute(
            "DELETE FROM intents WHERE user_id = ? AND status IN ('pending','blocked')", (user_id,)
        )
    conn.execute(
        "UPDATE users SET username = ?, username_key = ?, name = '', password_hash = '!', "
        "address = CASE WHEN ? THEN address END WHERE id = ?",
        (erased_username(user_id), username_key(erased_username(user_id)), keep_wallet, user_id),
    )


def erased_username(user_id: int) -> str:
    """The username an erased account keeps: `#erased-<id>`. No account can be made with it
    (usernames start with a letter or digit, `domain.schemas.Username`), so erasure never
    clashes with a sign-up (`ERASED-<id>` is one account with `erased-<id>`)."""
    return f"#erased-{user_id}"


# ----- sign-up throttle -----


def count_signups(conn: sqlite3.Connection, since: float, client: str | None = None) -> int:
    """Sign-ups (citizens and shops) since `since` (unix seconds), all or from `client` only."""
    if client is None:
        row = conn.execute("SELECT COUNT(*) FROM signups WHERE at >= ?", (since,)).fetchone()
    else:
        row = conn.execute(
            "SELECT COUNT(*) FROM signups WHERE client = ? AND at >= ?", (client, since)
        ).fetchone()
    return int(row[0])


def oldest_signup(conn: sqlite3.Connection, since: float, client: str | None = None) -> float:
    """The time (unix seconds) of the oldest sign-up since `since`, all or from `client`."""
    if client is None:
        row = conn.execute("SELECT MIN(at) FROM signups WHERE at >= ?", (since,)).fetchone()
    else:
        row = conn.execute(
            "SELECT MIN(at) FROM signups WHERE client = ? AND at >= ?", (client, since)
        ).fetchone()
    return float(row[0]) if row[0] is not None else since


def record_signup(conn: sqlite3.Connection, client: str, at: float, forget_before: float) -> None:
    """Count a sign-up from `client` at `at`; sign-ups before `forget_before` go."""
    conn.execute("DELETE FROM signups WHERE at < ?", (forget_before,))
    conn.execute("INSERT INTO signups (client, at) VALUES (?, ?)", (client, at))


def by_address(conn: sqlite3.Connection, address: str) -> sqlite3.Row | None:
    """The user whose current wallet address is `address` (checksum form), or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM users WHERE address = ?", (address,)
    ).fetchone()
    return row

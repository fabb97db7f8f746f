"""The key-encryption key's record in `service.sqlite`: its check value (`kek_check`, one row)
and the key id every sealed custodial key carries (`custodial_keys.key_id` and, for a key
rotation that has not finished, `key_rotations.key_id`). `domain.keyring` holds the rules.

A sealed key is a `Sealed` row: which table, the account, the address that is the AES-GCM
associated data, nonce, ciphertext and key id (None for keys sealed before key ids existed).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from store.db import now_iso

TABLES = ("custodial_keys", "key_rotations")

_SEALED = (
    "SELECT 'custodial_keys', user_id, address, nonce, ciphertext, key_id FROM custodial_keys "
    "UNION ALL "
    "SELECT 'key_rotations', user_id, new_address, nonce, ciphertext, key_id FROM key_rotations"
)


@dataclass(frozen=True)
class Sealed:
    """One sealed custodial key (a row of `custodial_keys` or `key_rotations`)."""

    table: str
    user_id: int
    address: str
    nonce: bytes
    ciphertext: bytes
    key_id: str | None


def _sealed(row: sqlite3.Row | tuple[object, ...]) -> Sealed:
    table, user_id, address, nonce, ct, key_id = tuple(row)
    return Sealed(
        str(table),
        int(str(user_id)),
        str(address),
        bytes(nonce),
        bytes(ct),
        None if key_id is None else str(key_id),
    )


def check(conn: sqlite3.Connection) -> sqlite3.Row | None:
    """The KEK check row (key_id, nonce, check_value, created_at), or None before first start."""
    row: sqlite3.Row | None = conn.execute("SELECT * FROM kek_check WHERE id = 1").fetchone()
    return row


def set_check(conn: sqlite3.Connection, key_id: str, nonce: bytes, value: bytes) -> None:
    """Store (or replace) the KEK's id and check value (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO kek_check (id, key_id, nonce, check_value, created_at) VALUES (1,?,?,?,?) "
        "ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce, "
        "check_value = excluded.check_value, created_at = excluded.created_at",
        (key_id, nonce, value, now_iso()),
    )


def key_id_counts(conn: sqlite3.Connection) -> dict[str | None, int]:
    """How many sealed keys (both tables) carry each key id (None: not yet stamped)."""
    counts: dict[str | None, int] = {}
    for key_id, n in conn.execute(f"SELECT key_id, count(*) FROM ({_SEALED}) GROUP BY key_id"):
        counts[None if key_id is None else str(key_id)] = int(n)
    return counts


def sealed_keys(conn: sqlite3.Connection, *, key_id: str | None, limit: int = -1) -> list[Sealed]:
    """Sealed keys under `key_id` (None: not yet stamped), at most `limit` (-1: all)."""
    where = "key_id IS NULL" if key_id is None else "key_id = ?"
    params: tuple[object, ...] = () if key_id is None else (key_id,)
    rows = conn.execute(
        f"SELECT * FROM ({_SEALED}) WHERE {where} LIMIT ?", (*params, limit)
    ).fetchall()
    return [_sealed(r) for r in rows]


def stamp(conn: sqlite3.Connection, key_id: str) -> int:
    """Give every sealed key without a key id the id `key_id`; returns how many."""
    n = 0
    for table in TABLES:
        n += conn.execute(f"UPDATE {table} SET key_id = ? WHERE key_id IS NULL", (key_id,)).rowcount
    return n


def reseal(
    conn: sqlite3.Connection, old: Sealed, nonce: bytes, ciphertext: bytes, key_id: str
) -> bool:
    """Replace the sealed key `old` by (nonce, ciphertext) under `key_id`, only if the row is
    still as read (same table, account, address and ciphertext). True when it was replaced."""
    if old.table not in TABLES:
        raise ValueError(f"not a sealed-key table: {old.table!r}")
    address = "address" if old.table == "custodial_keys" else "new_address"
    cur = conn.execute(
        f"UPDATE {old.table} SET nonce = ?, ciphertext = ?, key_id = ? "
        f"WHERE user_id = ? AND {address} = ? AND ciphertext = ?",
        (nonce, ciphertext, key_id, old.user_id, old.address, old.ciphertext),
    )
    return cur.rowcount == 1

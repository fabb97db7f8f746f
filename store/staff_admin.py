"""What the admin's pages read and write beyond `store.accounts`: the staff accounts with
whether each is switched on, and the shop applications with their KvK number, address and
the reason an application was declined (`shops.decline_reason`).

Times are the store's ISO 8601 UTC text."""

from __future__ import annotations

import sqlite3
from typing import Any

STAFF_ROLES = ("admin", "coordinator", "finance", "auditor")


def staff_accounts(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every staff account (admin, coordinator, finance, auditor): id, username, name, role,
    created_at, disabled_at (None: switched on); by role, then username."""
    marks = ",".join("?" * len(STAFF_ROLES))
    rows = conn.execute(
        "SELECT id, username, name, role, created_at, disabled_at FROM users "
        f"WHERE role IN ({marks}) ORDER BY role, username_key",
        STAFF_ROLES,
    )
    return [dict(r) for r in rows]


def shop_applications(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every shop's application: username, name, category, iban, bic, address (wallet),
    status, created_at, reviewed_by (a username), reviewed_at, kvk, street, house_number,
    postcode, town, decline_reason; pending ones first (oldest first), then the decided ones
    (newest decision first)."""
    rows = conn.execute(
        "SELECT u.username, u.name, s.category, s.iban, s.bic, u.address, s.status, "
        "u.created_at, r.username AS reviewed_by, s.reviewed_at, s.kvk, s.street, "
        "s.house_number, s.postcode, s.town, s.decline_reason FROM users u "
        "JOIN shops s ON s.user_id = u.id LEFT JOIN users r ON r.id = s.reviewed_by "
        "ORDER BY s.status != 'pending', "
        "CASE WHEN s.status = 'pending' THEN u.id ELSE 0 END, "
        "s.reviewed_at DESC, u.id DESC"
    )
    return [dict(r) for r in rows]


def set_decline_reason(conn: sqlite3.Connection, user_id: int, reason: str) -> None:
    """Keep why an admin declined shop `user_id`'s application."""
    conn.execute("UPDATE shops SET decline_reason = ? WHERE user_id = ?", (reason, user_id))


def decline_reason(conn: sqlite3.Connection, user_id: int) -> str | None:
    """Why shop `user_id`'s application was declined ("" when no reason was kept); None when
    it was not declined."""
    row = conn.execute(
        "SELECT decline_reason FROM shops WHERE user_id = ? AND status = 'rejected'", (user_id,)
    ).fetchone()
    return None if row is None else str(row[0] or "")

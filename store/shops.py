"""A shop's own view of the service database: its KvK number and structured address, the
payments it received (with what is refunded of each) and its redemption requests with the
settlement batch that paid each (`store.ledger`'s tables).

Times are the store's ISO 8601 UTC text (`store.db.now_iso`)."""

from __future__ import annotations

import sqlite3

_RECEIVED = (
    "SELECT p.id, p.amount, p.status, p.created_at, u.username AS payer, u.name AS payer_name, "
    "COALESCE((SELECT SUM(r.amount) FROM refund_parts r WHERE r.payment_id = p.id "
    "AND r.status != 'failed'), 0) AS refunded "
    "FROM payments p JOIN users u ON u.id = p.payer_id "
    "WHERE p.payee_id = ? AND p.status != 'failed' AND u.role = 'citizen' "
)

_REDEMPTIONS = (
    "SELECT q.id, q.amount, q.status, q.redemption_id, q.error_code, q.created_at, "
    "b.batch_id, b.file_path, b.execution_date FROM redemption_requests q "
    "LEFT JOIN settled_redemptions s ON s.redemption_id = q.redemption_id "
    "LEFT JOIN settlement_batches b ON b.batch_id = s.batch_id "
    "WHERE q.shop_id = ? AND q.status != 'failed' "
)


def set_details(
    conn: sqlite3.Connection,
    user_id: int,
    kvk: str | None,
    street: str | None,
    house_number: str | None,
    postcode: str | None,
    town: str | None,
) -> None:
    """The KvK number and structured address of shop `user_id` (inside the sign-up's
    transaction)."""
    conn.execute(
        "UPDATE shops SET kvk = ?, street = ?, house_number = ?, postcode = ?, town = ? "
        "WHERE user_id = ?",
        (kvk, street, house_number, postcode, town, user_id),
    )


def details(conn: sqlite3.Connection, user_id: int) -> sqlite3.Row | None:
    """Shop `user_id`'s status, KvK number and address (kvk, street, house_number, postcode,
    town), or None when it is no shop."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT status, kvk, street, house_number, postcode, town FROM shops WHERE user_id = ?",
        (user_id,),
    ).fetchone()
    return row


def received(conn: sqlite3.Connection, shop_id: int, limit: int) -> list[sqlite3.Row]:
    """The last `limit` payments citizens made to `shop_id` that were not refused, newest
    first: id, amount and refunded (base units), status, created_at, payer (username),
    payer_name."""
    return list(conn.execute(_RECEIVED + "ORDER BY p.id DESC LIMIT ?", (shop_id, limit)))


def received_one(conn: sqlite3.Connection, shop_id: int, payment_id: int) -> sqlite3.Row | None:
    """Payment `payment_id` to `shop_id` as `received` gives it, or None."""
    row: sqlite3.Row | None = conn.execute(
        _RECEIVED + "AND p.id = ?", (shop_id, payment_id)
    ).fetchone()
    return row


def received_between(
    conn: sqlite3.Connection, shop_id: int, start: str, end: str
) -> list[sqlite3.Row]:
    """Payments to `shop_id` (as `received`) made at `start` or later and before `end` (ISO
    8601 UTC text), oldest first."""
    return list(
        conn.execute(
            _RECEIVED + "AND p.created_at >= ? AND p.created_at < ? ORDER BY p.id",
            (shop_id, start, end),
        )
    )


def redemptions(conn: sqlite3.Connection, shop_id: int, limit: int) -> list[sqlite3.Row]:
    """The last `limit` redemption requests of `shop_id` the chain did not refuse, newest
    first: id, amount (base
    units), status, redemption_id, error_code, created_at, and batch_id, file_path,
    execution_date of the settlement batch that paid it (NULL when none did yet)."""
    return list(conn.execute(_REDEMPTIONS + "ORDER BY q.id DESC LIMIT ?", (shop_id, limit)))


def redemptions_between(
    conn: sqlite3.Connection, shop_id: int, start: str, end: str
) -> list[sqlite3.Row]:
    """Redemption requests of `shop_id` (as `redemptions`) made at `start` or later and before
    `end` (ISO 8601 UTC text), oldest first."""
    return list(
        conn.execute(
            _REDEMPTIONS + "AND q.created_at >= ? AND q.created_at < ? ORDER BY q.id",
            (shop_id, start, end),
        )
    )

"""Payments (EIP-3009 transfers relayed for custodial payers) and redemption requests."""

from __future__ import annotations

import sqlite3

from store.db import now_iso


def by_idempotency_key(conn: sqlite3.Connection, payer_id: int, key: str) -> sqlite3.Row | None:
    """The payment `payer_id` made with Idempotency-Key `key` (with the payee's username)."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT p.*, u.username AS payee FROM payments p JOIN users u ON u.id = p.payee_id "
        "WHERE p.payer_id=? AND p.idempotency_key=?",
        (payer_id, key),
    ).fetchone()
    return row


def payment(conn: sqlite3.Connection, payment_id: int) -> sqlite3.Row | None:
    """One payment with the payee's username and current address."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT p.*, u.username AS payee, u.address AS payee_address FROM payments p "
        "JOIN users u ON u.id = p.payee_id WHERE p.id=?",
        (payment_id,),
    ).fetchone()
    return row


def redemption(conn: sqlite3.Connection, row_id: int) -> sqlite3.Row | None:
    """One redemption request."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM redemption_requests WHERE id=?", (row_id,)
    ).fetchone()
    return row


def insert_payment(
    conn: sqlite3.Connection,
    payer_id: int,
    payee_id: int,
    amount: int,
    nonce: str,
    idempotency_key: str | None,
) -> int:
    """Record a pending payment (before it is relayed); returns its id. Raises
    `sqlite3.IntegrityError` when the payer used `idempotency_key` before."""
    cur = conn.execute(
        "INSERT INTO payments (payer_id, payee_id, amount, nonce, idempotency_key, status, "
        "created_at) VALUES (?,?,?,?,?,'pending',?)",
        (payer_id, payee_id, amount, nonce, idempotency_key, now_iso()),
    )
    return int(cur.lastrowid or 0)


def set_payment_tx(conn: sqlite3.Connection, payment_id: int, tx_hash: str) -> None:
    """The relayed transaction of a payment."""
    conn.execute("UPDATE payments SET tx_hash=? WHERE id=?", (tx_hash, payment_id))


def confirm_payment(conn: sqlite3.Connection, payment_id: int) -> None:
    """The payment is on chain."""
    conn.execute("UPDATE payments SET status='confirmed' WHERE id=?", (payment_id,))


def fail_payment(conn: sqlite3.Connection, payment_id: int, code: str) -> None:
    """The chain refused the payment with `code`."""
    conn.execute("UPDATE payments SET status='failed', error_code=? WHERE id=?", (code, payment_id))


def insert_redemption(conn: sqlite3.Connection, shop_id: int, amount: int, nonce: str) -> int:
    """Record a pending redemption request; returns its id."""
    cur = conn.execute(
        "INSERT INTO redemption_requests (shop_id, amount, nonce, status, created_at) "
        "VALUES (?,?,?,'pending',?)",
        (shop_id, amount, nonce, now_iso()),
    )
    return int(cur.lastrowid or 0)


def set_redemption_tx(conn: sqlite3.Connection, row_id: int, tx_hash: str) -> None:
    """The relayed transaction of a redemption request."""
    conn.execute("UPDATE redemption_requests SET tx_hash=? WHERE id=?", (tx_hash, row_id))


def confirm_redemption(conn: sqlite3.Connection, row_id: int, redemption_id: int) -> None:
    """The redemption is burned on chain with `redemption_id`."""
    conn.execute(
        "UPDATE redemption_requests SET status='confirmed', redemption_id=? WHERE id=?",
        (redemption_id, row_id),
    )


def fail_redemption(conn: sqlite3.Connection, row_id: int, code: str) -> None:
    """The chain refused the redemption with `code`."""
    conn.execute(
        "UPDATE redemption_requests SET status='failed', error_code=? WHERE id=?", (code, row_id)
    )

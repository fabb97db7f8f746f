"""Payments (EIP-3009 transfers relayed for custodial payers), the refund parts that tie a
refund to the payments it returns, and redemption requests.

`refund_parts` rows: refund `refund_nonce` (the refund's EIP-3009 nonce; `refund_payment_id`
its payment row when relayed for a custodial shop) returns `amount` base units of payment
`payment_id`. A part counts against its payment unless `failed`; a custodial refund's parts
follow its payment row's status (`confirm_payment`, `fail_payment`)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

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
    """The payment is on chain (and so are the refund parts of a refund)."""
    conn.execute("UPDATE payments SET status='confirmed' WHERE id=?", (payment_id,))
    conn.execute(
        "UPDATE refund_parts SET status='confirmed' WHERE refund_payment_id=?", (payment_id,)
    )


def fail_payment(conn: sqlite3.Connection, payment_id: int, code: str) -> None:
    """The chain refused the payment with `code` (a refund's parts no longer count)."""
    conn.execute("UPDATE payments SET status='failed', error_code=? WHERE id=?", (code, payment_id))
    conn.execute("UPDATE refund_parts SET status='failed' WHERE refund_payment_id=?", (payment_id,))


def refunded(conn: sqlite3.Connection, payment_ids: list[int]) -> dict[int, int]:
    """Base units refunded (or being refunded: parts not `failed`) of each of `payment_ids`."""
    out = dict.fromkeys(payment_ids, 0)
    for pid, total in conn.execute(
        "SELECT payment_id, SUM(amount) FROM refund_parts WHERE status != 'failed' AND "
        f"payment_id IN ({','.join('?' * len(payment_ids))}) GROUP BY payment_id",
        payment_ids,
    ):
        out[int(pid)] = int(total)
    return out


def insert_refund_parts(
    conn: sqlite3.Connection,
    refund_nonce: str,
    refund_payment_id: int | None,
    parts: list[tuple[int, int]],
) -> None:
    """Record that the refund `refund_nonce` returns `parts` [(payment id, base units)],
    pending (inside the caller's transaction, with the check of what is left)."""
    conn.executemany(
        "INSERT INTO refund_parts (refund_nonce, payment_id, amount, status, refund_payment_id,"
        " created_at) VALUES (?,?,?,'pending',?,?)",
        [(refund_nonce, pid, units, refund_payment_id, now_iso()) for pid, units in parts],
    )


def set_refund_status(conn: sqlite3.Connection, refund_nonce: str, status: str) -> None:
    """A relayed refund is `confirmed` on chain or `failed` (its parts no longer count)."""
    conn.execute("UPDATE refund_parts SET status=? WHERE refund_nonce=?", (status, refund_nonce))


def refund_parts_of(conn: sqlite3.Connection, refund_payment_id: int) -> list[tuple[int, int]]:
    """[(payment id, base units)] the refund payment `refund_payment_id` returns, by payment id."""
    return [
        (int(pid), int(units))
        for pid, units in conn.execute(
            "SELECT payment_id, amount FROM refund_parts WHERE refund_payment_id=? "
            "ORDER BY payment_id",
            (refund_payment_id,),
        )
    ]


def received(conn: sqlite3.Connection, payee_id: int, payer_id: int) -> list[sqlite3.Row]:
    """Payments `payer_id` made to `payee_id` (not failed), newest first, each with `payer`
    (username) and `refunded` (base units in refund parts that are not failed)."""
    rows: list[sqlite3.Row] = conn.execute(
        "SELECT p.*, u.username AS payer, COALESCE((SELECT SUM(r.amount) FROM refund_parts r "
        "WHERE r.payment_id = p.id AND r.status != 'failed'), 0) AS refunded "
        "FROM payments p JOIN users u ON u.id = p.payer_id "
        "WHERE p.payee_id=? AND p.payer_id=? AND p.status != 'failed' ORDER BY p.id DESC",
        (payee_id, payer_id),
    ).fetchall()
    return rows


def unfollowed(
    conn: sqlite3.Connection, before: float, limit: int
) -> list[tuple[str, sqlite3.Row]]:
    """Pending payments (as `payment` gives them, plus the payer's username and role) and
    pending redemption requests created before Unix time `before`, oldest first, at most
    `limit` of each: ("payment" | "redemption", row)."""
    cutoff = datetime.fromtimestamp(before, UTC).isoformat()
    pays = conn.execute(
        "SELECT p.*, u.username AS payee, u.address AS payee_address, a.username AS payer, "
        "a.role AS payer_role FROM payments p JOIN users u ON u.id = p.payee_id "
        "JOIN users a ON a.id = p.payer_id WHERE p.status = 'pending' AND p.created_at < ? "
        "ORDER BY p.id LIMIT ?",
        (cutoff, limit),
    ).fetchall()
    reds = conn.execute(
        "SELECT * FROM redemption_requests WHERE status = 'pending' AND created_at < ? "
        "ORDER BY id LIMIT ?",
        (cutoff, limit),
    ).fetchall()
    return [("payment", r) for r in pays] + [("redemption", r) for r in reds]


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

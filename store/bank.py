"""The bank's feedback in `service.sqlite`: files imported, their lines, and payments paid.

Tables (`store.db.SCHEMA`, migration `_m_bank_feedback`):

- `bank_files`: one row per imported camt.053 statement or pain.002 status report (`kind`,
  ISO 20022 `message`, the file's `message_id`, `file_name`, `file_sha256` UNIQUE: a file is
  imported once, `imported_at`, `imported_by`);
- `bank_bookings`: one row per booking (camt.053 entry or transaction detail) or status
  (pain.002) of a file, with the end-to-end id, amount (euro cents), direction, status, booking
  date, the settlement batch it matched and its `outcome` (`paid`, `paid_twice`,
  `wrong_account`, `iban_differs`, `accepted`, `rejected`, `unknown`, `amount_differs`,
  `not_booked`, `returned`, `duplicate`);
- `bank_paid_payments`: per payment of a settlement batch (end-to-end id, PRIMARY KEY: paid
  once) the day the bank booked it (`paid_on`) and the booking that said so.

A redemption is paid on `paid_on` of the payment (`settled_redemptions.end_to_end_id`) that
paid it. Writes run inside the caller's `store.db.transaction`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass

from store.db import in_chunks


@dataclass(frozen=True)
class BookingRow:
    """A `bank_bookings` row to insert (no id, no file id)."""

    line: int
    entry_ref: str | None
    end_to_end_id: str | None
    amount_cents: int | None
    currency: str | None
    direction: str | None
    status: str
    reason: str
    booking_date: str | None
    batch_id: str | None
    outcome: str


@dataclass(frozen=True)
class LedgerPayment:
    """A payment of a settlement batch as the ledger knows it: its batch, shop (address), the
    base units of its redemptions, their count and the batch's rate."""

    end_to_end_id: str
    batch_id: str
    shop: str
    units: int
    redemptions: int
    eur_per_heitje: str | None


def file_by_sha256(conn: sqlite3.Connection, sha256: str) -> sqlite3.Row | None:
    """The `bank_files` row of the file with this sha256 (hex), or None."""
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM bank_files WHERE file_sha256 = ?", (sha256,)
    ).fetchone()
    return row


def add_file(
    conn: sqlite3.Connection,
    kind: str,
    message: str,
    message_id: str,
    file_name: str,
    sha256: str,
    imported_at: str,
    imported_by: str,
) -> int:
    """Insert a `bank_files` row; its id."""
    cur = conn.execute(
        "INSERT INTO bank_files (kind, message, message_id, file_name, file_sha256,"
        " imported_at, imported_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (kind, message, message_id, file_name, sha256, imported_at, imported_by),
    )
    return int(cur.lastrowid or 0)


def add_booking(conn: sqlite3.Connection, file_id: int, row: BookingRow) -> int:
    """Insert a `bank_bookings` row of file `file_id`; its id."""
    cur = conn.execute(
        "INSERT INTO bank_bookings (file_id, line, entry_ref, end_to_end_id, amount_cents,"
        " currency, direction, status, reason, booking_date, batch_id, outcome)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (file_id, *astuple(row)),
    )
    return int(cur.lastrowid or 0)


def bookings(conn: sqlite3.Connection, file_id: int) -> list[BookingRow]:
    """The lines of file `file_id`, in file order."""
    return [
        BookingRow(*r)
        for r in conn.execute(
            "SELECT line, entry_ref, end_to_end_id, amount_cents, currency, direction, status,"
            " reason, booking_date, batch_id, outcome FROM bank_bookings WHERE file_id = ?"
            " ORDER BY line",
            (file_id,),
        )
    ]


def entry_ref_seen(conn: sqlite3.Connection, kind: str, entry_ref: str, e2e: str | None) -> bool:
    """True when a file of `kind` imported earlier holds a line with this entry reference and
    end-to-end id (the same booking, in another statement file)."""
    row = conn.execute(
        "SELECT 1 FROM bank_bookings b JOIN bank_files f ON f.id = b.file_id"
        " WHERE f.kind = ? AND b.entry_ref = ? AND b.end_to_end_id IS ?",
        (kind, entry_ref, e2e),
    ).fetchone()
    return row is not None


def ledger_payments(conn: sqlite3.Connection, e2e_ids: Iterable[str]) -> dict[str, LedgerPayment]:
    """The settlement ledger's payments with these end-to-end ids (unknown ones left out)."""
    out: dict[str, LedgerPayment] = {}
    for chunk, marks in in_chunks(e2e_ids):
        for e2e, batch_id, shop, units, count, rate in conn.execute(
            "SELECT s.end_to_end_id, s.batch_id, MIN(s.shop), SUM(s.amount), COUNT(*),"
            " b.eur_per_heitje FROM settled_redemptions s"
            " JOIN settlement_batches b ON b.batch_id = s.batch_id"
            f" WHERE s.end_to_end_id IN ({marks}) GROUP BY s.end_to_end_id",
            chunk,
        ):
            out[str(e2e)] = LedgerPayment(
                str(e2e), str(batch_id), str(shop), int(units), int(count), rate
            )
    return out


def batch_payments(conn: sqlite3.Connection, batch_id: str) -> list[str]:
    """The end-to-end ids of batch `batch_id`'s payments, ascending."""
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT end_to_end_id FROM settled_redemptions WHERE batch_id = ?"
            " AND end_to_end_id IS NOT NULL ORDER BY end_to_end_id",
            (batch_id,),
        )
    ]


def batch_total(conn: sqlite3.Connection, batch_id: str) -> int | None:
    """Batch `batch_id`'s total euro cents, or None when the ledger lacks it."""
    row = conn.execute(
        "SELECT total_cents FROM settlement_batches WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    return None if row is None else int(row[0])


def batch_file(conn: sqlite3.Connection, batch_id: str) -> str | None:
    """The payment file (pain.001, path relative to the data directory) the ledger records for
    batch `batch_id`, or None."""
    row = conn.execute(
        "SELECT file_path FROM settlement_batches WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    return None if row is None or not row[0] else str(row[0])


def paid_on(conn: sqlite3.Connection, e2e: str) -> str | None:
    """The day (ISO) payment `e2e` was booked as paid, or None."""
    row = conn.execute(
        "SELECT paid_on FROM bank_paid_payments WHERE end_to_end_id = ?", (e2e,)
    ).fetchone()
    return None if row is None else str(row[0])


def mark_paid(conn: sqlite3.Connection, e2e: str, batch_id: str, day: str, booking_id: int) -> None:
    """Payment `e2e` of `batch_id` was booked on `day` (ISO) by booking `booking_id`."""
    conn.execute(
        "INSERT INTO bank_paid_payments (end_to_end_id, batch_id, paid_on, booking_id)"
        " VALUES (?, ?, ?, ?)",
        (e2e, batch_id, day, booking_id),
    )


def redemptions_of(conn: sqlite3.Connection, e2e_ids: Sequence[str]) -> int:
    """How many settled redemptions the payments `e2e_ids` paid."""
    total = 0
    for chunk, marks in in_chunks(e2e_ids):
        row = conn.execute(
            f"SELECT COUNT(*) FROM settled_redemptions WHERE end_to_end_id IN ({marks})", chunk
        ).fetchone()
        total += int(row[0])
    return total


def redemptions_paid_on(conn: sqlite3.Connection, redemption_ids: Iterable[int]) -> dict[int, str]:
    """Redemption id -> the day (ISO) the bank booked the payment that paid it, for those of
    `redemption_ids` that are booked; {} when the database has no bank tables yet."""
    ids = set(redemption_ids)
    if not ids or not _has_tables(conn):
        return {}
    out: dict[int, str] = {}
    for chunk, marks in in_chunks(ids):
        for rid, day in conn.execute(
            "SELECT s.redemption_id, p.paid_on FROM settled_redemptions s"
            " JOIN bank_paid_payments p ON p.end_to_end_id = s.end_to_end_id"
            f" WHERE s.redemption_id IN ({marks})",
            chunk,
        ):
            out[int(rid)] = str(day)
    return out


def paid_by_batch(conn: sqlite3.Connection) -> dict[str, int]:
    """Batch id -> how many of its payments are booked as paid."""
    if not _has_tables(conn):
        return {}
    return {
        str(b): int(n)
        for b, n in conn.execute(
            "SELECT batch_id, COUNT(*) FROM bank_paid_payments GROUP BY batch_id"
        )
    }


def files(conn: sqlite3.Connection, limit: int = 50) -> list[sqlite3.Row]:
    """The last `limit` imported files, newest first, with their line and paid counts."""
    if not _has_tables(conn):
        return []
    return list(
        conn.execute(
            "SELECT f.*, (SELECT COUNT(*) FROM bank_bookings b WHERE b.file_id = f.id) AS lines,"
            " (SELECT COUNT(*) FROM bank_bookings b WHERE b.file_id = f.id"
            " AND b.outcome = 'paid') AS paid FROM bank_files f ORDER BY f.id DESC LIMIT ?",
            (limit,),
        )
    )


def _has_tables(conn: sqlite3.Connection) -> bool:
    names = {
        str(r[0])
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN"
            " ('bank_paid_payments', 'settled_redemptions')"
        )
    }
    return len(names) == 2

"""The bank's feedback on settlement files: camt.053 statements and pain.002 status reports.

`read_bank_file` (`domain.settlement.bankfiles`) parses either into `BankLine`s: camt.053.001.02
to .08 and pain.002.001.03 to .10, hardened against hostile input (size limit, no DOCTYPE or
entities, no network).

`import_bank_file` matches every line by end-to-end id to a payment of a settlement batch
(`store.ledger`'s `settled_redemptions.end_to_end_id`) and records the file, its lines and the
payments now paid (`store.bank`), all in one transaction:

- camt.053, a booked (`BOOK`) debit of exactly the payment's euro cents: `paid` on its booking
  date (the shop's redemptions show "paid on"); booked already by another line: `already_paid`;
  a different amount or currency: `amount_differs`; not booked (`PDNG`, `INFO`):
  `not_booked`; a credit carrying our end-to-end id (money came back): `returned`;
  a booking of the whole batch (batch booking, `Btch` with the batch id, no end-to-end ids) of
  exactly the batch's total: every payment of the batch `paid`;
- pain.002, per transaction (or for the whole batch when the bank reports only a group or
  payment-information status): `RJCT` -> `rejected` (with the reason code), any other status ->
  `accepted` (a status report says nothing about the booking day);
- an end-to-end id the ledger does not know: `unknown`; the same booking (entry reference and
  end-to-end id) already imported from another statement: `duplicate`.

The same file (by sha256) imported again changes nothing: its first import is returned with
`already_imported` set.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from domain.settlement.bankfiles import MAX_BANK_FILE_BYTES as MAX_BANK_FILE_BYTES
from domain.settlement.bankfiles import BankLine
from domain.settlement.bankfiles import InvalidBankFile as InvalidBankFile
from domain.settlement.bankfiles import read_bank_file as read_bank_file
from heitje.money import units_to_cents
from store import bank, ledger
from store.db import transaction

KINDS = ("camt.053", "pain.002")
NOT_MATCHED = ("unknown", "amount_differs", "rejected", "returned", "not_booked", "duplicate")
"""Outcomes listed as "does not match" for finance to look into."""


@dataclass(frozen=True)
class ImportedLine:
    """A line as imported: its place (`line`, from 1), what the bank said, the settlement batch
    it matched (`batch_id`), the `outcome` and the payments it marked paid (`paid`, end-to-end
    ids)."""

    line: int
    end_to_end_id: str | None
    batch_id: str | None
    cents: int | None
    currency: str | None
    direction: str | None
    status: str
    reason: str
    booking_date: str | None
    outcome: str
    paid: tuple[str, ...] = ()


@dataclass(frozen=True)
class BankImport:
    """The result of an import: the file (`file_id`, `kind`, `message`, `message_id`,
    `sha256`), whether it had been imported before (`already_imported`: nothing changed now),
    every line, and the payments (`paid`, end-to-end ids) and `paid_redemptions` marked paid."""

    file_id: int
    kind: str
    message: str
    message_id: str
    sha256: str
    already_imported: bool
    lines: list[ImportedLine] = field(default_factory=list)
    paid: tuple[str, ...] = ()
    paid_redemptions: int = 0

    @property
    def unmatched(self) -> list[ImportedLine]:
        """The lines finance must look into (`NOT_MATCHED` outcomes)."""
        return [line for line in self.lines if line.outcome in NOT_MATCHED]


# --- importing -----------------------------------------------------------------------------------

Journal = Callable[[sqlite3.Connection, BankImport], None]
"""Called inside the import's transaction (e.g. to append the staff log entry)."""


def import_bank_file(
    conn: sqlite3.Connection,
    data: bytes,
    file_name: str,
    *,
    imported_by: str,
    now: datetime,
    journal: Journal | None = None,
) -> BankImport:
    """Read `data` (`read_bank_file`), match its lines to the settlement ledger's payments and
    record file, lines and payments paid (see the module doc), in one transaction on `conn`
    (a `store.db.connect` connection, not in a transaction; `journal` runs inside it).
    `file_name` is kept for display only. A file imported before (same sha256) changes nothing:
    its first import comes back with `already_imported` True (and `journal` is not called).
    Raises `InvalidBankFile` (nothing written)."""
    parsed = read_bank_file(data)
    sha256 = hashlib.sha256(data).hexdigest()
    name = " ".join(file_name.split())[:200] or "-"
    with transaction(conn):
        ledger.ensure_schema(conn)
        earlier = bank.file_by_sha256(conn, sha256)
        if earlier is not None:
            return _earlier(conn, earlier)
        file_id = bank.add_file(
            conn,
            parsed.kind,
            parsed.message,
            parsed.message_id,
            name,
            sha256,
            now.isoformat(),
            imported_by,
        )
        payments = bank.ledger_payments(
            conn, [line.end_to_end_id for line in parsed.lines if line.end_to_end_id]
        )
        imported: list[ImportedLine] = []
        for n, line in enumerate(parsed.lines, start=1):
            imported.append(_import_line(conn, parsed.kind, file_id, n, line, payments))
        paid = tuple(e2e for line in imported for e2e in line.paid)
        result = BankImport(
            file_id,
            parsed.kind,
            parsed.message,
            parsed.message_id,
            sha256,
            False,
            imported,
            paid,
            bank.redemptions_of(conn, paid),
        )
        if journal is not None:
            journal(conn, result)
    return result


def _earlier(conn: sqlite3.Connection, row: sqlite3.Row) -> BankImport:
    lines = [
        ImportedLine(
            b.line,
            b.end_to_end_id,
            b.batch_id,
            b.amount_cents,
            b.currency,
            b.direction,
            b.status,
            b.reason,
            b.booking_date,
            b.outcome,
        )
        for b in bank.bookings(conn, int(row["id"]))
    ]
    return BankImport(
        int(row["id"]),
        str(row["kind"]),
        str(row["message"]),
        str(row["message_id"]),
        str(row["file_sha256"]),
        True,
        lines,
    )


def _expected_cents(payment: bank.LedgerPayment) -> int:
    return int(units_to_cents(payment.units, payment.eur_per_heitje or "1"))


def _import_line(
    conn: sqlite3.Connection,
    kind: str,
    file_id: int,
    n: int,
    line: BankLine,
    payments: dict[str, bank.LedgerPayment],
) -> ImportedLine:
    """Decide the outcome of one line, record it and the payments it marks paid."""
    e2e = line.end_to_end_id
    payment = payments.get(e2e) if e2e else None
    batch_id = payment.batch_id if payment else None
    targets: list[str] = []
    if (
        kind == "camt.053"
        and line.entry_ref
        and bank.entry_ref_seen(conn, kind, line.entry_ref, e2e)
    ):
        outcome = "duplicate"
    elif kind == "pain.002":
        if payment is None and e2e is None and line.batch_ref:
            batch_id = (
                line.batch_ref if bank.batch_total(conn, line.batch_ref) is not None else None
            )
        known = payment is not None or (e2e is None and batch_id is not None)
        if not known:
            outcome = "unknown"
        else:
            outcome = "rejected" if line.status.upper() == "RJCT" else "accepted"
    elif e2e is None:  # a camt.053 entry without end-to-end id: a batch booking, or unknown
        total = bank.batch_total(conn, line.batch_ref) if line.batch_ref else None
        if total is None:
            outcome = "unknown"
        else:
            batch_id = line.batch_ref
            outcome, targets = _camt_outcome(line, total, bank.batch_payments(conn, str(batch_id)))
    elif payment is None:
        outcome = "unknown"
    else:
        outcome, targets = _camt_outcome(line, _expected_cents(payment), [payment.end_to_end_id])
    if outcome == "paid":
        targets = [e2e for e2e in targets if bank.paid_on(conn, e2e) is None]
        if not targets:
            outcome = "already_paid"
    row = bank.BookingRow(
        n,
        line.entry_ref,
        e2e,
        line.cents,
        line.currency,
        line.direction,
        line.status,
        line.reason,
        line.booking_date,
        batch_id,
        outcome,
    )
    booking_id = bank.add_booking(conn, file_id, row)
    if outcome == "paid" and batch_id is not None and line.booking_date is not None:
        for target in targets:
            bank.mark_paid(conn, target, batch_id, line.booking_date, booking_id)
    return ImportedLine(
        n,
        e2e,
        batch_id,
        line.cents,
        line.currency,
        line.direction,
        line.status,
        line.reason,
        line.booking_date,
        outcome,
        tuple(targets) if outcome == "paid" else (),
    )


def _camt_outcome(line: BankLine, expected: int, targets: list[str]) -> tuple[str, list[str]]:
    """A camt.053 booking of payments `targets` worth `expected` euro cents in all."""
    if (line.direction or "").upper() == "CRDT":
        return "returned", []
    if line.status.upper() != "BOOK" or not line.booking_date:
        return "not_booked", []
    if line.currency != "EUR" or line.cents != expected:
        return "amount_differs", []
    return "paid", targets

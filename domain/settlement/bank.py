"""The bank's feedback on settlement files: camt.053 statements and pain.002 status reports.

`read_bank_file` (`domain.settlement.bankfiles`) parses either into `BankLine`s: camt.053.001.02
to .08 and pain.002.001.03 to .10, hardened against hostile input (size limit, no DOCTYPE or
entities, no network).

`import_bank_file` matches every line by end-to-end id to a payment of a settlement batch
(`store.ledger`'s `settled_redemptions.end_to_end_id`) and records the file, its lines and the
payments now paid (`store.bank`), all in one transaction:

- camt.053, a booked (`BOOK`) debit of exactly the payment's euro cents: `paid` on its booking
  date (the shop's redemptions show "paid on"); booked already by another debit (another
  bank reference): `paid_twice`, listed as not matching (money left twice);
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
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from domain.settlement.bankfiles import MAX_BANK_FILE_BYTES as MAX_BANK_FILE_BYTES
from domain.settlement.bankfiles import BankLine
from domain.settlement.bankfiles import InvalidBankFile as InvalidBankFile
from domain.settlement.bankfiles import read_bank_file as read_bank_file
from domain.settlement.reconcile import read_pain001
from domain.settlement.sepa import InvalidPain001
from heitje.money import units_to_cents
from store import bank, ledger
from store.db import transaction

KINDS = ("camt.053", "pain.002")
NOT_MATCHED = (
    "wrong_account",
    "iban_differs",
    "unknown",
    "amount_differs",
    "rejected",
    "returned",
    "not_booked",
    "duplicate",
    "paid_twice",
)
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
    keep_in: Path | None = None,
    accounts: Accounts | None = None,
) -> BankImport:
    """Read `data` (`read_bank_file`), match its lines to the settlement ledger's payments and
    record file, lines and payments paid (see the module doc), in one transaction on `conn`
    (a `store.db.connect` connection, not in a transaction; `journal` runs inside it).
    `file_name` is kept for display only. A file imported before (same sha256) changes nothing:
    its first import comes back with `already_imported` True (and `journal` is not called).
    With `keep_in` (`DataDir.bank`) the file is kept there as received, `<sha256>.xml`, written
    before the import commits (an import that then fails leaves a file no row names; the
    evidence pack takes only the files of recorded imports). With `accounts`, a camt.053 debit
    is `paid` only when its statement's account is the municipality's and the account it went
    to (when the bank names it) is the one in the batch's pain.001 (`Accounts`). Raises
    `InvalidBankFile` (nothing written)."""
    parsed = read_bank_file(data)
    sha256 = hashlib.sha256(data).hexdigest()
    if keep_in is not None:
        keep_bank_file(keep_in, sha256, data)
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
            imported.append(_import_line(conn, parsed.kind, file_id, n, line, payments, accounts))
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


@dataclass
class Accounts:
    """The accounts a booking must name to count as paid: the municipality's own
    (`debtor_iban`, the statement's account) and, per payment, the creditor IBAN the service
    wrote in the batch's pain.001 (read from `settlements`, the data directory's folder).
    Without it, a payment file changed before it went to the bank (another IBAN) would
    reconcile as paid from the bank's genuine statement."""

    debtor_iban: str
    settlements: Path
    _files: dict[str, dict[str, str]] = field(default_factory=dict)

    def check(
        self, conn: sqlite3.Connection, line: BankLine, batch_id: str | None, e2e: str | None
    ) -> str | None:
        """None when `line` names the right accounts (or does not name one), else the outcome:
        `wrong_account` (the statement is of another account), `iban_differs` (the money
        went to another account than the pain.001 says)."""
        if (
            line.account_iban
            and self.debtor_iban
            and _iban(line.account_iban) != _iban(self.debtor_iban)
        ):
            return "wrong_account"
        if line.creditor_iban and batch_id and e2e:
            written = self._written(conn, batch_id).get(e2e)
            if written is not None and _iban(written) != _iban(line.creditor_iban):
                return "iban_differs"
        return None

    def _written(self, conn: sqlite3.Connection, batch_id: str) -> dict[str, str]:
        if batch_id not in self._files:
            rel = bank.batch_file(conn, batch_id)
            path = self.settlements / PurePosixPath(rel).name if rel else None
            try:
                done = read_pain001(path) if path is not None else []
            except (FileNotFoundError, InvalidPain001):
                done = []
            self._files[batch_id] = {p.end_to_end_id: p.creditor_iban for p in done}
        return self._files[batch_id]


def _iban(text: str) -> str:
    return "".join(text.split()).upper()


def keep_bank_file(folder: Path, sha256: str, data: bytes) -> Path:
    """Write `data` to `folder/<sha256>.xml` (atomically: a temporary file renamed; an
    existing file is the same bytes and stays). Returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sha256}.xml"
    if not path.exists():
        tmp = folder / f".{sha256}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return path


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
    accounts: Accounts | None = None,
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
    if outcome == "paid" and accounts is not None:
        outcome = accounts.check(conn, line, batch_id, e2e) or outcome
        if outcome != "paid":
            targets = []
    if outcome == "paid" and any(bank.paid_on(conn, e2e) is not None for e2e in targets):
        # Another debit (another bank reference) for what a booking paid already: the
        # shop was paid twice. Never "paid"; finance sees it among what does not match.
        outcome, targets = "paid_twice", []
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

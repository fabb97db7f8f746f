"""Read queries on `service.sqlite` for the auditor's workbench (`domain.workbench`,
`domain.evidence`): tasks with every staff member who touched them, the outbox's labels of
mints, the settlement ledger's rows of given redemptions, shops and neighbourhoods.

Only reads. Lists are looked up by the ids of one page (at most a few hundred), so memory stays
bounded; `task_keys` streams.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from store.db import in_chunks

_TASKS = (
    "SELECT t.*, c.username AS claimed_by_name, p.username AS published_by_name, "
    "f.username AS first_approved_by_name, d.username AS decided_by_name, "
    "pr.photos AS proof_photos, pr.created_at AS proof_at "
    "FROM tasks t "
    "LEFT JOIN users c ON c.id = t.claimed_by LEFT JOIN users p ON p.id = t.published_by "
    "LEFT JOIN users f ON f.id = t.first_approved_by LEFT JOIN users d ON d.id = t.decided_by "
    "LEFT JOIN proofs pr ON pr.task_id = t.id "
)


def tasks_by_id(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, sqlite3.Row]:
    """Task rows by id, each with the usernames of its claimant (`claimed_by_name`), publisher
    (`published_by_name`), first approver (`first_approved_by_name`, four-eyes) and the one who
    decided (`decided_by_name`), and its proof (`proof_photos`, `proof_at`; NULL without)."""
    out: dict[int, sqlite3.Row] = {}
    for chunk, marks in in_chunks(ids):
        for row in conn.execute(_TASKS + f"WHERE t.id IN ({marks})", chunk):
            out[int(row["id"])] = row
    return out


def task_keys(
    conn: sqlite3.Connection, neighbourhood: str | None = None
) -> Iterator[tuple[int, str]]:
    """(id, ref) of every task (of `neighbourhood` when given), by id, streamed: what the
    on-chain task references are recomputed from."""
    if neighbourhood is None:
        cursor = conn.execute("SELECT id, ref FROM tasks ORDER BY id")
    else:
        cursor = conn.execute(
            "SELECT id, ref FROM tasks WHERE neighbourhood = ? ORDER BY id", (neighbourhood,)
        )
    for row in cursor:
        yield int(row[0]), str(row[1])


def mint_labels(conn: sqlite3.Connection, refs: Iterable[str]) -> dict[str, int]:
    """On-chain task reference (0x-hex) -> the task id the outbox's mint intent names for it.
    A label only: callers check it by recomputing the reference."""
    out: dict[str, int] = {}
    for chunk, marks in in_chunks(r.lower() for r in refs):
        for ref, task_id in conn.execute(
            "SELECT lower(ref), task_id FROM intents WHERE kind = 'mint'"
            f" AND lower(ref) IN ({marks}) AND task_id IS NOT NULL",
            chunk,
        ):
            out[str(ref)] = int(task_id)
    return out


def neighbourhoods(conn: sqlite3.Connection) -> list[str]:
    """Every neighbourhood a task was published in, sorted."""
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT DISTINCT neighbourhood FROM tasks WHERE neighbourhood != '' ORDER BY 1"
        )
    ]


def shops(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every shop that ever applied: username, name, status, by name."""
    return [
        dict(r)
        for r in conn.execute(
            "SELECT u.username, u.name, s.status FROM users u JOIN shops s ON s.user_id = u.id "
            "ORDER BY u.name, u.username"
        )
    ]


def shop_addresses(conn: sqlite3.Connection, username: str) -> list[str]:
    """Every address shop `username` has had ([] for no such shop)."""
    return [
        str(r[0])
        for r in conn.execute(
            "SELECT a.address FROM account_addresses a JOIN users u ON u.id = a.user_id "
            "JOIN shops s ON s.user_id = u.id WHERE u.username = ? ORDER BY a.rowid",
            (username,),
        )
    ]


def usernames_of(conn: sqlite3.Connection, addresses: Iterable[str]) -> dict[str, str]:
    """Lowercase address -> username, for the addresses that belong (or belonged) to an
    account; matched without regard to case."""
    out: dict[str, str] = {}
    for chunk, marks in in_chunks(a.lower() for a in addresses):
        for address, username in conn.execute(
            "SELECT lower(a.address), u.username FROM account_addresses a JOIN users u "
            f"ON u.id = a.user_id WHERE lower(a.address) IN ({marks})",
            chunk,
        ):
            out[str(address)] = str(username)
    return out


def settled_by_id(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, sqlite3.Row]:
    """The settlement ledger's rows (`redemption_id`, `batch_id`, `end_to_end_id`, `amount`,
    and the batch's `file_path`, `created_at`, `execution_date`) of the redemptions among `ids`
    it paid; {} without a ledger."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not {"settled_redemptions", "settlement_batches"} <= tables:
        return {}
    out: dict[int, sqlite3.Row] = {}
    for chunk, marks in in_chunks(ids):
        for row in conn.execute(
            "SELECT r.redemption_id, r.batch_id, r.end_to_end_id, r.amount, r.shop, b.file_path,"
            " b.created_at, b.execution_date FROM settled_redemptions r"
            " LEFT JOIN settlement_batches b ON b.batch_id = r.batch_id"
            f" WHERE r.redemption_id IN ({marks})",
            chunk,
        ):
            out[int(row["redemption_id"])] = row
    return out


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """True when the service database has table `name` (tables other rooms add later)."""
    return (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name = ?", (name,)
        ).fetchone()
        is not None
    )


def bank_files_read(conn: sqlite3.Connection) -> int:
    """How many bank files (camt.053, pain.002) were read in; 0 without the bank tables."""
    if not has_table(conn, "bank_files"):
        return 0
    return int(conn.execute("SELECT COUNT(*) FROM bank_files").fetchone()[0])


def bank_paid(conn: sqlite3.Connection, e2e_ids: Iterable[str]) -> dict[str, sqlite3.Row]:
    """End-to-end id -> the booking that paid it (`end_to_end_id`, `paid_on`, `booking_id`,
    `amount_cents` of that booking, `file_name` of its statement), for the ids among `e2e_ids`
    the bank booked; {} without the bank tables. A batch booking pays several ids with one
    booking (the same `booking_id`)."""
    if not has_table(conn, "bank_paid_payments"):
        return {}
    out: dict[str, sqlite3.Row] = {}
    for chunk, marks in in_chunks(e2e_ids):
        for row in conn.execute(
            "SELECT p.end_to_end_id, p.paid_on, p.booking_id, b.amount_cents, f.file_name"
            " FROM bank_paid_payments p JOIN bank_bookings b ON b.id = p.booking_id"
            f" JOIN bank_files f ON f.id = b.file_id WHERE p.end_to_end_id IN ({marks})",
            chunk,
        ):
            out[str(row["end_to_end_id"])] = row
    return out


def bank_bookings(conn: sqlite3.Connection, limit: int, offset: int) -> list[sqlite3.Row]:
    """Every line of every bank file read in, with its file (`file_name`, `file_sha256`,
    `kind`, `imported_at`), by file and line; [] without the bank tables."""
    if not has_table(conn, "bank_bookings"):
        return []
    return list(
        conn.execute(
            "SELECT f.file_name, f.file_sha256, f.kind, f.message_id, f.imported_at, b.line,"
            " b.entry_ref,"
            " b.end_to_end_id, b.amount_cents, b.currency, b.direction, b.status, b.reason,"
            " b.booking_date, b.batch_id, b.outcome FROM bank_bookings b"
            " JOIN bank_files f ON f.id = b.file_id ORDER BY f.id, b.line LIMIT ? OFFSET ?",
            (limit, offset),
        )
    )


def bank_file_hashes(conn: sqlite3.Connection) -> list[str]:
    """The SHA-256 of every bank file read in, in the order they were; [] without the bank
    tables."""
    if not has_table(conn, "bank_files"):
        return []
    return [str(r[0]) for r in conn.execute("SELECT file_sha256 FROM bank_files ORDER BY id")]


def bank_debits(conn: sqlite3.Connection, batch_id: str) -> int | None:
    """Euro cents the bank booked as debits for settlement batch `batch_id`: every booking line
    matched to it that paid (`paid`) or paid again (`paid_twice`), each line once; None when
    none was."""
    if not has_table(conn, "bank_bookings"):
        return None
    row = conn.execute(
        "SELECT SUM(amount_cents) FROM bank_bookings WHERE batch_id = ? "
        "AND outcome IN ('paid', 'paid_twice')",
        (batch_id,),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])

"""The settlement ledger in `service.sqlite`: which redemptions each payment batch paid.

Tables `settlement_batches` (one row per pain.001 file) and `settled_redemptions` (one row per
paid redemption). The PRIMARY KEY on `settled_redemptions.redemption_id` is what makes a
redemption never paid twice: a second insert of an id fails, and `record_batch` refuses the
whole batch (`AlreadySettled`). `ensure_schema` refuses to work on a ledger that lost that key
(`InvalidLedger`).

Plain functions over a connection from `store.db.connect` (writes: inside the caller's
`store.db.transaction`); `open_read_only` opens the ledger for audits.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import NamedTuple

from heitje.errors import Conflict, HeitjeError, NotFound

__all__ = [
    "LEDGER_SCHEMA",
    "AlreadySettled",
    "AnchorBatch",
    "HeldRedemption",
    "InvalidLedger",
    "LedgerBatch",
    "SettledRedemption",
    "SettledRow",
    "anchor_batches",
    "batch_redemption_ids",
    "batch_sha256",
    "batches",
    "ensure_schema",
    "has_ledger",
    "has_redemption_pk",
    "held_redemptions",
    "max_batch_sequence",
    "open_read_only",
    "record_batch",
    "record_holds",
    "settled_cents",
    "settled_ids",
    "settled_redemptions",
    "shop_addresses",
]

LEDGER_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS settlement_batches (
    batch_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    through TEXT NULL,
    through_block INTEGER NOT NULL,
    execution_date TEXT NOT NULL,
    file_path TEXT NOT NULL,
    csv_path TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    payment_count INTEGER NOT NULL,
    eur_per_heitje TEXT
)""",
    """CREATE TABLE IF NOT EXISTS settled_redemptions (
    redemption_id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES settlement_batches(batch_id),
    shop TEXT NOT NULL,
    amount INTEGER NOT NULL,
    end_to_end_id TEXT
)""",
    "CREATE INDEX IF NOT EXISTS settled_redemptions_batch ON settled_redemptions(batch_id)",
    """CREATE TABLE IF NOT EXISTS held_redemptions (
    redemption_id INTEGER PRIMARY KEY,
    shop TEXT NOT NULL,
    shop_id TEXT,
    amount INTEGER NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    held_at TEXT NOT NULL
)""",
)
"""The settlement ledger (in service.sqlite). `through_block`: the block cut-off applied;
`file_path`/`csv_path`: relative to the data dir; `eur_per_heitje`: the batch's rate;
`end_to_end_id`: the payment that paid the redemption. `held_redemptions`: due redemptions the
last run that saw them could not pay because their payee cannot go into a pain.001 file (`code`,
`reason`); a row goes when a later run pays the redemption or finds its payee fit (it is then
paid)."""
# Columns beyond the minimal ledger, added to a ledger created without them.
_EXTRA_COLUMNS = (
    ("settlement_batches", "eur_per_heitje", "TEXT"),
    ("settled_redemptions", "end_to_end_id", "TEXT"),
)
_TABLES = {"settlement_batches", "settled_redemptions"}


class InvalidLedger(HeitjeError):
    """The settlement ledger's schema cannot guarantee single payment."""

    code = "invalid_ledger"


class AlreadySettled(Conflict):
    """A redemption in this batch was settled meanwhile; nothing was written."""

    code = "already_settled"


@dataclass(frozen=True)
class LedgerBatch:
    """A row of `settlement_batches`: times ISO 8601 text (`through` None for a block-only
    cut-off), paths relative to the data dir, `eur_per_heitje` None in ledgers from before the
    rate was recorded."""

    batch_id: str
    created_at: str
    through: str | None
    through_block: int
    execution_date: str
    file_path: str
    csv_path: str
    file_sha256: str
    total_cents: int
    payment_count: int
    eur_per_heitje: str | None


class SettledRedemption(NamedTuple):
    """A row of `settled_redemptions`: redemption `redemption_id` (base units `amount` burned by
    `shop`) paid in batch `batch_id` by payment `end_to_end_id` (None in old ledgers). A named
    tuple, not a dataclass: a batch makes one per redemption (100,000 of them in a big batch)."""

    redemption_id: int
    batch_id: str
    shop: str
    amount: int
    end_to_end_id: str | None


@dataclass(frozen=True)
class HeldRedemption:
    """A row of `held_redemptions`: redemption `redemption_id` (base units `amount` burned by
    `shop`, the shop's username `shop_id` when known) left unpaid at `held_at` (ISO 8601)
    because of its payee: stable `code` (`unknown_payee`, `invalid_iban`, `iban_not_sepa`,
    `invalid_bic`, `bic_mismatch`, `invalid_payee_name`) and human `reason`."""

    redemption_id: int
    shop: str
    shop_id: str | None
    amount: int
    code: str
    reason: str
    held_at: str


@dataclass(frozen=True)
class AnchorBatch:
    """What the chain records of a batch: id, file sha256 (hex), total euro cents and the
    redemption ids, ascending."""

    batch_id: str
    file_sha256: str
    total_cents: int
    redemption_ids: list[int]


# --- schema ------------------------------------------------------------------------------------


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the ledger tables if missing and add columns older ledgers lack. Raises
    `InvalidLedger` when `settled_redemptions` has no PRIMARY KEY on redemption_id."""
    for statement in LEDGER_SCHEMA:
        conn.execute(statement)
    for table, column, kind in _EXTRA_COLUMNS:
        columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    if not has_redemption_pk(conn):
        raise InvalidLedger(
            "settled_redemptions has no PRIMARY KEY on redemption_id: refusing to settle"
        )


def has_ledger(conn: sqlite3.Connection) -> bool:
    """True when both ledger tables exist (a service database may have none yet)."""
    return _tables(conn) >= _TABLES


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def has_redemption_pk(conn: sqlite3.Connection) -> bool:
    """True when `settled_redemptions`' PRIMARY KEY is exactly its redemption_id."""
    info = conn.execute("PRAGMA table_info(settled_redemptions)").fetchall()
    return [row[1] for row in info if row[5]] == ["redemption_id"]


@contextmanager
def open_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """The service database at `path`, read-only (rows as `sqlite3.Row`), closed on exit.
    Raises `NotFound` (code `database_not_found`) when the file does not exist."""
    if not path.is_file():
        raise NotFound(f"database {path} does not exist", code="database_not_found")
    conn = sqlite3.connect(
        path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None, timeout=30
    )
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


# --- settling ----------------------------------------------------------------------------------


def settled_ids(conn: sqlite3.Connection) -> set[int]:
    """Every redemption id the ledger has paid."""
    return {int(row[0]) for row in conn.execute("SELECT redemption_id FROM settled_redemptions")}


def max_batch_sequence(conn: sqlite3.Connection, prefix: str) -> int:
    """The highest number `n` of a batch id `<prefix><n>` in the ledger (0 when none)."""
    seqs = [
        int(row[0][len(prefix) :])
        for row in conn.execute(
            "SELECT batch_id FROM settlement_batches WHERE substr(batch_id, 1, ?) = ?",
            (len(prefix), prefix),
        )
        if row[0][len(prefix) :].isdigit()
    ]
    return max(seqs, default=0)


def batch_sha256(conn: sqlite3.Connection, batch_id: str) -> str | None:
    """The sha256 (hex) of batch `batch_id`'s file, or None when the ledger lacks the batch
    (e.g. its run failed before commit): how an interrupted batch's files are finished."""
    row = conn.execute(
        "SELECT file_sha256 FROM settlement_batches WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    return None if row is None else str(row[0])


SettledRow = tuple[int, str, str, int, str | None]
"""A `settled_redemptions` row as a plain tuple, columns in `SettledRedemption`'s order (a
`SettledRedemption` is one)."""


def record_batch(
    conn: sqlite3.Connection, batch: LedgerBatch, redemptions: Sequence[SettledRow]
) -> None:
    """Insert `batch` and the redemptions it pays (`SettledRow`s: plain tuples or
    `SettledRedemption`s; ascending ids write fastest, appended to the primary key), all or
    nothing (a savepoint, so it nests in the caller's transaction), with one `executemany`.
    Raises `AlreadySettled` when a redemption is in the ledger already (or any other constraint
    fails); then nothing of the batch is recorded."""
    conn.execute("SAVEPOINT record_batch")
    try:
        conn.execute(
            "INSERT INTO settlement_batches (batch_id, created_at, through, through_block,"
            " execution_date, file_path, csv_path, file_sha256, total_cents, payment_count,"
            " eur_per_heitje) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            astuple(batch),
        )
        conn.executemany(
            "INSERT INTO settled_redemptions (redemption_id, batch_id, shop, amount,"
            " end_to_end_id) VALUES (?, ?, ?, ?, ?)",
            redemptions,  # rows already: tuples in column order
        )
    except BaseException as e:
        conn.execute("ROLLBACK TO record_batch")
        conn.execute("RELEASE record_batch")
        if isinstance(e, sqlite3.IntegrityError):
            raise AlreadySettled(f"settlement refused, nothing written: {e}") from e
        raise
    conn.execute("RELEASE record_batch")


def record_holds(
    conn: sqlite3.Connection, seen: Sequence[int], holds: Sequence[HeldRedemption]
) -> None:
    """A run's verdict on the due redemptions `seen` (inside the caller's transaction): their
    earlier holds go, `holds` (a subset of `seen`) are recorded."""
    held = {int(row[0]) for row in conn.execute("SELECT redemption_id FROM held_redemptions")}
    conn.executemany(  # only those held: `seen` may be every due redemption (100,000s)
        "DELETE FROM held_redemptions WHERE redemption_id = ?",
        [(rid,) for rid in seen if rid in held],
    )
    conn.executemany(
        "INSERT INTO held_redemptions (redemption_id, shop, shop_id, amount, code, reason,"
        " held_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (h.redemption_id, h.shop, h.shop_id, h.amount, h.code, h.reason, h.held_at)
            for h in holds
        ],
    )


# --- reading back ------------------------------------------------------------------------------


def held_redemptions(conn: sqlite3.Connection) -> list[HeldRedemption]:
    """Every redemption held for its payee (see `held_redemptions`), by redemption id; [] when
    the ledger has no such table yet."""
    if "held_redemptions" not in _tables(conn):
        return []
    return [
        HeldRedemption(*row)
        for row in conn.execute(
            "SELECT redemption_id, shop, shop_id, amount, code, reason, held_at"
            " FROM held_redemptions ORDER BY redemption_id"
        )
    ]


def batches(conn: sqlite3.Connection) -> list[LedgerBatch]:
    """Every batch, by batch id."""
    return [
        LedgerBatch(*row)
        for row in conn.execute(
            "SELECT batch_id, created_at, through, through_block, execution_date, file_path,"
            " csv_path, file_sha256, total_cents, payment_count, eur_per_heitje"
            " FROM settlement_batches ORDER BY batch_id"
        )
    ]


def settled_redemptions(conn: sqlite3.Connection) -> list[SettledRedemption]:
    """Every settled redemption row, by redemption id then batch id (a ledger that lost its
    PRIMARY KEY may hold an id twice)."""
    return [
        SettledRedemption(*row)
        for row in conn.execute(
            "SELECT redemption_id, batch_id, shop, amount, end_to_end_id"
            " FROM settled_redemptions ORDER BY redemption_id, batch_id"
        )
    ]


def anchor_batches(conn: sqlite3.Connection) -> list[AnchorBatch]:
    """Every batch as the chain records it (`recordSettlementPart`: its ids as ranges), by batch
    id; [] when the service database has no ledger yet."""
    if not has_ledger(conn):
        return []
    ids: dict[str, list[int]] = {}
    for batch_id, rid in conn.execute(
        "SELECT batch_id, redemption_id FROM settled_redemptions ORDER BY redemption_id"
    ):
        ids.setdefault(str(batch_id), []).append(int(rid))
    return [
        AnchorBatch(str(batch_id), str(sha), int(cents), ids.get(str(batch_id), []))
        for batch_id, sha, cents in conn.execute(
            "SELECT batch_id, file_sha256, total_cents FROM settlement_batches ORDER BY batch_id"
        )
    ]


def batch_redemption_ids(conn: sqlite3.Connection, batch_id: str) -> list[int]:
    """The redemption ids batch `batch_id` paid, ascending ([] for an unknown batch): what its
    chain record must hold."""
    return [
        int(row[0])
        for row in conn.execute(
            "SELECT redemption_id FROM settled_redemptions WHERE batch_id = ?"
            " ORDER BY redemption_id",
            (batch_id,),
        )
    ]


def settled_cents(conn: sqlite3.Connection) -> int:
    """Euro cents over every batch; 0 when the service database has no ledger yet."""
    if "settlement_batches" not in _tables(conn):
        return 0
    row = conn.execute("SELECT COALESCE(SUM(total_cents), 0) FROM settlement_batches")
    return int(row.fetchone()[0])


def shop_addresses(
    conn: sqlite3.Connection,
) -> dict[str, tuple[str | None, str | None, str | None, str | None]]:
    """Shop username -> (street, house_number, postcode, town) as given at sign-up (any part
    may be None; shops from before give all None); {} when the database has no shops table."""
    if "shops" not in _tables(conn):
        return {}
    columns = {row[1] for row in conn.execute("PRAGMA table_info(shops)")}
    if "town" not in columns:
        return {}
    return {
        str(row[0]): (row[1], row[2], row[3], row[4])
        for row in conn.execute(
            "SELECT u.username, s.street, s.house_number, s.postcode, s.town"
            " FROM shops s JOIN users u ON u.id = s.user_id"
        )
    }

"""`service.sqlite` (WAL): its schema, connections and transactions. `store` is the only room
that runs SQL on this file: accounts and payees (`store.accounts`, `store.payees`), sessions
(`store.sessions`), tasks (`store.tasks`), the outbox (`store.outbox`), payments and
redemption requests (`store.payments`) and the settlement ledger (`store.ledger`).

Chain facts (balances, history) are not kept here: they come from the indexer's mirror.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin','coordinator','finance','auditor','citizen','shop')),
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT UNIQUE,
    created_at TEXT NOT NULL,
    username_key TEXT NOT NULL DEFAULT '',
    disabled_at TEXT,
    consented_at TEXT  -- a citizen's consent at sign-up (ISO 8601, UTC); NULL without
);
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (username_key);
CREATE TABLE IF NOT EXISTS citizens (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    neighbourhood TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS shops (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    category TEXT NOT NULL DEFAULT '',
    iban TEXT NOT NULL,
    bic TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','approved','rejected')),
    reviewed_by INTEGER REFERENCES users(id),
    reviewed_at TEXT,
    sepa_name TEXT,
    kvk TEXT,
    street TEXT,
    house_number TEXT,
    postcode TEXT,
    town TEXT,
    decline_reason TEXT
);
CREATE TABLE IF NOT EXISTS signups (
    id INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS signups_client ON signups (client, at);
CREATE INDEX IF NOT EXISTS signups_at ON signups (at);
CREATE TABLE IF NOT EXISTS custodial_keys (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    address TEXT NOT NULL UNIQUE,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    key_id TEXT
);
CREATE TABLE IF NOT EXISTS kek_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    check_value BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS account_addresses (
    address TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    since TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS account_addresses_user ON account_addresses (user_id);
CREATE TABLE IF NOT EXISTS key_rotations (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    new_address TEXT NOT NULL UNIQUE,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    key_id TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    expires_at REAL NOT NULL,
    second_factor_pending INTEGER NOT NULL DEFAULT 0  -- 1: a staff log-in waiting for its code
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS second_factors (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,  -- the TOTP secret, AES-GCM under the KEK
    key_id TEXT NOT NULL,  -- the KEK it is sealed under
    created_at TEXT NOT NULL,
    confirmed_at TEXT,  -- NULL: set up, its first code not given yet
    last_step INTEGER NOT NULL DEFAULT -1  -- the last 30 s step whose code was taken
);
CREATE TABLE IF NOT EXISTS recovery_codes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,  -- argon2id
    used_at TEXT
);
CREATE INDEX IF NOT EXISTS recovery_codes_user ON recovery_codes (user_id);
CREATE TABLE IF NOT EXISTS login_failures (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure REAL NOT NULL,
    locked_until REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    ref TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    reward INTEGER NOT NULL CHECK (reward > 0),
    neighbourhood TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('open','claimed','submitted','approved','rejected')),
    published_by INTEGER NOT NULL REFERENCES users(id),
    published_at TEXT NOT NULL,
    claimed_by INTEGER REFERENCES users(id),
    claimed_at TEXT,
    submitted_at TEXT,
    decided_by INTEGER REFERENCES users(id),
    decided_at TEXT,
    approved_year INTEGER,
    first_approved_by INTEGER REFERENCES users(id),  -- four-eyes: the first of two approvals
    first_approved_at TEXT,
    place TEXT NOT NULL DEFAULT '',  -- where the job is
    deadline TEXT,  -- ISO date (YYYY-MM-DD), or NULL
    materials TEXT NOT NULL DEFAULT '',  -- what to pick up, and where
    rejection_reason TEXT,
    description TEXT NOT NULL DEFAULT '',  -- what the job is, in a few lines
    estimated_minutes INTEGER CHECK (estimated_minutes > 0),  -- NULL: not given
    people INTEGER NOT NULL DEFAULT 1 CHECK (people >= 1),  -- how many people the job takes
    withdrawn_at TEXT,  -- set: the task is withdrawn (its status reads 'withdrawn')
    withdrawn_by INTEGER REFERENCES users(id),
    withdrawal_reason TEXT
);
-- The caps' sums (store.tasks.approved_rewards, approved_in_month) seek these indexes:
-- one citizen's approved rewards of a year or a month, not every task they ever had.
CREATE INDEX IF NOT EXISTS tasks_year_rewards ON tasks (claimed_by, status, approved_year, reward);
CREATE INDEX IF NOT EXISTS tasks_month_rewards
    ON tasks (claimed_by, status, substr(decided_at, 1, 7), reward);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, id);  -- lists by status, the review queue
CREATE TABLE IF NOT EXISTS proofs (
    task_id INTEGER PRIMARY KEY REFERENCES tasks(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    note TEXT NOT NULL,
    photos INTEGER NOT NULL CHECK (photos BETWEEN 1 AND 3),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS staff_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,  -- ISO 8601, UTC
    actor_id INTEGER NOT NULL REFERENCES users(id),
    actor TEXT NOT NULL,  -- username at the time
    role TEXT NOT NULL,
    action TEXT NOT NULL,  -- e.g. task.publish, task.approve, shop.approve, settlement.run
    subject TEXT NOT NULL DEFAULT '',  -- what it was done to (task ref, username, batch id)
    reason TEXT NOT NULL DEFAULT '',  -- why, as the staff member gave it
    detail TEXT NOT NULL DEFAULT '{}'  -- JSON object with the figures of the action
);
CREATE INDEX IF NOT EXISTS staff_log_at ON staff_log (at);
CREATE TRIGGER IF NOT EXISTS staff_log_no_update BEFORE UPDATE ON staff_log
BEGIN SELECT RAISE(ABORT, 'the staff log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS staff_log_no_delete BEFORE DELETE ON staff_log
BEGIN SELECT RAISE(ABORT, 'the staff log is append-only'); END;
CREATE TABLE IF NOT EXISTS intents (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('register','mint')),
    user_id INTEGER NOT NULL REFERENCES users(id),
    task_id INTEGER UNIQUE REFERENCES tasks(id),
    account TEXT NOT NULL,
    account_kind TEXT CHECK (account_kind IN ('citizen','shop')),
    amount INTEGER,
    ref TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending','sent','blocked','confirmed','failed')),
    tx_hash TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    next_attempt_at REAL,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS intents_open ON intents (status, id);
CREATE INDEX IF NOT EXISTS intents_user ON intents (user_id, kind);  -- registration, open intents
CREATE INDEX IF NOT EXISTS intents_ref ON intents (ref);  -- a reward's task title in the history
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY,
    payer_id INTEGER NOT NULL REFERENCES users(id),
    payee_id INTEGER NOT NULL REFERENCES users(id),
    amount INTEGER NOT NULL,
    nonce TEXT NOT NULL UNIQUE,
    idempotency_key TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending','confirmed','failed')),
    tx_hash TEXT,
    error_code TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (payer_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS payments_pending ON payments (id) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS payments_payee ON payments (payee_id, id);  -- a shop's payments
CREATE TABLE IF NOT EXISTS refund_parts (
    refund_nonce TEXT NOT NULL,
    payment_id INTEGER NOT NULL REFERENCES payments(id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL CHECK (status IN ('pending','confirmed','failed')),
    refund_payment_id INTEGER REFERENCES payments(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (refund_nonce, payment_id)
);
CREATE INDEX IF NOT EXISTS refund_parts_payment ON refund_parts (payment_id, status);
CREATE INDEX IF NOT EXISTS refund_parts_refund ON refund_parts (refund_payment_id);
CREATE TABLE IF NOT EXISTS bank_files (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('camt.053','pain.002')),
    message TEXT NOT NULL,  -- the ISO 20022 message of its namespace, e.g. camt.053.001.08
    message_id TEXT NOT NULL,  -- the file's GrpHdr/MsgId
    file_name TEXT NOT NULL,  -- as uploaded or given (shown only, never opened)
    file_sha256 TEXT NOT NULL UNIQUE,  -- a file is imported once
    imported_at TEXT NOT NULL,  -- ISO 8601, UTC
    imported_by TEXT NOT NULL  -- staff username, or 'cli'
);
CREATE TABLE IF NOT EXISTS bank_bookings (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES bank_files(id),
    line INTEGER NOT NULL,  -- the booking's place in its file, from 1
    entry_ref TEXT,  -- camt.053: the bank's AcctSvcrRef (else NtryRef); pain.002: OrgnlMsgId
    end_to_end_id TEXT,  -- NULL when the bank gives none
    amount_cents INTEGER,  -- euro cents as the bank gives them; NULL when it gives none
    currency TEXT,
    direction TEXT,  -- camt.053: DBIT (paid out) or CRDT (came in); pain.002: NULL
    status TEXT NOT NULL,  -- camt.053: BOOK, PDNG, INFO; pain.002: ACCP, ACSC, RJCT, ...
    reason TEXT NOT NULL DEFAULT '',  -- pain.002: the reason code (AC04, ...)
    booking_date TEXT,  -- ISO date (camt.053 BookgDt); NULL in a pain.002
    batch_id TEXT,  -- the settlement batch it was matched to, NULL when none
    outcome TEXT NOT NULL CHECK (outcome IN ('paid','paid_twice','accepted','rejected',
        'unknown','amount_differs','not_booked','returned','duplicate','wrong_account',
        'iban_differs')),
    UNIQUE (file_id, line)
);
CREATE INDEX IF NOT EXISTS bank_bookings_e2e ON bank_bookings (end_to_end_id);
CREATE INDEX IF NOT EXISTS bank_bookings_ref ON bank_bookings (entry_ref);
CREATE TABLE IF NOT EXISTS bank_paid_payments (
    end_to_end_id TEXT PRIMARY KEY,  -- a payment of a settlement batch (settled_redemptions)
    batch_id TEXT NOT NULL,
    paid_on TEXT NOT NULL,  -- ISO date: the bank's booking date
    booking_id INTEGER NOT NULL REFERENCES bank_bookings(id)
);
CREATE TABLE IF NOT EXISTS redemption_requests (
    id INTEGER PRIMARY KEY,
    shop_id INTEGER NOT NULL REFERENCES users(id),
    amount INTEGER NOT NULL,
    nonce TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending','confirmed','failed')),
    tx_hash TEXT,
    redemption_id INTEGER UNIQUE,
    error_code TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS redemption_requests_shop ON redemption_requests (shop_id, id);
CREATE INDEX IF NOT EXISTS redemption_requests_pending ON redemption_requests (id)
    WHERE status = 'pending';
"""


T = TypeVar("T", str, int)

IN_CHUNK = 500
"""Values per `IN (...)` of one query (`in_chunks`), well below SQLite's bound-parameter limit."""


def in_chunks(values: Iterable[T]) -> Iterator[tuple[list[T], str]]:
    """The distinct `values`, sorted, in lists of at most IN_CHUNK, each with its placeholders
    ("?,?,..."), for `... IN ({marks})` queries."""
    wanted = sorted(set(values))
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def now_iso() -> str:
    """The current UTC time, ISO 8601 (the timestamps the store writes)."""
    return datetime.now(UTC).isoformat()


def connect(path: Path) -> sqlite3.Connection:
    """Open the service database (creating the schema), rows as `sqlite3.Row`, WAL mode.

    Autocommit mode: use `transaction(conn)` for multi-statement writes.
    """
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def init_db(path: Path) -> None:
    """Create the schema if missing (service tables and the settlement ledger) and migrate."""
    from store import ledger
    from store.migrations import migrate

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect(path)
    try:
        migrate(conn)
        conn.executescript(SCHEMA)  # tables added to SCHEMA later (IF NOT EXISTS)
        ledger.ensure_schema(conn)
        # every address an account ever had (key rotations keep history and settlement whole)
        conn.execute(
            "INSERT OR IGNORE INTO account_addresses SELECT address, id, created_at FROM users "
            "WHERE address IS NOT NULL"
        )
    finally:
        conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def savepoint(conn: sqlite3.Connection, name: str = "part") -> Iterator[sqlite3.Connection]:
    """SAVEPOINT ... RELEASE inside a transaction, or ROLLBACK TO it on any exception (which is
    raised again): one part of a transaction undone, the rest kept."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        raise
    conn.execute(f"RELEASE {name}")

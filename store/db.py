"""`service.sqlite` (WAL): its schema, connections and transactions. `store` is the only room
that runs SQL on this file: accounts and payees (`store.accounts`, `store.payees`), tasks
(`store.tasks`), the outbox (`store.outbox`), payments and redemption requests
(`store.payments`) and the settlement ledger (`store.ledger`).

Chain facts (balances, history) are not kept here: they come from the indexer's mirror.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin','coordinator','finance','auditor','citizen','shop')),
    password_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    address TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS citizens (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    neighbourhood TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS shops (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    category TEXT NOT NULL DEFAULT '',
    iban TEXT NOT NULL,
    bic TEXT
);
CREATE TABLE IF NOT EXISTS custodial_keys (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    address TEXT NOT NULL UNIQUE,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL
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
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    expires_at REAL NOT NULL
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
    approved_year INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_cap ON tasks (claimed_by, approved_year, status);
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
"""


# ----- migrations -----
#
# `PRAGMA user_version` is the number of migrations a database has had. A new database gets
# SCHEMA (the latest tables) and the version len(MIGRATIONS) at once; an existing one runs the
# migrations it lacks, in order, each once, each in its own transaction with the version bump.
# To change a table: change SCHEMA (what a new database gets) and append a function to
# MIGRATIONS that brings an existing database to the same (never edit or reorder old ones;
# version 0 is the schema before migrations existed).


def rebuild_table(conn: sqlite3.Connection, table: str, create: str, columns: list[str]) -> None:
    """Replace `table` with the one `create` makes (a CREATE TABLE of `<table>_new`), copying
    `columns` of every row and re-creating the table's indexes: SQLite's way to change a
    CHECK or a column's type (ALTER TABLE cannot). Run inside a migration's transaction; no
    other table may reference `table` by foreign key."""
    indexes = [
        str(r[0])
        for r in conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        )
    ]
    conn.execute(create)
    names = ", ".join(columns)
    conn.execute(f"INSERT INTO {table}_new ({names}) SELECT {names} FROM {table}")
    conn.execute(f"DROP TABLE {table}")
    conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
    for sql in indexes:
        conn.execute(sql)


def _m1_blocked_intents(conn: sqlite3.Connection) -> None:
    """Intents may be `blocked` (a send failed; tried again at `next_attempt_at`, unix seconds,
    after a wait that doubles with each of its `failures`)."""
    rebuild_table(
        conn,
        "intents",
        """CREATE TABLE intents_new (
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
)""",
        [
            "id", "kind", "user_id", "task_id", "account", "account_kind", "amount", "ref",
            "status", "tx_hash", "attempts", "last_error", "created_at", "updated_at",
        ],
    )  # fmt: skip


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_blocked_intents]
"""Migration i + 1 brings a database from user_version i to i + 1 (append only)."""


def _statements(script: str) -> Iterator[str]:
    """The SQL statements of `script`, one by one."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement.strip()
            statement = ""
    if statement.strip():
        yield statement.strip()


def schema_version(conn: sqlite3.Connection) -> int:
    """The database's `PRAGMA user_version`: how many of MIGRATIONS it has had."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database to the latest version (see MIGRATIONS): a new one gets SCHEMA at
    once, an existing one each migration it lacks, each in a transaction of its own."""
    latest = len(MIGRATIONS)
    while True:
        with transaction(conn):  # BEGIN IMMEDIATE: one process migrates at a time
            version = schema_version(conn)
            if version >= latest:
                return
            new = (
                conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'intents'"
                ).fetchone()
                is None
            )
            if new:
                for statement in _statements(SCHEMA):
                    conn.execute(statement)
                version = latest
            else:
                MIGRATIONS[version](conn)
                version += 1
            conn.execute(f"PRAGMA user_version = {version:d}")


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

"""Migrations of `service.sqlite` by `PRAGMA user_version` (see the comment below): each
function brings a database from one version to the next; `migrate` runs those it lacks."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator

from heitje.errors import ConfigError
from store.db import SCHEMA, transaction

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


def _m_login_and_sessions(conn: sqlite3.Connection) -> None:
    """Log-in and sessions (issue 9): `users.username_key` (the casefolded username, unique:
    "Marieke" and "marieke" are one account) and `users.disabled_at` (a disabled staff
    account); `login_failures` (throttling); indexes to end and purge sessions.

    Refuses (`ConfigError` `username_case_duplicates`, nothing changed) when existing
    usernames differ only in case: the operator renames all but one of each group first."""
    from store.accounts import username_key

    conn.execute("ALTER TABLE users ADD COLUMN username_key TEXT NOT NULL DEFAULT ''")
    conn.execute("ALTER TABLE users ADD COLUMN disabled_at TEXT")
    groups: dict[str, list[str]] = {}
    for user_id, username in conn.execute("SELECT id, username FROM users ORDER BY id"):
        key = username_key(str(username))
        groups.setdefault(key, []).append(str(username))
        conn.execute("UPDATE users SET username_key = ? WHERE id = ?", (key, user_id))
    clashes = [names for names in groups.values() if len(names) > 1]
    if clashes:
        listed = "; ".join(", ".join(repr(n) for n in names) for names in clashes)
        raise ConfigError(
            f"usernames that differ only in case cannot be migrated: {listed}. Rename all but "
            "one of each group (UPDATE users SET username = ... WHERE id = ...) and start again",
            code="username_case_duplicates",
        )
    for statement in _statements(
        """
CREATE UNIQUE INDEX IF NOT EXISTS users_username_key ON users (username_key);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id);
CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS login_failures (
    subject TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure REAL NOT NULL,
    locked_until REAL NOT NULL
);
"""
    ):
        conn.execute(statement)


def _m_insiders(conn: sqlite3.Connection) -> None:
    """Insiders and sign-up abuse (issue 9): `shops.status` (a new shop is `pending` until an
    admin approves it; shops that exist already were registered at once, so they are
    `approved`), who reviewed it and when; `signups` (citizen sign-ups by client address,
    unix seconds, for the throttle)."""
    for statement in _statements(
        """
ALTER TABLE shops ADD COLUMN status TEXT NOT NULL DEFAULT 'approved'
    CHECK (status IN ('pending','approved','rejected'));
ALTER TABLE shops ADD COLUMN reviewed_by INTEGER REFERENCES users(id);
ALTER TABLE shops ADD COLUMN reviewed_at TEXT;
CREATE TABLE IF NOT EXISTS signups (
    id INTEGER PRIMARY KEY,
    client TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS signups_client ON signups (client, at);
CREATE INDEX IF NOT EXISTS signups_at ON signups (at);
"""
    ):
        conn.execute(statement)


def _m_payees_and_refunds(conn: sqlite3.Connection) -> None:
    """Payees and refunds (issue 9): `shops.sepa_name` (the name transliterated to the EPC
    basic Latin set at sign-up, as the pain.001 carries it; NULL for shops from before) and
    `refund_parts` with its indexes, as in SCHEMA (which payment each refund returns)."""
    conn.execute("ALTER TABLE shops ADD COLUMN sepa_name TEXT")
    for statement in _statements(SCHEMA):
        if "refund_parts" in statement:
            conn.execute(statement)


def _m_kek_check(conn: sqlite3.Connection) -> None:
    """Secrets (issue 9): each sealed custodial key records the id of the key-encryption key it
    is sealed under (`custodial_keys.key_id`, `key_rotations.key_id`; NULL for keys from before,
    stamped at the next start once the KEK opens them), and `kek_check` holds the id and an
    AES-GCM check value of the KEK the database belongs to."""
    for statement in _statements(
        """
ALTER TABLE custodial_keys ADD COLUMN key_id TEXT;
ALTER TABLE key_rotations ADD COLUMN key_id TEXT;
CREATE TABLE IF NOT EXISTS kek_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    check_value BLOB NOT NULL,
    created_at TEXT NOT NULL
);
"""
    ):
        conn.execute(statement)


def _m_four_eyes(conn: sqlite3.Connection) -> None:
    """Tasks record the first of two approvals (setting `four_eyes_threshold`)."""
    conn.execute("ALTER TABLE tasks ADD COLUMN first_approved_by INTEGER REFERENCES users(id)")
    conn.execute("ALTER TABLE tasks ADD COLUMN first_approved_at TEXT")


def _m_task_details(conn: sqlite3.Connection) -> None:
    """Citizen tasks (issue 10): a task's `place`, `deadline` (ISO date or NULL) and
    `materials` (what to pick up, and where; '' for tasks from before), the coordinator's
    `rejection_reason`, and `proofs` (the note and the number of photos a citizen sent in with
    a task; the photos themselves are files in the data directory, `DataDir.proofs`)."""
    for statement in _statements(
        """
ALTER TABLE tasks ADD COLUMN place TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN deadline TEXT;
ALTER TABLE tasks ADD COLUMN materials TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN rejection_reason TEXT;
"""
    ):
        conn.execute(statement)
    for statement in _statements(SCHEMA):
        if "TABLE IF NOT EXISTS proofs" in statement:
            conn.execute(statement)


def _m_citizen_consent(conn: sqlite3.Connection) -> None:
    """Citizen sign-up (issue 10): `users.consented_at`, when a citizen agreed to the privacy
    statement at sign-up (ISO 8601, UTC); NULL for accounts from before and without it."""
    conn.execute("ALTER TABLE users ADD COLUMN consented_at TEXT")


def _m_shop_details(conn: sqlite3.Connection) -> None:
    """Shop sign-up (issue 10): a shop's KvK number and structured address (`shops.kvk`,
    `street`, `house_number`, `postcode`, `town`); NULL for shops from before."""
    for column in ("kvk", "street", "house_number", "postcode", "town"):
        conn.execute(f"ALTER TABLE shops ADD COLUMN {column} TEXT")


def _m_staff_log(conn: sqlite3.Connection) -> None:
    """Staff pages (issue 11): the append-only staff log (`staff_log`, with triggers that
    refuse UPDATE and DELETE)."""
    for statement in _statements(SCHEMA):
        if "staff_log" in statement:
            conn.execute(statement)


def _m_second_factor(conn: sqlite3.Connection) -> None:
    """Staff second factor (issue 11): TOTP secrets (`second_factors`) and recovery codes
    (`recovery_codes`) as in SCHEMA, and `sessions.second_factor_pending` (a staff log-in
    waiting for its code; sessions from before are complete)."""
    conn.execute("ALTER TABLE sessions ADD COLUMN second_factor_pending INTEGER NOT NULL DEFAULT 0")
    for statement in _statements(SCHEMA):
        if "second_factors" in statement or "recovery_codes" in statement:
            conn.execute(statement)


def _m_task_planning(conn: sqlite3.Connection) -> None:
    """Coordinator pages (issue 11): a task's estimated hours, people needed, description,
    withdrawal.

    `tasks.description` ('' for tasks from before), `estimated_minutes` (NULL: not given),
    `people` (1), and the withdrawal: `withdrawn_at`, `withdrawn_by`, `withdrawal_reason`. A
    withdrawn task keeps the `status` it had (open or claimed) and reads as `withdrawn`
    (`store.tasks`): changing the status CHECK would mean rebuilding `tasks`, which `intents`
    and `proofs` reference by foreign key."""
    for statement in _statements(
        """
ALTER TABLE tasks ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN estimated_minutes INTEGER CHECK (estimated_minutes > 0);
ALTER TABLE tasks ADD COLUMN people INTEGER NOT NULL DEFAULT 1 CHECK (people >= 1);
ALTER TABLE tasks ADD COLUMN withdrawn_at TEXT;
ALTER TABLE tasks ADD COLUMN withdrawn_by INTEGER REFERENCES users(id);
ALTER TABLE tasks ADD COLUMN withdrawal_reason TEXT;
"""
    ):
        conn.execute(statement)


def _m_bank_feedback(conn: sqlite3.Connection) -> None:
    """Finance pages (issue 11): bank statements (camt.053) and status reports (pain.002)
    imported (`bank_files`), their lines and how each matched (`bank_bookings`), and when each
    payment of a settlement batch was paid (`bank_paid_payments`, by end-to-end id)."""
    for statement in _statements(SCHEMA):
        if "bank_" in statement.split("(", 1)[0]:
            conn.execute(statement)


def _m_staff_admin(conn: sqlite3.Connection) -> None:
    """Admin pages (issue 11): `shops.decline_reason`, the reason an admin gave for declining
    a shop's application (the shop reads it on its page)."""
    conn.execute("ALTER TABLE shops ADD COLUMN decline_reason TEXT")


def _m_lookup_indexes(conn: sqlite3.Connection) -> None:
    """Indexes for what a request reads (issue 12): the caps' sums seek a citizen's approved
    rewards of a year or month in indexes made for them (tasks_cap made them read each task of
    the citizen), and no request scans a whole table of tasks, intents, payments or redemption
    requests any more (each index names its reader in SCHEMA)."""
    conn.execute("DROP INDEX IF EXISTS tasks_cap")
    tables = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for statement in _statements(SCHEMA):
        made = re.search(r"CREATE INDEX IF NOT EXISTS (\w+)\s+ON (\w+)", statement)
        if made and made[1] in LOOKUP_INDEXES and made[2] in tables:  # others: SCHEMA makes them
            conn.execute(statement)


LOOKUP_INDEXES = (
    "tasks_year_rewards", "tasks_month_rewards", "tasks_status", "intents_user", "intents_ref",
    "payments_payee", "redemption_requests_shop", "redemption_requests_pending",
)  # fmt: skip
"""The indexes `_m_lookup_indexes` adds."""


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _m1_blocked_intents,
    _m_login_and_sessions,
    _m_insiders,
    _m_payees_and_refunds,
    _m_kek_check,
    _m_four_eyes,
    _m_task_details,
    _m_citizen_consent,
    _m_shop_details,
    _m_staff_log,
    _m_second_factor,
    _m_task_planning,
    _m_bank_feedback,
    _m_staff_admin,
    _m_lookup_indexes,
]
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

"""The mirror's schema (plain SQLite DDL), shared by the writer and the readers.

Tables hold one row per kept event, keyed by (tx_hash, log_index) (`redemptions` by its id),
with the block number and block timestamp; addresses EIP-55 checksummed, amounts INTEGER base
units, hashes lowercase 0x-hex. `checkpoint` (one row, id 1) is the last block fully indexed;
`blocks` keeps the headers of indexed blocks (those with events and every checkpoint) so a
reorg can be found. `meta` records which token and chain the file mirrors.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from node.addresses import ZERO_ADDRESS

SCHEMA_VERSION = 1

EVENT_TABLES = ("transfers", "rewards", "redemptions", "registrations", "authorizations")
"""Tables with one row per event; each has `block_number` (rolled back on a reorg)."""

_POSITION = {"tx_hash": str, "log_index": int, "block_number": int, "block_timestamp": int}

_TABLES: dict[str, tuple[dict[str, type], str | tuple[str, ...]]] = {
    "meta": ({"key": str, "value": str}, "key"),
    "checkpoint": ({"id": int, "block_number": int, "block_hash": str}, "id"),
    "blocks": ({"number": int, "hash": str, "parent_hash": str, "timestamp": int}, "number"),
    "transfers": (
        {**_POSITION, "from_address": str, "to_address": str, "amount": int},
        ("tx_hash", "log_index"),
    ),
    "rewards": (
        {**_POSITION, "to_address": str, "amount": int, "task_ref": str},
        ("tx_hash", "log_index"),
    ),
    "redemptions": (
        {
            "redemption_id": int,
            "shop": str,
            "amount": int,
            "block_number": int,
            "block_timestamp": int,
            "tx_hash": str,
            "log_index": int,
        },
        "redemption_id",
    ),
    "registrations": (
        {**_POSITION, "account": str, "kind": str},
        ("tx_hash", "log_index"),
    ),
    "authorizations": (
        {**_POSITION, "authorizer": str, "nonce": str, "state": str},
        ("tx_hash", "log_index"),
    ),
}

_INDEXES: list[tuple[str, list[str], bool]] = [
    ("transfers", ["from_address"], False),
    ("transfers", ["to_address"], False),
    ("transfers", ["block_number"], False),
    ("rewards", ["to_address"], False),
    ("rewards", ["task_ref"], False),
    ("rewards", ["block_number"], False),
    ("redemptions", ["shop"], False),
    ("redemptions", ["block_number"], False),
    ("redemptions", ["tx_hash", "log_index"], True),
    ("registrations", ["account"], False),
    ("registrations", ["block_number"], False),
    ("authorizations", ["authorizer", "nonce"], False),
    ("authorizations", ["block_number"], False),
]

_VIEWS = {
    # sum in - sum out per address; the zero address (mint source, burn sink) is left out
    "balances": f"""
        SELECT address, SUM(delta) AS balance FROM (
            SELECT to_address AS address, amount AS delta FROM transfers
            WHERE to_address != '{ZERO_ADDRESS}'
            UNION ALL
            SELECT from_address AS address, -amount AS delta FROM transfers
            WHERE from_address != '{ZERO_ADDRESS}'
        ) GROUP BY address
    """,
    # the latest registration of each address ('none' once deregistered)
    "accounts": """
        SELECT account AS address, kind FROM (
            SELECT account, kind, ROW_NUMBER() OVER (
                PARTITION BY account ORDER BY block_number DESC, log_index DESC
            ) AS position FROM registrations
        ) WHERE position = 1
    """,
}


@dataclass(frozen=True)
class Checkpoint:
    """The last block the mirror has fully indexed: number and hash (0x-hex)."""

    block_number: int
    block_hash: str


def _create_table(name: str, columns: dict[str, type], pk: str | tuple[str, ...]) -> str:
    # the same DDL sqlite-utils wrote for the files made before: NOT NULL everywhere, a single
    # primary key inline, a composite one at the end
    sql_type = {str: "TEXT", int: "INTEGER"}
    parts = [
        f'"{col}" {sql_type[kind]}' + (" PRIMARY KEY" if pk == col else "") + " NOT NULL"
        for col, kind in columns.items()
    ]
    if isinstance(pk, tuple):
        parts.append("PRIMARY KEY (" + ", ".join(f'"{col}"' for col in pk) + ")")
    body = ",\n   ".join(parts)
    return f'CREATE TABLE IF NOT EXISTS "{name}" (\n   {body}\n)'


def insert_sql(table: str) -> str:
    """`INSERT OR REPLACE` of one full row of `table`, columns in schema order (`?` markers)."""
    columns = _TABLES[table][0]
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT OR REPLACE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create missing tables, indexes and views (idempotent, one transaction); views are
    redefined each time. Leaves no transaction open."""
    statements = [_create_table(name, columns, pk) for name, (columns, pk) in _TABLES.items()]
    for table, indexed, unique in _INDEXES:
        statements.append(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS "
            f'"{table}_{"_".join(indexed)}"\n    ON "{table}" '
            f"({', '.join(f'{chr(34)}{c}{chr(34)}' for c in indexed)})"
        )
    for name, sql in _VIEWS.items():
        statements.append(f'DROP VIEW IF EXISTS "{name}"')
        statements.append(f'CREATE VIEW "{name}" AS {sql.strip()}')
    if conn.in_transaction:
        conn.commit()
    conn.execute("BEGIN")
    try:
        for statement in statements:
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise

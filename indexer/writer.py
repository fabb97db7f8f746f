"""Write mirror rows into the mirror file (`sqlite3`, `executemany`): rows and checkpoint in one
commit.

Every write is idempotent: rows are keyed by (tx_hash, log_index) (`redemptions` by the id the
contract issued) and replace what is there, so replaying a range is harmless. A crash between
two writes loses nothing: the checkpoint moves only with the rows it covers. The file is in WAL
mode, so readers (`indexer.mirror`) never block the writer nor see half a write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from indexer._schema import EVENT_TABLES, Checkpoint, ensure_schema, insert_sql
from indexer.decoder import (
    KIND_NAMES,
    AccountRegistered,
    AuthorizationCanceled,
    AuthorizationUsed,
    Block,
    Record,
    Redeemed,
    RewardMinted,
    Transfer,
)

__all__ = ["Checkpoint", "Writer", "rows_by_table"]

Row = tuple[Any, ...]

_INSERT = {name: insert_sql(name) for name in (*EVENT_TABLES, "blocks", "checkpoint", "meta")}


def _row(record: Record, timestamp: int) -> tuple[str, Row]:
    pos = (record.tx_hash, record.log_index, record.block_number, timestamp)
    match record:
        case Transfer():
            return "transfers", (*pos, record.from_address, record.to_address, record.amount)
        case RewardMinted():
            return "rewards", (*pos, record.to_address, record.amount, record.task_ref)
        case Redeemed():
            return "redemptions", (
                record.redemption_id, record.shop, record.amount,
                record.block_number, timestamp, record.tx_hash, record.log_index,
            )  # fmt: skip
        case AccountRegistered():
            return "registrations", (*pos, record.account, KIND_NAMES[record.kind])
        case AuthorizationUsed():
            return "authorizations", (*pos, record.authorizer, record.nonce, "used")
        case AuthorizationCanceled():
            return "authorizations", (*pos, record.authorizer, record.nonce, "canceled")


def rows_by_table(records: Iterable[Record], blocks: Mapping[int, Block]) -> dict[str, list[Row]]:
    """Mirror rows (tuples in column order) per table for `records`, timestamps from `blocks`
    (KeyError if one lacks); the same rows `indexer.decoder.decode_rows` makes from raw logs."""
    out: dict[str, list[Row]] = {name: [] for name in EVENT_TABLES}
    for record in records:
        table, row = _row(record, blocks[record.block_number].timestamp)
        out[table].append(row)
    return out


def _block_row(block: Block) -> Row:
    return (block.number, block.hash, block.parent_hash, block.timestamp)


class Writer:
    """The one writing connection to a mirror file (created with its schema when missing).

    Not for concurrent use: the indexer serialises its calls.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit mode: each write opens and commits its own transaction (`_transaction`)
        self.conn = sqlite3.connect(
            self.path, timeout=30.0, check_same_thread=False, isolation_level=None
        )
        self.conn.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL cannot corrupt the file; a power cut may lose the last commits, which
        # only moves the checkpoint back with its rows: the next sync fetches them again.
        self.conn.execute("PRAGMA synchronous=NORMAL")
        ensure_schema(self.conn)
        self._batch: int | None = None  # rows written in the open batch, None outside one
        self._commit_rows = 0

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One all-or-nothing write: a transaction of its own, or a savepoint inside an open
        batch (`batch`)."""
        if self._batch is not None:
            self.conn.execute("SAVEPOINT write")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK TO write")
                self.conn.execute("RELEASE write")
                raise
            self.conn.execute("RELEASE write")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def batch(self, commit_rows: int) -> Iterator[None]:
        """Group the writes inside into transactions of about `commit_rows` rows: each write
        still is all or nothing (a savepoint), the rows and checkpoints of several writes are
        committed together. Fewer, larger commits write each index page to the WAL fewer times.
        On leaving (also by an exception, after a failed write was undone) what the writes
        before stored is committed. Memory does not grow with `commit_rows`: SQLite keeps a
        transaction's pages in its file, not in this process."""
        if self._batch is not None:
            yield  # already batching
            return
        self._batch = 0
        self._commit_rows = commit_rows
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            self._batch = None
            if self.conn.in_transaction:  # SQLite may have rolled back already (disk full)
                self.conn.execute("COMMIT")

    def _written(self, rows: int) -> None:
        """Count rows of the open batch; commit and begin anew past `commit_rows`."""
        if self._batch is None:
            return
        self._batch += rows
        if self._batch >= self._commit_rows:
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN IMMEDIATE")
            self._batch = 0

    # ----- reads the indexer needs -----

    def checkpoint(self) -> Checkpoint | None:
        """The last block fully indexed, or None for a new mirror."""
        row = self.conn.execute(
            "SELECT block_number, block_hash FROM checkpoint WHERE id = 1"
        ).fetchone()
        return Checkpoint(int(row[0]), str(row[1])) if row else None

    def meta(self) -> dict[str, str]:
        """What the file mirrors: `token`, `chain_id`, `start_block` (strings)."""
        return {str(k): str(v) for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: Mapping[str, object]) -> None:
        """Record `values` in `meta` (replacing keys that exist)."""
        with self._transaction() as conn:
            conn.executemany(_INSERT["meta"], [(k, str(v)) for k, v in values.items()])

    def stored_blocks(self, at_or_below: int, limit: int) -> list[Block]:
        """Indexed block headers at or below `at_or_below`, highest first, at most `limit`."""
        rows = self.conn.execute(
            "SELECT number, hash, parent_hash, timestamp FROM blocks WHERE number <= ? "
            "ORDER BY number DESC LIMIT ?",
            [at_or_below, limit],
        ).fetchall()
        return [Block(int(n), str(h), str(p), int(t)) for n, h, p, t in rows]

    # ----- writes -----

    def write_rows(
        self, rows: Mapping[str, Sequence[Row]], headers: Iterable[Block], checkpoint: Block
    ) -> None:
        """Store `rows` (per event table, tuples in column order as `decode_rows` makes them),
        the block `headers` and move the checkpoint to `checkpoint` (its header stored too), in
        one transaction (a savepoint within a `batch`): all or nothing. Replaying rows already
        stored changes nothing."""
        with self._transaction() as conn:
            for name, table_rows in rows.items():
                if table_rows:
                    conn.executemany(_INSERT[name], table_rows)
            conn.executemany(
                _INSERT["blocks"],
                sorted({_block_row(b) for b in (*headers, checkpoint)}),
            )
            conn.execute(_INSERT["checkpoint"], (1, checkpoint.number, checkpoint.hash))
        self._written(sum(len(r) for r in rows.values()) + 1)

    def write(
        self, records: Sequence[Record], blocks: Mapping[int, Block], checkpoint: Block
    ) -> None:
        """Store `records`, the headers of their blocks and move the checkpoint to `checkpoint`,
        in one transaction. `blocks` must hold every record's block (else KeyError, nothing
        written). Replaying records already stored changes nothing."""
        tables = rows_by_table(records, blocks)
        self.write_rows(tables, [blocks[r.block_number] for r in records], checkpoint)

    def rollback_to(self, common: Block | None) -> int:
        """Forget everything above block `common` (the last block shared with the chain) and move
        the checkpoint there, in one transaction; `None` empties the mirror. Returns the number
        of event rows deleted."""
        above = common.number if common is not None else -1
        deleted = 0
        with self._transaction() as conn:
            for name in EVENT_TABLES:
                cursor = conn.execute(f"DELETE FROM {name} WHERE block_number > ?", [above])
                deleted += max(cursor.rowcount, 0)
            conn.execute("DELETE FROM blocks WHERE number > ?", [above])
            if common is None:
                conn.execute("DELETE FROM checkpoint")
            else:
                conn.execute(_INSERT["blocks"], _block_row(common))
                conn.execute(_INSERT["checkpoint"], (1, common.number, common.hash))
        return deleted

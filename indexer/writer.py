"""Write decoded records into the mirror file (sqlite-utils): rows and checkpoint in one commit.

Every write is idempotent: rows are keyed by (tx_hash, log_index) (`redemptions` by the id the
contract issued) and replace what is there, so replaying a range is harmless. A crash between
two writes loses nothing: the checkpoint moves only with the rows it covers. The file is in WAL
mode, so readers (`indexer.mirror`) never block the writer nor see half a range.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from indexer._schema import EVENT_TABLES, Checkpoint, ensure_schema
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


def _position(record: Record, timestamp: int) -> dict[str, Any]:
    return {
        "tx_hash": record.tx_hash,
        "log_index": record.log_index,
        "block_number": record.block_number,
        "block_timestamp": timestamp,
    }


def _row(record: Record, timestamp: int) -> tuple[str, dict[str, Any]]:
    pos = _position(record, timestamp)
    match record:
        case Transfer():
            return "transfers", {
                **pos,
                "from_address": record.from_address,
                "to_address": record.to_address,
                "amount": record.amount,
            }
        case RewardMinted():
            return "rewards", {
                **pos,
                "to_address": record.to_address,
                "amount": record.amount,
                "task_ref": record.task_ref,
            }
        case Redeemed():
            return "redemptions", {
                "redemption_id": record.redemption_id,
                "shop": record.shop,
                "amount": record.amount,
                **pos,
            }
        case AccountRegistered():
            return "registrations", {
                **pos,
                "account": record.account,
                "kind": KIND_NAMES[record.kind],
            }
        case AuthorizationUsed():
            return "authorizations", {
                **pos,
                "authorizer": record.authorizer,
                "nonce": record.nonce,
                "state": "used",
            }
        case AuthorizationCanceled():
            return "authorizations", {
                **pos,
                "authorizer": record.authorizer,
                "nonce": record.nonce,
                "state": "canceled",
            }


def rows_by_table(
    records: Iterable[Record], blocks: Mapping[int, Block]
) -> dict[str, list[dict[str, Any]]]:
    """Mirror rows per table for `records`, timestamps from `blocks` (KeyError if one lacks)."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in EVENT_TABLES}
    for record in records:
        table, row = _row(record, blocks[record.block_number].timestamp)
        out[table].append(row)
    return out


def _block_row(block: Block) -> dict[str, Any]:
    return {
        "number": block.number,
        "hash": block.hash,
        "parent_hash": block.parent_hash,
        "timestamp": block.timestamp,
    }


class Writer:
    """The one writing connection to a mirror file (created with its schema when missing).

    Not for concurrent use: the indexer serialises its calls.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        self.db = Database(conn)
        self.db.enable_wal()
        # WAL + NORMAL cannot corrupt the file; a power cut may lose the last commits, which
        # only moves the checkpoint back with its rows: the next sync fetches them again.
        self.db.execute("PRAGMA synchronous=NORMAL")
        ensure_schema(self.db)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # ----- reads the indexer needs -----

    def checkpoint(self) -> Checkpoint | None:
        """The last block fully indexed, or None for a new mirror."""
        row = self.db.execute(
            "SELECT block_number, block_hash FROM checkpoint WHERE id = 1"
        ).fetchone()
        return Checkpoint(int(row[0]), str(row[1])) if row else None

    def meta(self) -> dict[str, str]:
        """What the file mirrors: `token`, `chain_id`, `start_block` (strings)."""
        return {str(k): str(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def set_meta(self, values: Mapping[str, object]) -> None:
        """Record `values` in `meta` (replacing keys that exist)."""
        with self.db.atomic():
            self.db.table("meta").insert_all(
                ({"key": k, "value": str(v)} for k, v in values.items()), replace=True
            )

    def stored_blocks(self, at_or_below: int, limit: int) -> list[Block]:
        """Indexed block headers at or below `at_or_below`, highest first, at most `limit`."""
        rows = self.db.execute(
            "SELECT number, hash, parent_hash, timestamp FROM blocks WHERE number <= ? "
            "ORDER BY number DESC LIMIT ?",
            [at_or_below, limit],
        ).fetchall()
        return [Block(int(n), str(h), str(p), int(t)) for n, h, p, t in rows]

    # ----- writes -----

    def write(
        self, records: Sequence[Record], blocks: Mapping[int, Block], checkpoint: Block
    ) -> None:
        """Store `records`, the headers of their blocks and move the checkpoint to `checkpoint`,
        in one transaction. `blocks` must hold every record's block (else KeyError, nothing
        written). Replaying records already stored changes nothing."""
        tables = rows_by_table(records, blocks)
        used = {blocks[r.block_number] for r in records}
        used.add(checkpoint)
        with self.db.atomic():
            for name, rows in tables.items():
                if rows:
                    self.db.table(name).insert_all(rows, replace=True, batch_size=500)
            self.db.table("blocks").insert_all(
                (_block_row(b) for b in sorted(used, key=lambda b: b.number)), replace=True
            )
            self.db.table("checkpoint").insert(
                {"id": 1, "block_number": checkpoint.number, "block_hash": checkpoint.hash},
                replace=True,
            )

    def rollback_to(self, common: Block | None) -> int:
        """Forget everything above block `common` (the last block shared with the chain) and move
        the checkpoint there, in one transaction; `None` empties the mirror. Returns the number
        of event rows deleted."""
        above = common.number if common is not None else -1
        deleted = 0
        with self.db.atomic():
            for name in EVENT_TABLES:
                cursor = self.db.execute(f"DELETE FROM {name} WHERE block_number > ?", [above])
                deleted += max(cursor.rowcount, 0)
            self.db.execute("DELETE FROM blocks WHERE number > ?", [above])
            if common is None:
                self.db.execute("DELETE FROM checkpoint")
            else:
                self.db.table("blocks").insert(_block_row(common), replace=True)
                self.db.table("checkpoint").insert(
                    {"id": 1, "block_number": common.number, "block_hash": common.hash},
                    replace=True,
                )
        return deleted

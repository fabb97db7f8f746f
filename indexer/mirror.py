"""Read queries on the mirror file for the API, settlement and audit.

The file is opened read-only (`file:...?mode=ro`), so readers never block the indexer; each
query is one SQL statement and sees one committed state (WAL). The mirror is complete up to its
`checkpoint()`: a caller that needs a given chain block first waits for it (`wait_until`).
Amounts are `BaseUnits`; addresses are accepted in any case and returned checksummed.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from heitje.errors import InvalidInput
from heitje.money import BaseUnits
from indexer._schema import Checkpoint
from indexer.errors import IndexerTimeout, MirrorBehind
from node.addresses import ZERO_ADDRESS

# Reading the checkpoint needs neither web3 nor eth-utils (`heitje status` starts in under
# 0.3 s): the decoder's kinds and the checksumming are imported when first needed.
if TYPE_CHECKING:
    from eth_typing import ChecksumAddress

    from node.contract import AccountKind
else:
    ChecksumAddress = str  # eth-typing's NewType: the same value at run time

__all__ = ["Checkpoint", "HistoryEntry", "Mirror", "Redemption"]

HistoryKind = Literal["reward", "payment_in", "payment_out", "redemption"]

_CHUNK = 500  # ids per IN (...) query, well below SQLite's limit on bound parameters


@dataclass(frozen=True)
class HistoryEntry:
    """One movement of an address's HEIT, from that address's point of view.

    kind: "reward" (minted to it; `task_ref` set), "payment_in" / "payment_out" (a transfer
    from / to `counterparty`: payments and refunds), "redemption" (it burned HEIT for euros;
    `redemption_id` set). `amount` is positive base units; the sign follows from the kind.
    `timestamp` is the block's unix time.
    """

    kind: HistoryKind
    amount: BaseUnits
    counterparty: ChecksumAddress | None
    block_number: int
    timestamp: int
    tx_hash: str
    log_index: int
    task_ref: str | None = None
    redemption_id: int | None = None


@dataclass(frozen=True)
class Redemption:
    """A redemption as the contract recorded it: id, shop, burned amount, where and when."""

    redemption_id: int
    shop: ChecksumAddress
    amount: BaseUnits
    block_number: int
    block_timestamp: int
    tx_hash: str
    log_index: int


@functools.cache
def _kinds() -> dict[str, AccountKind]:
    """Registry kind by its name in the mirror (`none`, `citizen`, `shop`)."""
    from indexer.decoder import KIND_NAMES

    return {name: kind for kind, name in KIND_NAMES.items()}


def _address(value: str) -> ChecksumAddress:
    if not isinstance(value, str):
        raise InvalidInput(f"{value!r} is not an Ethereum address")
    return _checksummed(value)


@functools.lru_cache(maxsize=65_536)
def _checksummed(value: str) -> ChecksumAddress:
    """`value` checked and in EIP-55 form, remembered (a keccak hash per read cost about a
    tenth of a wallet read)."""
    from eth_utils.address import is_address, to_checksum_address

    if not is_address(value.lower()):
        raise InvalidInput(f"{value!r} is not an Ethereum address")
    return to_checksum_address(value)


_HISTORY = f"""
    SELECT 'reward' AS kind, amount, NULL AS counterparty, block_number, block_timestamp,
           tx_hash, log_index, task_ref, NULL AS redemption_id
      FROM rewards WHERE to_address = :a
    UNION ALL
    SELECT 'redemption', amount, NULL, block_number, block_timestamp, tx_hash, log_index,
           NULL, redemption_id
      FROM redemptions WHERE shop = :a
    UNION ALL
    SELECT 'payment_out', amount, to_address, block_number, block_timestamp, tx_hash, log_index,
           NULL, NULL
      FROM transfers WHERE from_address = :a AND to_address != '{ZERO_ADDRESS}'
    UNION ALL
    SELECT 'payment_in', amount, from_address, block_number, block_timestamp, tx_hash, log_index,
           NULL, NULL
      FROM transfers WHERE to_address = :a AND from_address != '{ZERO_ADDRESS}'
    ORDER BY block_number DESC, log_index DESC
    LIMIT :limit OFFSET :offset
"""


class Mirror:
    """Read-only access to a mirror file. Thread-safe (one connection behind a lock).

    The file is opened on first use: until the indexer has created it, the mirror reads as
    empty (no checkpoint, zero balances, no history), so a service may start before the indexer.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is not None:
            return self._conn
        if not self.path.exists():
            return None
        try:
            conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
        except sqlite3.OperationalError:
            # read-only open fails where the WAL index cannot be shared (e.g. a read-only
            # directory without -shm): fall back to a normal connection that only reads
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("PRAGMA query_only = 1")
            tables = conn.execute("SELECT name FROM sqlite_master").fetchall()
        if ("checkpoint",) not in tables:  # the writer creates the schema in one transaction
            conn.close()
            return None
        conn.execute("PRAGMA busy_timeout = 5000")
        self._conn = conn
        return conn

    def close(self) -> None:
        """Close the connection (a later read opens it again)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _all(self, sql: str, params: dict[str, Any] | list[Any] | None = None) -> list[Any]:
        with self._lock:
            conn = self._connect()
            return conn.execute(sql, params or []).fetchall() if conn is not None else []

    def _one(self, sql: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _sum(self, sql: str, params: dict[str, Any] | list[Any] | None = None) -> BaseUnits:
        row = self._one(sql, params)
        return BaseUnits(int(row[0]) if row else 0)

    # ----- position -----

    def checkpoint(self) -> Checkpoint | None:
        """The last block the mirror holds completely (number, hash); None before the first."""
        row = self._one("SELECT block_number, block_hash FROM checkpoint WHERE id = 1")
        return Checkpoint(int(row[0]), str(row[1])) if row else None

    def checkpoint_block(self) -> int | None:
        """The checkpoint's block number, or None before the first sync."""
        checkpoint = self.checkpoint()
        return checkpoint.block_number if checkpoint else None

    def block_timestamp(self, block_number: int) -> int | None:
        """Unix time of an indexed block whose header the mirror keeps (every block with events
        and the checkpoint), or None for a block it does not keep."""
        row = self._one("SELECT timestamp FROM blocks WHERE number = ?", [block_number])
        return int(row[0]) if row else None

    def wait_until(
        self, block_number: int, timeout: float = 30.0, poll_interval: float = 0.05
    ) -> Checkpoint:
        """Wait (polling the file) until the running indexer reached `block_number`.

        Returns the checkpoint; raises `IndexerTimeout`.
        """
        deadline = time.monotonic() + timeout
        while True:
            checkpoint = self.checkpoint()
            if checkpoint is not None and checkpoint.block_number >= block_number:
                return checkpoint
            if time.monotonic() >= deadline:
                have = checkpoint.block_number if checkpoint else "nothing"
                raise IndexerTimeout(
                    f"mirror reached block {have}, not {block_number}, within {timeout}s"
                )
            time.sleep(poll_interval)

    # ----- balances and supply -----

    def balance(self, address: str) -> BaseUnits:
        """HEIT balance of `address` in base units (0 for an address never seen)."""
        return self._sum(
            "SELECT (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE to_address = :a)"
            " - (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE from_address = :a)",
            {"a": _address(address)},
        )

    def balances(self) -> dict[ChecksumAddress, BaseUnits]:
        """Balance of every address that ever held HEIT (zero balances included)."""
        return {
            ChecksumAddress(a): BaseUnits(int(b))
            for a, b in self._all("SELECT address, balance FROM balances ORDER BY address")
        }

    def total_supply(self) -> BaseUnits:
        """Minted (transfers from zero) minus burned (transfers to zero), base units."""
        return self._sum(
            "SELECT (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE from_address = :z)"
            " - (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE to_address = :z)",
            {"z": ZERO_ADDRESS},
        )

    def total_minted(self) -> BaseUnits:
        """Sum of every `RewardMinted` amount, base units (the contract's `totalMinted`)."""
        return self._sum("SELECT COALESCE(SUM(amount), 0) FROM rewards")

    def total_redeemed(self) -> BaseUnits:
        """Sum of every `Redeemed` amount, base units (the contract's `totalRedeemed`)."""
        return self._sum("SELECT COALESCE(SUM(amount), 0) FROM redemptions")

    # ----- accounts -----

    def account_kind(self, address: str) -> AccountKind:
        """Registry kind of `address` after its latest registration (`NONE` if never)."""
        row = self._one("SELECT kind FROM accounts WHERE address = ?", [_address(address)])
        return _kinds()[str(row[0]) if row else "none"]

    def accounts(self) -> dict[ChecksumAddress, AccountKind]:
        """Latest kind of every address ever registered (`NONE` once deregistered)."""
        return {
            ChecksumAddress(a): _kinds()[str(k)]
            for a, k in self._all("SELECT address, kind FROM accounts ORDER BY address")
        }

    # ----- history -----

    def history(self, address: str, limit: int = 50, offset: int = 0) -> list[HistoryEntry]:
        """Rewards, transfers in and out and redemptions of `address`, newest first."""
        if limit < 0 or offset < 0:
            raise InvalidInput("limit and offset must not be negative")
        rows = self._all(_HISTORY, {"a": _address(address), "limit": limit, "offset": offset})
        return [
            HistoryEntry(
                kind=kind,
                amount=BaseUnits(int(amount)),
                counterparty=ChecksumAddress(other) if other else None,
                block_number=int(number),
                timestamp=int(ts),
                tx_hash=str(tx),
                log_index=int(index),
                task_ref=ref,
                redemption_id=int(rid) if rid is not None else None,
            )
            for kind, amount, other, number, ts, tx, index, ref, rid in rows
        ]

    # ----- redemptions -----

    def redemptions(
        self, through_timestamp: int | None = None, through_block: int | None = None
    ) -> list[Redemption]:
        """Redemptions in id order, limited to block timestamps <= `through_timestamp` and block
        numbers <= `through_block` when given.

        Raises `MirrorBehind` when `through_block` is past the checkpoint (the list could miss
        some). A timestamp cut-off cannot be checked that way: wait for the head first.
        """
        if through_block is not None:
            checkpoint = self.checkpoint()
            if checkpoint is None or checkpoint.block_number < through_block:
                have = checkpoint.block_number if checkpoint else "nothing"
                raise MirrorBehind(f"mirror holds blocks through {have}, not {through_block}")
        where, params = [], {}
        if through_timestamp is not None:
            where.append("block_timestamp <= :ts")
            params["ts"] = through_timestamp
        if through_block is not None:
            where.append("block_number <= :bn")
            params["bn"] = through_block
        sql = (
            "SELECT redemption_id, shop, amount, block_number, block_timestamp, tx_hash, "
            "log_index FROM redemptions"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY redemption_id"
        )
        return [_redemption(row) for row in self._all(sql, params)]

    def redemption(self, redemption_id: int) -> Redemption | None:
        """One redemption by id, or None when the mirror has not seen it."""
        row = self._one(
            "SELECT redemption_id, shop, amount, block_number, block_timestamp, tx_hash, "
            "log_index FROM redemptions WHERE redemption_id = ?",
            [redemption_id],
        )
        return _redemption(row) if row else None

    def redemptions_by_id(self, ids: Iterable[int]) -> dict[int, Redemption]:
        """The redemptions among `ids` the mirror holds, by id (ids it has not seen are left
        out): what a ledger of settled redemptions is checked against."""
        wanted = sorted(set(ids))
        found: dict[int, Redemption] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self._all(
                "SELECT redemption_id, shop, amount, block_number, block_timestamp, tx_hash, "
                f"log_index FROM redemptions WHERE redemption_id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update((r.redemption_id, r) for r in map(_redemption, rows))
        return found


def _redemption(row: Any) -> Redemption:
    rid, shop, amount, number, ts, tx, index = row
    return Redemption(
        int(rid),
        ChecksumAddress(shop),
        BaseUnits(int(amount)),
        int(number),
        int(ts),
        str(tx),
        int(index),
    )

"""Local transaction signing with a nonce journal that survives restarts.

Every transaction is signed, written to the journal (`nonces.sqlite`) and only then broadcast.
After a crash, `Signer.recover()` re-broadcasts what the journal holds and the chain has not
mined, so a signed transaction is neither lost nor sent under a second nonce. Nonces come from
max(chain pending count, last journaled nonce + 1). Standard JSON-RPC only: no unlocked accounts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound
from web3.types import TxParams, TxReceipt

from heitje.errors import ChainError
from node.contract import decode_revert

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    address TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    raw_tx BLOB NOT NULL,
    status TEXT NOT NULL,          -- signed | sent | mined | reverted | dropped
    created_at REAL NOT NULL,
    PRIMARY KEY (address, nonce, tx_hash)
);
"""


@dataclass(frozen=True)
class SentTx:
    """A transaction the signer broadcast: hash (0x hex) and nonce."""

    tx_hash: str
    nonce: int


class Signer:
    """Signs and sends transactions for one local key, serialising its nonces.

    Thread-safe: one lock covers nonce choice, journaling and broadcast. `journal_path` is a
    SQLite file shared by every signer of a deployment (rows keyed by address).
    """

    def __init__(self, w3: Web3, account: LocalAccount, journal_path: Path) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self._lock = threading.Lock()
        self._db_path = journal_path
        self._chain_id: int | None = None
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db_path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _next_nonce(self, db: sqlite3.Connection) -> int:
        pending = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        row = db.execute(
            "SELECT MAX(nonce) FROM journal WHERE address = ? AND status IN ('signed','sent')",
            (self.address,),
        ).fetchone()
        journaled = -1 if row[0] is None else int(row[0])
        return max(pending, journaled + 1)

    def simulate(self, tx: TxParams) -> None:
        """eth_call `tx` from this key; raises `ChainError` with the decoded revert code."""
        call: TxParams = {**tx, "from": self.address}
        try:
            self.w3.eth.call(call)
        except ContractLogicError as e:
            raise decode_revert(e.data if isinstance(e.data, str) else None) from None

    def send(self, tx: TxParams, *, on_signed: Callable[[SentTx], None] | None = None) -> SentTx:
        """Simulate, sign, journal and broadcast `tx` (to, data, optional value/gas).

        `on_signed`, if given, is called with the hash before broadcast (callers record it
        in their own state, e.g. an outbox row). Raises `ChainError` when the call reverts
        (code from the contract's custom error) or the node refuses the transaction.
        """
        self.simulate(tx)
        with self._lock:
            db = self._db()
            try:
                nonce = self._next_nonce(db)
                full: dict[str, Any] = {
                    "chainId": self.chain_id,
                    "nonce": nonce,
                    "gasPrice": int(self.w3.eth.gas_price),
                    "value": 0,
                    **tx,
                }
                full.pop("from", None)
                if "gas" not in full:
                    est = self.w3.eth.estimate_gas({**tx, "from": self.address})
                    full["gas"] = int(est * 12 // 10) + 10_000
                signed = self.account.sign_transaction(full)
                tx_hash = "0x" + bytes(signed.hash).hex()
                db.execute(
                    "INSERT INTO journal VALUES (?,?,?,?,?,?)",
                    (
                        self.address,
                        nonce,
                        tx_hash,
                        bytes(signed.raw_transaction),
                        "signed",
                        time.time(),
                    ),
                )
                sent = SentTx(tx_hash, nonce)
                if on_signed is not None:
                    on_signed(sent)
                try:
                    self.w3.eth.send_raw_transaction(signed.raw_transaction)
                except Exception as e:
                    db.execute("UPDATE journal SET status='dropped' WHERE tx_hash=?", (tx_hash,))
                    raise ChainError(f"node refused transaction: {e}", code="tx_refused") from e
                db.execute("UPDATE journal SET status='sent' WHERE tx_hash=?", (tx_hash,))
                return sent
            finally:
                db.close()

    def _record(self, tx_hash: str, receipt: TxReceipt) -> None:
        status = "mined" if receipt["status"] == 1 else "reverted"
        with self._lock:
            db = self._db()
            try:
                db.execute("UPDATE journal SET status=? WHERE tx_hash=?", (status, tx_hash))
            finally:
                db.close()

    def outcome(self, tx_hash: str) -> TxReceipt | None:
        """The receipt of `tx_hash` once mined (its fate, `mined` or `reverted`, is written to
        the journal: the one record of a transaction's fate), or None while it is not."""
        try:
            receipt: TxReceipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        self._record(tx_hash, receipt)
        return receipt

    def fate(self, tx_hash: str) -> str | None:
        """The journal's status of `tx_hash` (see `journal_fate`)."""
        return journal_fate(self._db_path, tx_hash)

    def wait(self, tx_hash: str, timeout: float = 60.0) -> TxReceipt:
        """Wait for the receipt of `tx_hash`; raises `ChainError` (`tx_reverted`, `tx_timeout`)."""
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=timeout, poll_latency=0.05
            )
        except TimeExhausted:
            raise ChainError(f"{tx_hash} not mined within {timeout}s", code="tx_timeout") from None
        self._record(tx_hash, receipt)
        if receipt["status"] != 1:
            raise ChainError(f"{tx_hash} reverted", code="tx_reverted")
        return receipt

    def transact(self, tx: TxParams, timeout: float = 60.0) -> TxReceipt:
        """`send` then `wait`: the receipt of a successful transaction."""
        return self.wait(self.send(tx).tx_hash, timeout)

    def recover(self) -> list[str]:
        """Re-broadcast journaled transactions the chain has not mined; returns their hashes.

        Called at start-up. A journaled nonce below the chain's confirmed count whose hash is
        unknown was replaced and is marked dropped.
        """
        redone: list[str] = []
        with self._lock:
            db = self._db()
            try:
                rows = db.execute(
                    "SELECT nonce, tx_hash, raw_tx FROM journal WHERE address=? "
                    "AND status IN ('signed','sent') ORDER BY nonce",
                    (self.address,),
                ).fetchall()
                latest = int(self.w3.eth.get_transaction_count(self.address, "latest"))
                for nonce, tx_hash, raw in rows:
                    try:
                        receipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                        status = "mined" if receipt["status"] == 1 else "reverted"
                        db.execute("UPDATE journal SET status=? WHERE tx_hash=?", (status, tx_hash))
                        continue
                    except TransactionNotFound:
                        pass
                    if nonce < latest:
                        db.execute(
                            "UPDATE journal SET status='dropped' WHERE tx_hash=?", (tx_hash,)
                        )
                        continue
                    try:
                        self.w3.eth.send_raw_transaction(HexBytes(raw))
                    except Exception as e:  # already known to the pool is fine
                        if "already" not in str(e).lower() and "known" not in str(e).lower():
                            raise ChainError(
                                f"re-broadcast of {tx_hash} failed: {e}", code="tx_refused"
                            ) from e
                    db.execute("UPDATE journal SET status='sent' WHERE tx_hash=?", (tx_hash,))
                    redone.append(tx_hash)
            finally:
                db.close()
        return redone


def journal_fate(journal_path: Path, tx_hash: str) -> str | None:
    """The status the journal at `journal_path` records for `tx_hash`: signed, sent, mined,
    reverted or dropped; None when it never held that transaction (or the file is absent)."""
    if not journal_path.exists():
        return None
    db = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT status FROM journal WHERE tx_hash=?", (tx_hash,)).fetchone()
    finally:
        db.close()
    return None if row is None else str(row[0])

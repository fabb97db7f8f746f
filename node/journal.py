"""The transaction journal (`nonces.sqlite`): one row per signed transaction of every service
key, its raw bytes, its unsigned parameters and its fate (states in `node.signer`). Owned by
`node.signer`; everyone else reads a fate through `journal_fate`.

The journal is the one record of a transaction's fate. States:

| state | meaning |
|---|---|
| `signed` | journaled; the node has not accepted it (yet): `tick` broadcasts it again |
| `sent` | the node accepted it; not in a block yet |
| `mined` | in a block, fewer than `confirmations` blocks deep |
| `confirmed` | final: succeeded, at least `confirmations` blocks deep |
| `reverted` | final: failed on chain (`error` holds the decoded reason) |
| `replaced` | final: its nonce was used by another transaction (a fee bump or a re-sign) |
| `failed` | final: the node refused it for good before it was ever accepted |
| `expired` | final: not mined in `expire_after` s; a cancel (see below) used its nonce |

A cancel is a 0-value transfer to the key itself with the expired transaction's nonce and a
higher gas price (`purpose` 'cancel'): once it is mined the nonce is used, so the expired
transaction never will be, and what it was for can be sent again safely.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from web3.types import TxReceipt

SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    address TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    tx_hash TEXT NOT NULL,
    raw_tx BLOB NOT NULL,
    status TEXT NOT NULL,          -- see the module docstring
    created_at REAL NOT NULL,
    PRIMARY KEY (address, nonce, tx_hash)
);
CREATE INDEX IF NOT EXISTS journal_hash ON journal (tx_hash);
-- the open transactions of a key, which every round of `tick` reads (a year's journal holds
-- many thousands of final ones)
CREATE INDEX IF NOT EXISTS journal_open ON journal (address, nonce)
    WHERE status IN ('signed','sent','mined');
"""
COLUMNS = {
    "params": "TEXT",  # the unsigned transaction (JSON), to sign it again
    "block_number": "INTEGER",
    "block_hash": "TEXT",
    "error": "TEXT",
    "updated_at": "REAL",
    "broadcast_at": "REAL",
    "purpose": "TEXT",  # NULL, or 'cancel' for the transaction that ends an expired one
}
OPEN = ("signed", "sent", "mined")
FINAL = ("confirmed", "reverted", "replaced", "failed", "expired")
REBROADCAST_AFTER = 2.0
"""Seconds before `tick` broadcasts an open transaction again."""
GAS_BUMP_NUM, GAS_BUMP_DEN = 1125, 1000
"""A replacement pays at least 12.5% more gas (geth's and anvil's price-bump rule)."""


@dataclass(frozen=True)
class SentTx:
    """A transaction the signer journaled: hash (0x hex) and nonce."""

    tx_hash: str
    nonce: int


@dataclass(frozen=True)
class TxStatus:
    """Where a transaction stands: `state` (module docstring), its receipt and block once
    mined, the decoded error of a revert or refusal, and the hash that replaced it."""

    tx_hash: str
    state: str
    receipt: TxReceipt | None = None
    block_number: int | None = None
    error: str | None = None
    replaced_by: str | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL


def classify(error: Exception) -> str:
    """A node's refusal of `eth_sendRawTransaction` as one word."""
    text = str(error).lower()
    if "insufficient funds" in text:
        return "insufficient_funds"
    if "nonce too low" in text or "nonce is too low" in text or "oldnonce" in text:
        return "nonce_too_low"
    if "underpriced" in text or "fee too low" in text or "replacement" in text:
        return "underpriced"
    if "txpool is full" in text or "pool is full" in text or "too many" in text:
        return "busy"  # the node's pool is full for now: a passing refusal, sent again later
    if "already known" in text or "known transaction" in text or "already imported" in text:
        return "known"
    if isinstance(error, (ConnectionError, TimeoutError, OSError)) or any(
        w in text for w in ("connection", "timed out", "timeout", "unreachable", "refused")
    ):
        return "unreachable"
    return "refused"


def journal_fate(journal_path: Path, tx_hash: str) -> str | None:
    """The state the journal at `journal_path` records for `tx_hash` (module docstring); None
    when it never held that transaction (or the file is absent)."""
    if not journal_path.exists():
        return None
    db = sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute("SELECT status FROM journal WHERE tx_hash=?", (tx_hash,)).fetchone()
    finally:
        db.close()
    return None if row is None else str(row[0])

"""The transaction manager: local signing, one journal of every transaction's fate, nonces that
survive restarts, faults and reorganisations.

One `Signer` per service key (admin, minter, registrar, relayer, settler). Every transaction is
simulated, signed and written to the journal (`nonces.sqlite`) before it is broadcast. Nonces
come from max(the chain's pending count, the highest nonce the journal still holds open + 1).
Standard JSON-RPC only: no unlocked accounts.

The journal (`node.journal`) is the one record of a transaction's fate.

A refused broadcast is classified: insufficient funds (kept `signed`, logged with the key and
its balance, `low_funds` set for health checks, sent again by `tick`), nonce too low (the
transaction is signed again with the chain's nonce), underpriced (signed again with a higher
gas price, same nonce), the node unreachable or its pool full (kept `signed`); anything else is
`failed`. A transaction that left the chain in a reorganisation goes back to `sent` and is
broadcast again with its nonce. A nonce that no open transaction holds while later ones wait
(its transaction failed for good after it was first accepted) is filled by a cancel.
"""

from __future__ import annotations

import json
import logging
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
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import RPCEndpoint, TxParams, TxReceipt

from heitje.errors import ChainError
from node.contract import decode_revert
from node.journal import (
    COLUMNS,
    FINAL,
    GAS_BUMP_DEN,
    GAS_BUMP_NUM,
    OPEN,
    REBROADCAST_AFTER,
    SCHEMA,
    SentTx,
    TxStatus,
    classify,
    journal_fate,
)

__all__ = ["SentTx", "Signer", "TxStatus", "journal_fate"]

log = logging.getLogger("heitje.signer")


@dataclass(frozen=True)
class _Look:
    """The chain as `Signer.statuses` read it once for several transactions: the key's
    nonce at the latest block, the receipts (hash -> raw receipt, None: not mined), the head;
    `reachable` False: the node did not answer (nothing changes)."""

    latest: int
    receipts: dict[str, dict[str, Any] | None]
    head: int
    reachable: bool = True


class Signer:
    """Signs, sends and follows transactions for one local key (the transaction manager).

    Thread-safe: one lock covers nonce choice, journaling and broadcast. `journal_path` is a
    SQLite file shared by every signer of a deployment (rows keyed by address).
    `confirmations`: blocks on top of a transaction's block before it counts (0 on anvil,
    at least 2 on Clique). `expire_after`: seconds after its nonce was first signed that a
    transaction still not mined is cancelled (0: never); it then ends `expired`.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        journal_path: Path,
        *,
        confirmations: int = 0,
        expire_after: float = 0.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.confirmations = confirmations
        self.expire_after = expire_after
        self.low_funds = False
        self._lock = threading.RLock()
        self._db_path = journal_path
        self._chain_id: int | None = None
        # Held open for the signer's life and never used: closing the last connection to a
        # WAL database checkpoints it (an fsync of the whole file), which each call's own
        # connection would otherwise do at its end.
        self._keeper = self._db()
        db = self._db()
        try:
            db.executescript(SCHEMA)
            have = {r[1] for r in db.execute("PRAGMA table_info(journal)")}
            for name, kind in COLUMNS.items():
                if name not in have:
                    db.execute(f"ALTER TABLE journal ADD COLUMN {name} {kind}")
            db.execute("UPDATE journal SET status='replaced' WHERE status='dropped'")
        finally:
            db.close()

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db_path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.row_factory = sqlite3.Row
        return db

    def _set(self, db: sqlite3.Connection, tx_hash: str, **fields: Any) -> None:
        fields["updated_at"] = time.time()
        cols = ", ".join(f"{k}=?" for k in fields)
        db.execute(f"UPDATE journal SET {cols} WHERE tx_hash=?", (*fields.values(), tx_hash))

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def _next_nonce(self, db: sqlite3.Connection) -> int:
        pending = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        row = db.execute(
            "SELECT MAX(nonce) FROM journal WHERE address = ? AND status IN ('signed','sent',"
            "'mined')",
            (self.address,),
        ).fetchone()
        journaled = -1 if row[0] is None else int(row[0])
        return max(pending, journaled + 1)

    def gas_limit(self, tx: TxParams) -> int:
        """The gas limit to sign `tx` with, from this key; running it on the node is the
        simulation: raises `ContractLogicError` when it reverts (`send` decodes it).

        Asked with `eth_createAccessList`: the gas it uses (with the access list the node
        found; without it each storage slot costs at most 100 and each account 200 more, EIP-2929
        and EIP-2930) from one or two executions, where `eth_estimateGas` searches for the
        lowest limit that passes (anvil runs a 200-reward `mintRewards` about ten times: 40 ms
        against 4 ms). A tenth more and 10,000 on top cover the rest; mining later can only
        find it cheaper (a slot written first by an earlier transaction costs less). When that
        fails (a node without the method; a revert, which it reports without the reason)
        `eth_call` raises the revert with its data, else `eth_estimateGas` (plus a fifth and
        10,000) gives the limit."""
        call: TxParams = {**tx, "from": self.address}
        try:
            found: Any = self.w3.eth.create_access_list(call)
        except ContractLogicError:
            raise
        except Web3RPCError:  # anvil's answer to a revert (without its data), or no such method
            found = None
        if found is None or found.get("error"):  # geth's answer to a revert, without the data
            self.w3.eth.call(call)  # a revert raises `ContractLogicError` with its data
            return int(self.w3.eth.estimate_gas(call) * 12 // 10) + 10_000  # it passes now
        used = int(found["gasUsed"])
        listed: list[Any] = list(found.get("accessList") or [])
        keys = sum(len(entry["storageKeys"]) for entry in listed)
        return used + 100 * keys + 200 * len(listed) + used // 10 + 10_000

    def simulate(self, tx: TxParams) -> None:
        """eth_call `tx` from this key; raises `ChainError` with the decoded revert code."""
        call: TxParams = {**tx, "from": self.address}
        try:
            self.w3.eth.call(call)
        except ContractLogicError as e:
            raise decode_revert(e.data if isinstance(e.data, str) else None) from None

    def _sign(
        self, db: sqlite3.Connection, params: dict[str, Any], nonce: int, gas_price: int
    ) -> SentTx:
        full = {**params, "chainId": self.chain_id, "nonce": nonce, "gasPrice": gas_price}
        signed = self.account.sign_transaction(full)
        tx_hash = "0x" + bytes(signed.hash).hex()
        db.execute(  # the same signed bytes twice are one row (their hash is the key)
            "INSERT OR IGNORE INTO journal (address, nonce, tx_hash, raw_tx, status, created_at, "
            "params, updated_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                self.address,
                nonce,
                tx_hash,
                bytes(signed.raw_transaction),
                "signed",
                time.time(),
                json.dumps({**params, "gasPrice": gas_price}),
                time.time(),
            ),
        )
        return SentTx(tx_hash, nonce)

    def send(self, tx: TxParams, *, on_signed: Callable[[SentTx], None] | None = None) -> SentTx:
        """Simulate, sign, journal and broadcast `tx` (to, data, optional value/gas): without
        `gas`, working out the gas limit is the simulation (`gas_limit`).

        `on_signed` is called with the hash before each broadcast (callers record it in their
        own state, e.g. an outbox row); it is called again when the transaction had to be
        signed again (nonce too low, underpriced), and the hash returned is the last one.
        A transaction the node did not accept for a passing reason (no funds, unreachable) is
        journaled and returned: `tick` keeps sending it. Raises `ChainError` when the call
        reverts (code from the contract's custom error), or `tx_refused` when the node
        refuses it for good (then nothing stays journaled as open).
        """
        if "gas" in tx:  # else the gas estimate below runs it, and reverts as a call would
            self.simulate(tx)
        with self._lock:
            db = self._db()
            try:
                params: dict[str, Any] = {"value": 0, **tx}
                params.pop("from", None)
                try:
                    if "gas" not in params:
                        params["gas"] = self.gas_limit(tx)
                    gas_price = int(self.w3.eth.gas_price)
                    nonce = self._next_nonce(db)
                except ContractLogicError as e:  # it reverts (the estimate is the simulation)
                    raise decode_revert(e.data if isinstance(e.data, str) else None) from None
                except Exception as e:
                    raise ChainError(f"the node cannot be reached: {e}", code="tx_refused") from e
                for attempt in range(6):
                    sent = self._sign(db, params, nonce, gas_price)
                    if on_signed is not None:
                        on_signed(sent)
                    outcome = self._broadcast(db, sent.tx_hash)
                    if outcome in ("sent", "kept"):
                        return sent
                    if outcome == "nonce_too_low":
                        self._set(db, sent.tx_hash, status="replaced", error="nonce too low")
                        nonce = self._next_nonce(db)
                    elif outcome == "underpriced":
                        self._set(db, sent.tx_hash, status="replaced", error="underpriced")
                        gas_price = max(gas_price * GAS_BUMP_NUM // GAS_BUMP_DEN + 1, gas_price + 1)
                    else:
                        row = db.execute(
                            "SELECT error FROM journal WHERE tx_hash=?", (sent.tx_hash,)
                        ).fetchone()
                        raise ChainError(f"node refused transaction: {row[0]}", code="tx_refused")
                    log.info("signing again (attempt %d): %s", attempt + 2, outcome)
                raise ChainError("node refused transaction after six attempts", code="tx_refused")
            finally:
                db.close()

    def _broadcast(self, db: sqlite3.Connection, tx_hash: str) -> str:
        """Send the journaled raw transaction; returns `sent`, `kept` (open, to be sent again),
        `nonce_too_low`, `underpriced` or `failed`."""
        row = db.execute("SELECT raw_tx FROM journal WHERE tx_hash=?", (tx_hash,)).fetchone()
        try:
            self.w3.eth.send_raw_transaction(HexBytes(row["raw_tx"]))
        except Exception as e:
            kind = classify(e)
            if kind == "known":
                self._set(db, tx_hash, status="sent", broadcast_at=time.time())
                return "sent"
            if kind in ("insufficient_funds", "unreachable", "busy"):
                self._set(db, tx_hash, error=f"{kind}: {e}", broadcast_at=time.time())
                if kind == "insufficient_funds":
                    self.low_funds = True
                    self._log_low_funds()
                return "kept"
            if kind in ("nonce_too_low", "underpriced"):
                return kind
            self._set(db, tx_hash, status="failed", error=f"refused: {e}")
            return "failed"
        self.low_funds = False
        self._set(db, tx_hash, status="sent", error=None, broadcast_at=time.time())
        return "sent"

    def _log_low_funds(self) -> None:
        try:
            balance = int(self.w3.eth.get_balance(self.address))
        except Exception:
            balance = -1
        log.error(
            "key %s cannot pay for gas: balance %d wei; transactions wait until it is funded",
            self.address,
            balance,
        )

    # ----- following a transaction -----

    def status(self, tx_hash: str) -> TxStatus:
        """Where `tx_hash` stands, from the chain, written to the journal. An open transaction
        that is not on chain is broadcast again (every REBROADCAST_AFTER seconds); one that left
        the chain in a reorganisation goes back to `sent` and is broadcast again at once.
        Unknown hashes: state `unknown`."""
        return self.statuses([tx_hash])[tx_hash]

    def statuses(self, tx_hashes: list[str]) -> dict[str, TxStatus]:
        """`status` of each of `tx_hashes` (in that order), from one look at the chain: the
        key's nonce, every open one's receipt in one JSON-RPC batch, the head (three round
        trips, however many are open)."""
        with self._lock:
            db = self._db()
            try:
                return self._statuses(db, tx_hashes)
            finally:
                db.close()

    def _statuses(self, db: sqlite3.Connection, tx_hashes: list[str]) -> dict[str, TxStatus]:
        open_ = [
            h
            for h in tx_hashes
            if (r := db.execute("SELECT status FROM journal WHERE tx_hash=?", (h,)).fetchone())
            and r["status"] not in FINAL
        ]
        look: _Look | None = None
        if open_:
            try:  # the count first: a transaction mined after it was read shows its receipt
                latest = int(self.w3.eth.get_transaction_count(self.address, "latest"))
                receipts = self._raw_receipts(open_)
                look = _Look(latest, receipts, int(self.w3.eth.block_number))
            except Exception:  # the node is unreachable: nothing changes
                look = _Look(-1, {}, -1, reachable=False)
        return {h: self._status(db, h, look) for h in tx_hashes}

    def _status(self, db: sqlite3.Connection, tx_hash: str, look: _Look | None = None) -> TxStatus:
        """Where `tx_hash` stands (`status`), from `look` when given (`statuses`: the chain as
        read once for several), else from the chain now."""
        row = db.execute("SELECT * FROM journal WHERE tx_hash=?", (tx_hash,)).fetchone()
        if row is None:
            return TxStatus(tx_hash, "unknown")
        if row["status"] in FINAL:
            replaced_by = self._mined_sibling(db, row) if row["status"] == "replaced" else None
            return TxStatus(
                tx_hash, row["status"], None, row["block_number"], row["error"], replaced_by
            )
        if look is None or (look.reachable and tx_hash not in look.receipts):
            try:
                # The count first: a transaction mined after it was read still shows its receipt.
                latest = int(self.w3.eth.get_transaction_count(self.address, "latest"))
                receipt = self._raw_receipt(tx_hash)
                head = int(self.w3.eth.block_number)
            except Exception:  # the node is unreachable: nothing changes
                return TxStatus(tx_hash, row["status"], None, row["block_number"], row["error"])
        elif not look.reachable:
            return TxStatus(tx_hash, row["status"], None, row["block_number"], row["error"])
        else:
            latest, receipt, head = look.latest, look.receipts[tx_hash], look.head
        if receipt is not None:
            block = int(receipt["blockNumber"], 16)
            deep = head - block >= self.confirmations
            state = "mined"
            error = None
            if deep:
                state = "confirmed" if int(receipt["status"], 16) == 1 else "reverted"
                if state == "reverted":
                    error = self._revert_reason(row, block)
            self._set(
                db,
                tx_hash,
                status=state,
                block_number=block,
                block_hash=str(receipt["blockHash"]).lower(),
                error=error,
            )
            if deep:
                self._replace_siblings(db, row)
            return TxStatus(tx_hash, state, None, block, error)
        # Not on chain (any more).
        left = row["status"] == "mined"
        if left:
            log.warning("%s left the chain (reorganisation); sending it again", tx_hash)
            self._set(db, tx_hash, status="sent", block_number=None, block_hash=None)
        if row["nonce"] < latest:  # the nonce is used, and not by this transaction
            sibling = self._mined_sibling(db, row)
            if sibling is not None and self._is_cancel(db, sibling):
                error = "not mined in time; a cancel used its nonce"
                self._set(db, tx_hash, status="expired", error=error)
                return TxStatus(tx_hash, "expired", error=error)
            self._set(db, tx_hash, status="replaced", error="its nonce was used")
            return TxStatus(tx_hash, "replaced", replaced_by=sibling)
        if self._expired(db, row):
            self._cancel(db, row)
        if left or time.time() - (row["broadcast_at"] or 0) >= REBROADCAST_AFTER:
            outcome = self._broadcast(db, tx_hash)
            if outcome == "underpriced":
                self._bump(db, row)
            elif outcome == "nonce_too_low":
                pass  # the next look finds what took the nonce
        now = db.execute("SELECT status, error FROM journal WHERE tx_hash=?", (tx_hash,)).fetchone()
        return TxStatus(tx_hash, now["status"], None, None, now["error"])

    def _raw_receipts(self, tx_hashes: list[str]) -> dict[str, dict[str, Any] | None]:
        """`_raw_receipt` of each of `tx_hashes`, asked in one JSON-RPC batch. Raises
        `Web3RPCError` when the node answers any with an error; requests' errors as any
        call."""
        if len(tx_hashes) == 1:
            return {tx_hashes[0]: self._raw_receipt(tx_hashes[0])}
        calls = [(RPCEndpoint("eth_getTransactionReceipt"), [h]) for h in tx_hashes]
        answers = self.w3.provider.make_batch_request(calls)  # type: ignore[attr-defined]
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise Web3RPCError(f"the node answered {len(calls)} receipts with {answers}")
        out: dict[str, dict[str, Any] | None] = {}
        for tx_hash, answer in zip(
            tx_hashes, sorted(answers, key=lambda a: int(a.get("id", 0))), strict=True
        ):
            if "error" in answer:
                raise Web3RPCError(f"eth_getTransactionReceipt: {answer['error']}")
            result = answer.get("result")
            mined = isinstance(result, dict) and result.get("blockNumber") is not None
            out[tx_hash] = result if mined else None
        return out

    def _raw_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The receipt of `tx_hash` as the node sends it (hex strings; None: not mined), only
        its `blockNumber`, `blockHash` and `status` read here: web3's formatting of every log
        cost the dispatcher more than the rest of a look (a batch of 200 mints has 400 logs).
        Raises `Web3RPCError` when the node answers with an error; requests' errors as any
        call."""
        answer = self.w3.provider.make_request(RPCEndpoint("eth_getTransactionReceipt"), [tx_hash])
        if "error" in answer:
            raise Web3RPCError(f"eth_getTransactionReceipt: {answer['error']}")
        result = answer.get("result")
        if not isinstance(result, dict) or result.get("blockNumber") is None:
            return None
        return result

    def _mined_sibling(self, db: sqlite3.Connection, row: sqlite3.Row) -> str | None:
        """Another journaled transaction with the same nonce that is on chain."""
        for other in db.execute(
            "SELECT tx_hash FROM journal WHERE address=? AND nonce=? AND tx_hash<>?",
            (self.address, row["nonce"], row["tx_hash"]),
        ).fetchall():
            try:
                self.w3.eth.get_transaction_receipt(HexBytes(other["tx_hash"]))
            except TransactionNotFound:
                continue
            return str(other["tx_hash"])
        return None

    def _replace_siblings(self, db: sqlite3.Connection, row: sqlite3.Row) -> None:
        state, error = "replaced", "a twin with its nonce was mined"
        if row["purpose"] == "cancel":
            state, error = "expired", "not mined in time; a cancel used its nonce"
        db.execute(
            "UPDATE journal SET status=?, error=?, updated_at=? WHERE address=? AND nonce=? "
            "AND tx_hash<>? AND status IN ('signed','sent','mined')",
            (state, error, time.time(), self.address, row["nonce"], row["tx_hash"]),
        )

    def _fill_gap(self, db: sqlite3.Connection) -> None:
        """When the chain's next nonce of this key is held by no open transaction while later
        ones wait (their nonce-holder failed for good), fill it with a cancel (a 0-value
        transfer to the key itself): otherwise every later transaction waits for ever.
        Asks the node only while this key has open transactions (an idle round costs no RPC)."""
        if (
            db.execute(
                "SELECT 1 FROM journal WHERE address=? AND status IN ('signed','sent','mined') "
                "LIMIT 1",
                (self.address,),
            ).fetchone()
            is None
        ):
            return
        try:
            latest = int(self.w3.eth.get_transaction_count(self.address, "latest"))
        except Exception:
            return
        waiting = db.execute(
            "SELECT MIN(nonce), SUM(nonce = ?) FROM journal WHERE address=? AND status IN "
            "('signed','sent','mined')",
            (latest, self.address),
        ).fetchone()
        if waiting[0] is None or waiting[1] or int(waiting[0]) <= latest:
            return
        log.warning("nonce %d of %s is held by no transaction; filling it", latest, self.address)
        params = {"to": self.address, "value": 0, "gas": 21_000, "data": "0x"}
        filler = self._sign(db, params, latest, int(self.w3.eth.gas_price))
        self._set(db, filler.tx_hash, purpose="cancel")
        self._broadcast(db, filler.tx_hash)

    def _is_cancel(self, db: sqlite3.Connection, tx_hash: str) -> bool:
        row = db.execute("SELECT purpose FROM journal WHERE tx_hash=?", (tx_hash,)).fetchone()
        return row is not None and row["purpose"] == "cancel"

    def _expired(self, db: sqlite3.Connection, row: sqlite3.Row) -> bool:
        """`row` is open, not on chain, its nonce first signed over `expire_after` s ago, and
        no cancel for its nonce is journaled yet."""
        if self.expire_after <= 0 or row["purpose"] == "cancel" or row["params"] is None:
            return False
        first, cancels = db.execute(
            "SELECT MIN(created_at), SUM(purpose='cancel') FROM journal WHERE address=? AND "
            "nonce=?",
            (self.address, row["nonce"]),
        ).fetchone()
        return not cancels and time.time() - float(first) >= self.expire_after

    def _cancel(self, db: sqlite3.Connection, row: sqlite3.Row) -> None:
        """End the expired `row`: a 0-value transfer to this key with its nonce and a higher
        gas price takes the nonce (the node replaces the pending transaction with it)."""
        price = int(json.loads(row["params"])["gasPrice"])
        bumped = max(price * GAS_BUMP_NUM // GAS_BUMP_DEN + 1, int(self.w3.eth.gas_price))
        params = {"to": self.address, "value": 0, "gas": 21_000, "data": "0x"}
        log.warning(
            "%s not mined within %.0f s; cancelling nonce %d",
            row["tx_hash"],
            self.expire_after,
            row["nonce"],
        )
        cancel = self._sign(db, params, int(row["nonce"]), bumped)
        self._set(db, cancel.tx_hash, purpose="cancel")
        self._broadcast(db, cancel.tx_hash)

    def _bump(self, db: sqlite3.Connection, row: sqlite3.Row) -> None:
        """Sign the transaction again with its nonce and a gas price above every journaled
        transaction of that nonce. When an open twin already pays more, the node refused this
        one because it holds the twin: nothing is signed (the twin is followed by `tick`)."""
        if row["params"] is None:
            return
        params = json.loads(row["params"])
        price = int(params.pop("gasPrice"))
        prices = [
            (int(json.loads(r["params"])["gasPrice"]), str(r["status"]))
            for r in db.execute(
                "SELECT params, status FROM journal WHERE address=? AND nonce=? AND tx_hash<>? "
                "AND params IS NOT NULL",
                (self.address, row["nonce"], row["tx_hash"]),
            )
        ]
        if any(p > price and status in OPEN for p, status in prices):
            return
        top = max([price, *(p for p, _ in prices)])
        bumped = max(top * GAS_BUMP_NUM // GAS_BUMP_DEN + 1, int(self.w3.eth.gas_price))
        twin = self._sign(db, params, int(row["nonce"]), bumped)
        self._broadcast(db, twin.tx_hash)

    def _revert_reason(self, row: sqlite3.Row, block: int) -> str:
        """The decoded reason of a reverted transaction: the call replayed on the state of its
        block (the transactions before it in the block included, so a twin that won shows)."""
        if row["params"] is None:
            return "chain_reverted"
        params = json.loads(row["params"])
        call: TxParams = {
            "to": params["to"],
            "data": params.get("data", "0x"),
            "from": self.address,
        }
        try:
            self.w3.eth.call(call, block)
        except ContractLogicError as e:
            err = decode_revert(e.data if isinstance(e.data, str) else None)
            return f"{err.code}: {err.message}"
        except Exception:
            pass
        return "chain_reverted"

    def tick(self) -> list[TxStatus]:
        """Look at every open transaction of this key, in nonce order: confirm, send again,
        follow reorganisations (see `status`). Returns their statuses."""
        with self._lock:
            db = self._db()
            try:
                rows = db.execute(
                    "SELECT tx_hash FROM journal WHERE address=? AND status IN "
                    "('signed','sent','mined') ORDER BY nonce, created_at",
                    (self.address,),
                ).fetchall()
                looked = self._statuses(db, [r["tx_hash"] for r in rows])
                self._fill_gap(db)
                return list(looked.values())
            finally:
                db.close()

    def outcome(self, tx_hash: str) -> TxReceipt | None:
        """The receipt of `tx_hash` once final at the confirmation depth (confirmed or
        reverted), else None (still open, or replaced: see `status`)."""
        st = self.status(tx_hash)
        if st.state in ("confirmed", "reverted"):
            if st.receipt is not None:
                return st.receipt
            receipt: TxReceipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            return receipt
        return None

    def fate(self, tx_hash: str) -> str | None:
        """The journal's status of `tx_hash` (see `journal_fate`)."""
        return journal_fate(self._db_path, tx_hash)

    def wait(self, tx_hash: str, timeout: float = 60.0) -> TxReceipt:
        """Wait until `tx_hash` is final at the confirmation depth; its receipt. Raises
        `ChainError`: `tx_reverted` (message: the decoded reason), `tx_replaced`, `tx_expired`,
        `tx_refused`,
        `tx_timeout` (still open: it stays journaled and is followed by `tick`)."""
        deadline = time.monotonic() + timeout
        while True:
            self.tick()  # earlier nonces first: a lost one would hold this one back
            st = self.status(tx_hash)
            if st.state == "confirmed":
                if st.receipt is not None:
                    return st.receipt
                receipt: TxReceipt = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                return receipt
            if st.state == "reverted":
                raise ChainError(f"{tx_hash} reverted: {st.error}", code="tx_reverted")
            if st.state == "replaced":
                raise ChainError(f"{tx_hash} was replaced by {st.replaced_by}", code="tx_replaced")
            if st.state == "expired":
                raise ChainError(f"{tx_hash} expired: {st.error}", code="tx_expired")
            if st.state in ("failed", "unknown"):
                raise ChainError(f"{tx_hash}: {st.error or 'not journaled'}", code="tx_refused")
            if time.monotonic() > deadline:
                raise ChainError(f"{tx_hash} not confirmed within {timeout}s", code="tx_timeout")
            time.sleep(0.05)

    def transact(self, tx: TxParams, timeout: float = 60.0) -> TxReceipt:
        """`send` then `wait`: the receipt of a successful transaction."""
        return self.wait(self.send(tx).tx_hash, timeout)

    def recover(self) -> list[str]:
        """At start-up: `tick`, and the hashes of the transactions it broadcast again."""
        return [s.tx_hash for s in self.tick() if s.state in ("signed", "sent")]

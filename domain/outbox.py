"""The outbox: registration and mint intents sent to the chain, exactly once.

Intents are added in the same database transaction as the fact that needs them (an account
with a wallet: `store.outbox.add_registration`; an approval: `store.outbox.add_mint`); this
dispatcher sends them in id order and settles them. The transaction's fate has one record, the
signer's journal: the dispatcher learns it through `Signer.outcome`, which reads the receipt and
writes it to the journal, and marks an intent confirmed only from that answer or from the
chain's state (the task reference rewarded, the account registered).

Each transaction is journaled by the signer before broadcast, and the intent records its hash
before broadcast too, so after a crash at any point a restart finds either the mined
transaction, the journaled one (re-broadcast by `Signer.recover`), or nothing sent. The
contract's once-per-taskRef rule is the last line: a mint can never be doubled.
Only one dispatcher runs per data dir (an exclusive lock file).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import IO

from web3.types import TxReceipt

from heitje.errors import ChainError
from node.chain import ChainService
from node.contract import AccountKind
from node.signer import SentTx, Signer
from store import outbox
from store.db import connect

log = logging.getLogger("heitje.dispatcher")

# Fault injection for the crash tests only: `HEITJE_CRASH_AT=<kind>_after_sign` makes the
# process exit right after an intent of that kind recorded its signed transaction, before the
# broadcast; `<kind>_after_send` right after the broadcast, before the receipt is recorded.
_CRASH_AT = os.environ.get("HEITJE_CRASH_AT", "")


def _crash_point(name: str) -> None:
    if name == _CRASH_AT:
        log.error("crash injected at %s", name)
        os._exit(70)


MINT_BATCH = 50
"""Most rewards minted in one `mintRewards` transaction."""

RECEIPT_WAIT = 60.0
"""Seconds a round waits for a receipt before looking again in the next round."""


class Dispatcher:
    """Sends pending intents from `service_db`; `wake()` after inserting one."""

    def __init__(self, service_db: Path, chain: ChainService, lock_path: Path) -> None:
        self.service_db = service_db
        self.chain = chain
        self.lock_path = lock_path
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file: IO[str] | None = None

    def wake(self) -> None:
        """Tell the dispatcher there is work."""
        self._wake.set()

    def start(self) -> None:
        """Take the lock file and start the background thread. Raises `ChainError`
        (`dispatcher_running`) when another dispatcher holds the lock."""
        f = open(self.lock_path, "w")  # noqa: SIM115 (held for the dispatcher's life)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise ChainError(
                "another dispatcher runs on this data dir", code="dispatcher_running"
            ) from None
        self._lock_file = f
        self._thread = threading.Thread(target=self._loop, name="heitje-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and release the lock."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:
                log.exception("dispatcher round failed")
                busy = False
            if not busy:
                self._wake.wait(timeout=1.0)
                self._wake.clear()

    def run_once(self) -> bool:
        """One round: finish sent intents, send pending ones (consecutive mints together as
        one `mintRewards` batch of at most MINT_BATCH), wait for their receipts.

        Returns True when it did anything.
        """
        conn = connect(self.service_db)
        try:
            rows = outbox.due(conn)
            if not rows:
                return False
            inflight: list[tuple[int, str, Signer]] = []
            mints: list[sqlite3.Row] = []

            def flush() -> None:
                inflight.extend(self._send_mints(conn, mints))
                mints.clear()

            for row in rows:
                if self._stop.is_set():
                    break
                if row["status"] == "sent":
                    inflight.append((row["id"], row["tx_hash"], self._signer(row)))
                elif row["kind"] == "mint":
                    mints.append(row)
                    if len(mints) >= MINT_BATCH:
                        flush()
                else:
                    flush()
                    sent = self._send(conn, row)
                    if sent is not None:
                        inflight.append((row["id"], sent, self._signer(row)))
            flush()
            receipts: dict[str, TxReceipt | None] = {}
            for intent_id, tx_hash, signer in inflight:
                if tx_hash not in receipts:
                    receipts[tx_hash] = self._receipt(signer, tx_hash)
                self._settle(conn, intent_id, tx_hash, receipts[tx_hash])
            return True
        finally:
            conn.close()

    def _signer(self, row: sqlite3.Row) -> Signer:
        return self.chain.minter if row["kind"] == "mint" else self.chain.registrar

    def _send_mints(
        self, conn: sqlite3.Connection, rows: list[sqlite3.Row]
    ) -> list[tuple[int, str, Signer]]:
        """Send pending mint intents: one batch transaction, or one by one when there is a
        single one or the batch would revert (then each item's own error is recorded)."""
        todo = []
        for row in rows:
            # An intent never signed needs no look-up; one tried before may have landed. (A
            # crash between journal and intent record is caught below: the contract refuses
            # the task reference, and that refusal confirms the intent.)
            if row["attempts"] > 0 and self._already_done(row):
                outbox.mark_confirmed(conn, row["id"])
            else:
                todo.append(row)
        if len(todo) > 1:
            token = self.chain.token
            tx = token.mint_rewards_tx(
                [(r["account"], int(r["amount"]), bytes.fromhex(r["ref"][2:])) for r in todo]
            )
            ids = [r["id"] for r in todo]

            def record(sent: SentTx) -> None:
                outbox.mark_sent(conn, ids, sent.tx_hash)
                _crash_point("mint_after_sign")

            try:
                sent = self.chain.minter.send(tx, on_signed=record)
            except ChainError as e:
                log.info("batch of %d mints refused (%s); sending one by one", len(todo), e.code)
            else:
                _crash_point("mint_after_send")
                return [(i, sent.tx_hash, self.chain.minter) for i in ids]
        out = []
        for row in todo:
            tx_hash = self._send(conn, row)
            if tx_hash is not None:
                out.append((row["id"], tx_hash, self.chain.minter))
        return out

    def _already_done(self, row: sqlite3.Row) -> bool:
        token = self.chain.token
        if row["kind"] == "mint":
            return token.is_task_rewarded(bytes.fromhex(row["ref"][2:]))
        return token.account_kind(row["account"]) != AccountKind.NONE

    def _send(self, conn: sqlite3.Connection, row: sqlite3.Row) -> str | None:
        token = self.chain.token
        if row["attempts"] > 0 and self._already_done(row):
            outbox.mark_confirmed(conn, row["id"])
            return None
        if row["kind"] == "mint":
            signer = self.chain.minter
            tx = token.mint_reward_tx(
                row["account"], int(row["amount"]), bytes.fromhex(row["ref"][2:])
            )
        else:
            signer = self.chain.registrar
            kind = AccountKind.CITIZEN if row["account_kind"] == "citizen" else AccountKind.SHOP
            tx = token.register_account_tx(row["account"], kind)

        def record(sent: SentTx) -> None:
            outbox.mark_sent(conn, [row["id"]], sent.tx_hash)
            _crash_point(f"{row['kind']}_after_sign")

        try:
            sent = signer.send(tx, on_signed=record)
        except ChainError as e:
            if e.code == "task_already_rewarded":  # landed before (re-broadcast journal)
                outbox.mark_confirmed(conn, row["id"])
                return None
            log.warning("intent %s not sent: %s (%s)", row["id"], e.code, e)
            outbox.mark_not_sent(conn, row["id"], f"{e.code}: {e}")
            return None
        _crash_point(f"{row['kind']}_after_send")
        return sent.tx_hash

    def _receipt(self, signer: Signer, tx_hash: str) -> TxReceipt | None:
        """The receipt as the signer's journal records it, waiting up to RECEIPT_WAIT s; None
        while still in flight."""
        deadline = time.monotonic() + RECEIPT_WAIT
        while True:
            receipt = signer.outcome(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline or self._stop.is_set():
                return None  # still in flight: the next round looks again
            time.sleep(0.02)

    def _settle(
        self, conn: sqlite3.Connection, intent_id: int, tx_hash: str, receipt: TxReceipt | None
    ) -> None:
        if receipt is None:
            return
        if receipt["status"] == 1:
            outbox.mark_confirmed(conn, intent_id)
            return
        row = outbox.get(conn, intent_id)
        if row is not None and self._already_done(row):  # a twin transaction won: goal holds
            outbox.mark_confirmed(conn, intent_id)
        else:  # reverted: send again next round
            outbox.mark_pending(conn, intent_id, f"reverted: {tx_hash}")

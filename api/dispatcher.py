"""The outbox dispatcher: sends registration and mint intents to the chain, exactly once.

Approval writes the task state and a mint intent in one database transaction; this dispatcher
sends intents in id order. Each transaction is journaled by the signer before broadcast, and the
intent records its hash before broadcast too, so after a crash at any point a restart finds
either the mined transaction, the journaled one (re-broadcast by `Signer.recover`), or nothing
sent. The contract's once-per-taskRef rule is the last line: a mint can never be doubled.
Only one dispatcher runs per data dir (an exclusive lock file).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from api.chain import ChainService
from api.db import connect
from heitje.errors import ChainError
from node.contract import AccountKind
from node.signer import SentTx

log = logging.getLogger("heitje.dispatcher")

# Fault injection for the crash tests only: `HEITJE_CRASH_AT=<kind>_after_sign` makes the
# process exit right after an intent of that kind recorded its signed transaction, before the
# broadcast; `<kind>_after_send` right after the broadcast, before the receipt is recorded.
_CRASH_AT = os.environ.get("HEITJE_CRASH_AT", "")


def _crash_point(name: str) -> None:
    if name == _CRASH_AT:
        log.error("crash injected at %s", name)
        os._exit(70)


def _now() -> str:
    return datetime.now(UTC).isoformat()


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
        """One round: finish sent intents, send pending ones, wait for their receipts.

        Returns True when it did anything.
        """
        conn = connect(self.service_db)
        try:
            rows = conn.execute(
                "SELECT * FROM intents WHERE status IN ('pending','sent') ORDER BY id LIMIT 200"
            ).fetchall()
            if not rows:
                return False
            inflight: list[tuple[int, str]] = []
            for row in rows:
                if self._stop.is_set():
                    break
                if row["status"] == "sent":
                    inflight.append((row["id"], row["tx_hash"]))
                    continue
                sent = self._send(conn, row)
                if sent is not None:
                    inflight.append((row["id"], sent))
            for intent_id, tx_hash in inflight:
                self._settle(conn, intent_id, tx_hash)
            return True
        finally:
            conn.close()

    def _already_done(self, row: sqlite3.Row) -> bool:
        token = self.chain.token
        if row["kind"] == "mint":
            return token.is_task_rewarded(bytes.fromhex(row["ref"][2:]))
        return token.account_kind(row["account"]) != AccountKind.NONE

    def _send(self, conn: sqlite3.Connection, row: sqlite3.Row) -> str | None:
        token = self.chain.token
        if self._already_done(row):
            conn.execute(
                "UPDATE intents SET status='confirmed', updated_at=? WHERE id=?",
                (_now(), row["id"]),
            )
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
            conn.execute(
                "UPDATE intents SET status='sent', tx_hash=?, attempts=attempts+1, updated_at=? "
                "WHERE id=?",
                (sent.tx_hash, _now(), row["id"]),
            )
            _crash_point(f"{row['kind']}_after_sign")

        try:
            sent = signer.send(tx, on_signed=record)
        except ChainError as e:
            log.warning("intent %s not sent: %s (%s)", row["id"], e.code, e)
            conn.execute(
                "UPDATE intents SET attempts=attempts+1, last_error=?, updated_at=? WHERE id=?",
                (f"{e.code}: {e}", _now(), row["id"]),
            )
            return None
        _crash_point(f"{row['kind']}_after_send")
        return sent.tx_hash

    def _settle(self, conn: sqlite3.Connection, intent_id: int, tx_hash: str) -> None:
        w3 = self.chain.w3
        deadline = time.monotonic() + 60
        while True:
            try:
                receipt = w3.eth.get_transaction_receipt(HexBytes(tx_hash))
                break
            except TransactionNotFound:
                if time.monotonic() > deadline or self._stop.is_set():
                    return  # still in flight: next round looks again
                time.sleep(0.02)
        if receipt["status"] == 1:
            conn.execute(
                "UPDATE intents SET status='confirmed', updated_at=? WHERE id=?",
                (_now(), intent_id),
            )
            return
        row = conn.execute("SELECT * FROM intents WHERE id=?", (intent_id,)).fetchone()
        if self._already_done(row):  # a twin transaction won: the goal holds
            conn.execute(
                "UPDATE intents SET status='confirmed', updated_at=? WHERE id=?",
                (_now(), intent_id),
            )
        else:  # reverted: send again next round
            conn.execute(
                "UPDATE intents SET status='pending', last_error=?, updated_at=? WHERE id=?",
                (f"reverted: {tx_hash}", _now(), intent_id),
            )

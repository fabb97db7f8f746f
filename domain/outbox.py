"""The outbox: registration and mint intents sent to the chain, exactly once.

Intents are added in the same database transaction as the fact that needs them (an account
with a wallet, a shop once approved: `store.outbox.add_registration`; an approval:
`store.outbox.add_mint`); this dispatcher sends them in id order, consecutive ones of a kind in
one batch transaction, and settles them. The signer's journal is the one record of a
transaction's fate (`Signer.outcome`); an intent is confirmed only from it or from the chain's
state (the task reference rewarded, the account registered).

Each transaction is journaled by the signer before broadcast, and the intent records its hash
before broadcast too, so after a crash at any point a restart finds either the mined
transaction, the journaled one (re-broadcast by `Signer.recover`), or nothing sent. The
contract's once-per-taskRef rule is the last line: a mint can never be doubled. One
dispatcher runs per data dir (an exclusive lock file).

A send that fails for any reason but the node being unreachable (the contract refuses: paused,
no period, budget or cap; the node refuses the transaction; it reverted on chain) makes the
intent `blocked` with the reason (`last_error`, shown with the task) and a time to try again:
the wait doubles with each failure, from 1 s up to `HEITJE_INTENT_RETRY_MAX`. Blocked intents
are not touched before then, and a round with nothing due sleeps until the first of them is
(at most POLL); an unreachable node fails the round, which then waits POLL.
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

from domain.intent_errors import blocked_reason, retry_delay
from heitje.errors import ChainError
from heitje.settings import Settings
from node.chain import ChainService
from node.contract import AccountKind
from node.journal import TxStatus
from node.signer import SentTx, Signer
from store import outbox
from store.db import connect

log = logging.getLogger("heitje.dispatcher")


def _crash_point(name: str) -> None:
    """Fault injection for the crash tests only: `HEITJE_CRASH_AT=<kind>_after_sign` makes
    the process exit right after an intent of that kind recorded its signed transaction, before
    the broadcast; `<kind>_after_send` right after the broadcast, before the receipt is
    recorded. Read at each point, not at import: a held API child gets its settings late."""
    if name == os.environ.get("HEITJE_CRASH_AT"):
        log.error("crash injected at %s", name)
        os._exit(70)


MINT_BATCH = 200
"""Most rewards in one `mintRewards` (about 7.5M gas; a 30M-gas block holds four)."""
REGISTER_BATCH = 50
"""Most accounts of one kind in one `registerAccounts`."""

RECEIPT_WAIT = 60.0
"""Seconds a round waits for a receipt before looking again in the next round."""

POLL = 1.0
"""Longest sleep between rounds when there is nothing to do (`wake()` ends it sooner)."""


def unreachable(error: BaseException) -> bool:
    """True when `error`, or an error that caused it, is the node not answering: a connection
    error or time-out (`OSError`, as requests raises them)."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, OSError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _batch_key(row: sqlite3.Row) -> tuple[str, str | None]:
    """Intents with the same key go in one transaction: mints; registrations of one kind."""
    return str(row["kind"]), None if row["kind"] == "mint" else row["account_kind"]


def _account_kind(row: sqlite3.Row) -> AccountKind:
    """The on-chain kind a registration intent gives its account."""
    return AccountKind.CITIZEN if row["account_kind"] == "citizen" else AccountKind.SHOP


class Dispatcher:
    """Sends pending intents from `service_db`; `wake()` after inserting one."""

    def __init__(
        self,
        service_db: Path,
        chain: ChainService,
        lock_path: Path,
        *,
        retry_max: float | None = None,
    ) -> None:
        self.service_db = service_db
        self.chain = chain
        self.lock_path = lock_path
        self.retry_max = Settings().intent_retry_max if retry_max is None else retry_max
        """Longest wait of a blocked intent (default: `HEITJE_INTENT_RETRY_MAX`)."""
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
                idle = POLL if busy else self.idle_time()
            except Exception:
                log.exception("dispatcher round failed")
                busy, idle = False, POLL
            if not busy:
                self._wake.wait(timeout=idle)
                self._wake.clear()

    def idle_time(self) -> float:
        """Seconds to sleep after a round with nothing due: until the first blocked intent's
        `next_attempt_at`, at most POLL."""
        conn = connect(self.service_db)
        try:
            first = outbox.next_attempt_at(conn)
        finally:
            conn.close()
        if first is None:
            return POLL
        return min(POLL, max(0.01, first - time.time()))

    def run_once(self) -> bool:
        """One round: finish sent intents, send pending ones and blocked ones whose time has
        come (consecutive mints together as one `mintRewards` batch of at most MINT_BATCH,
        consecutive registrations of one account kind as one `registerAccounts` batch of at
        most REGISTER_BATCH), wait for their receipts.

        Returns True when it did anything.
        """
        self._wake.clear()  # from here on a wake means work this round may not have seen
        for signer in self.chain.signers():  # send again what was refused, lost or reorged
            signer.tick()
        conn = connect(self.service_db)
        try:
            rows = outbox.due(conn, time.time())
            if not rows:
                return False
            inflight: list[tuple[int, str, Signer]] = []
            batch: list[sqlite3.Row] = []  # consecutive intents of one kind (`_batch_key`)
            sent_now = 0

            def flush() -> None:
                nonlocal sent_now
                new = self._send_batch(conn, batch)
                sent_now += len(new)
                inflight.extend(new)
                batch.clear()

            for row in rows:
                if self._stop.is_set():
                    break
                if row["status"] == "sent":
                    inflight.append((row["id"], row["tx_hash"], self._signer(row)))
                    continue
                if batch and _batch_key(batch[0]) != _batch_key(row):
                    flush()  # keep id order: what was queued first is sent first
                batch.append(row)
                if len(batch) >= (MINT_BATCH if row["kind"] == "mint" else REGISTER_BATCH):
                    flush()
            flush()
            by_tx: dict[str, tuple[Signer, list[int]]] = {}  # a batch's intents share one
            for intent_id, tx_hash, signer in inflight:
                by_tx.setdefault(tx_hash, (signer, []))[1].append(intent_id)
            # Pipelined: a round that sent something looks once at what is in flight (one
            # look at the chain per key) and goes on sending; one with nothing new waits for
            # receipts until a wake.
            looked: dict[str, TxStatus] = {}
            if sent_now:
                per_key: dict[str, tuple[Signer, list[str]]] = {}
                for tx_hash, (signer, _) in by_tx.items():
                    per_key.setdefault(signer.address, (signer, []))[1].append(tx_hash)
                for signer, hashes in per_key.values():
                    looked.update(signer.statuses(hashes))
            for tx_hash, (signer, ids) in by_tx.items():
                final_hash, ok = self._receipt(
                    conn, ids, signer, tx_hash, wait=not sent_now, seen=looked.get(tx_hash)
                )
                self._settle(conn, ids, final_hash, ok)
            return True
        finally:
            conn.close()

    def _signer(self, row: sqlite3.Row) -> Signer:
        return self.chain.minter if row["kind"] == "mint" else self.chain.registrar

    def _send_batch(
        self, conn: sqlite3.Connection, rows: list[sqlite3.Row]
    ) -> list[tuple[int, str, Signer]]:
        """Send pending intents of one `_batch_key`: one batch transaction (`mintRewards`, or
        `registerAccounts` for registrations of one account kind), or one by one when there is
        a single one or the batch would revert (then each item's own error is recorded). The
        batch's intents share its transaction: mined -> all confirmed, reverted -> each
        blocked and tried again (`_settle`)."""
        if not rows:
            return []
        kind = str(rows[0]["kind"])
        signer = self._signer(rows[0])
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
            if kind == "mint":
                tx = token.mint_rewards_tx(
                    [(r["account"], int(r["amount"]), bytes.fromhex(r["ref"][2:])) for r in todo]
                )
            else:
                tx = token.register_accounts_tx(
                    [r["account"] for r in todo], _account_kind(todo[0])
                )
            ids = [r["id"] for r in todo]

            def record(sent: SentTx) -> None:
                outbox.mark_sent(conn, ids, sent.tx_hash)
                _crash_point(f"{kind}_after_sign")

            try:
                sent = signer.send(tx, on_signed=record)
            except sqlite3.Error:
                raise  # our own database: the round fails
            except Exception as e:
                if unreachable(e):
                    raise  # the round fails and waits POLL; the next one sends again
                code = e.code if isinstance(e, ChainError) else type(e).__name__
                log.info("batch of %d %s refused (%s); sending one by one", len(todo), kind, code)
            else:
                _crash_point(f"{kind}_after_send")
                return [(i, sent.tx_hash, signer) for i in ids]
        out = []
        for row in todo:
            tx_hash = self._send(conn, row)
            if tx_hash is not None:
                out.append((row["id"], tx_hash, signer))
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
            tx = token.register_account_tx(row["account"], _account_kind(row))

        signed: list[str] = []

        def record(sent: SentTx) -> None:
            outbox.mark_sent(conn, [row["id"]], sent.tx_hash)
            signed.append(sent.tx_hash)
            _crash_point(f"{row['kind']}_after_sign")

        try:
            sent = signer.send(tx, on_signed=record)
        except sqlite3.Error:
            raise  # our own database: the round fails
        except Exception as e:
            code = e.code if isinstance(e, ChainError) else "send_failed"
            if code == "task_already_rewarded":  # landed before (re-broadcast journal)
                outbox.mark_confirmed(conn, row["id"])
                return None
            if unreachable(e):
                if signed:  # marked sent, but the node never took it: send again
                    outbox.mark_pending(conn, f"{code}: {e}", row["id"])
                raise  # the round fails and waits POLL
            self._block(conn, row, code, str(e), attempted=not signed)
            return None
        _crash_point(f"{row['kind']}_after_send")
        return sent.tx_hash

    def _block(
        self, conn: sqlite3.Connection, row: sqlite3.Row, code: str, detail: str, *, attempted: bool
    ) -> None:
        """The intent `row` failed with `code`: blocked until its next try (`retry_delay`);
        `attempted`: count a send attempt (not when `mark_sent` counted it)."""
        delay = retry_delay(int(row["failures"]), self.retry_max)
        log.warning("intent %s blocked for %.0f s: %s (%s)", row["id"], delay, code, detail)
        reason = blocked_reason(code, detail)
        outbox.mark_blocked(conn, row["id"], reason, time.time() + delay, attempted=attempted)

    def _receipt(
        self,
        conn: sqlite3.Connection,
        ids: list[int],
        signer: Signer,
        tx_hash: str,
        *,
        wait: bool = True,
        seen: TxStatus | None = None,
    ) -> tuple[str, bool | None]:
        """The hash of the transaction of intents `ids` and, once final at the confirmation
        depth, whether it succeeded (True) or reverted (False); None while in flight (`wait`:
        waits up to RECEIPT_WAIT s, or until `wake()` says there is new work; else looks
        once). A transaction
        replaced by a twin (a fee bump) is followed through the twin; one never to be mined
        (nonce used elsewhere, refused for good, expired) sends the intents again (the chain's
        state is checked first, so nothing is done twice). `seen`: its status as just looked
        at (`Signer.statuses`), used for the first look."""
        deadline = time.monotonic() + RECEIPT_WAIT
        while True:
            status, seen = (seen, None) if seen is not None else (signer.status(tx_hash), None)
            if status.state == "replaced" and status.replaced_by:
                outbox.set_tx_hash(conn, status.replaced_by, *ids)
                tx_hash = status.replaced_by
                continue
            if status.state in ("replaced", "failed", "expired", "unknown"):
                outbox.mark_pending(conn, f"{status.state}: {tx_hash}", *ids)
                return tx_hash, None
            if status.state in ("confirmed", "reverted"):  # final at the confirmation depth
                return tx_hash, status.state == "confirmed"
            if (
                not wait
                or time.monotonic() > deadline
                or self._stop.is_set()
                or self._wake.is_set()
            ):
                return tx_hash, None  # still in flight: the next round looks again
            time.sleep(0.05)

    def _settle(
        self, conn: sqlite3.Connection, ids: list[int], tx_hash: str, ok: bool | None
    ) -> None:
        """Intents `ids` share the transaction `tx_hash`, final with `ok`: succeeded, all
        confirmed at once (one statement, one commit); reverted, each looked at on its own;
        None (in flight): nothing yet."""
        if ok is None:
            return
        if ok:
            outbox.mark_confirmed(conn, *ids)
            return
        for intent_id in ids:
            row = outbox.get(conn, intent_id)
            if row is None:
                continue
            if self._already_done(row):  # a twin transaction won: goal holds
                outbox.mark_confirmed(conn, intent_id)
            else:  # reverted: blocked, sent again after the wait
                self._block(conn, row, "tx_reverted", f"{tx_hash} reverted", attempted=False)

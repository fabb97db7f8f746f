"""What a domain function works with: the service database, settings, business time, and the
chain and mirror (opened on first use, so reads that need neither never touch them)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from heitje.errors import Refused
from heitje.settings import Settings
from indexer.mirror import Mirror
from node.chain import ChainService
from store.db import connect, init_db

if TYPE_CHECKING:
    from domain.follower import PaymentFollower
    from domain.outbox import Dispatcher


POOL_SIZE = 16
"""Idle connections to the service database a `Services` keeps for the next requests (opening
one costs a file open and three PRAGMAs, more than the read it serves)."""


def _nothing() -> None:
    return None


@dataclass
class Context:
    """One request's (or one command's) view of the service.

    `db` is a connection from `store.db.connect`; `now` is business time (timezone-aware);
    `chain_source` and `mirror_source` give the chain service and the SQL mirror or raise
    `Refused` (503 `chain_unavailable`, `mirror_unavailable`); `wake` tells the outbox
    dispatcher there is work.
    """

    db: sqlite3.Connection
    settings: Settings
    now: datetime
    chain_source: Callable[[], ChainService | None] = field(default=lambda: None)
    mirror_source: Callable[[], Mirror | None] = field(default=lambda: None)
    wake: Callable[[], None] = _nothing
    release: Callable[[sqlite3.Connection], None] | None = None
    """Where `close` gives the connection back (a pool), instead of closing it."""

    def close(self) -> None:
        """Close the database connection, or give it back to its pool."""
        if self.release is not None:
            self.release(self.db)
        else:
            self.db.close()

    @property
    def chain(self) -> ChainService:
        """The chain service; 503 `chain_unavailable` when there is none."""
        chain = self.chain_source()
        if chain is None:
            raise Refused(503, "chain_unavailable", "the chain is not reachable")
        return chain

    @property
    def mirror(self) -> Mirror:
        """The SQL mirror; 503 `mirror_unavailable` before the indexer made it."""
        mirror = self.mirror_source()
        if mirror is None:
            raise Refused(503, "mirror_unavailable", "the SQL mirror is not there yet")
        return mirror


@dataclass(frozen=True)
class Caller:
    """The authenticated person a domain function acts for."""

    id: int
    username: str
    role: str
    name: str
    address: str | None


class Services:
    """The long-lived parts of a running service, shared by its faces: settings, the chain
    service, the SQL mirror (opened once the indexer made it) and the outbox dispatcher.

    `start()` creates or migrates the database, creates the bootstrap admin, connects to the
    chain and starts the dispatcher, whose rounds follow the journaled open transactions (without
    a dispatcher, one background pass does: `ChainService.recover`), so a start never waits for
    them; `stop()` stops it.
    `context(now)` opens a `Context` for one request or command; close it with `close()`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.chain: ChainService | None = None
        self.dispatcher: Dispatcher | None = None
        self.follower: PaymentFollower | None = None
        self._pool: list[sqlite3.Connection] = []  # idle connections to service_db
        self._lock = threading.Lock()
        self._local = threading.local()  # each thread's own Mirror (no shared lock)
        self._mirrors: list[Mirror] = []

    def start(self) -> None:
        """Database, bootstrap admin, chain, dispatcher (see the class docstring)."""
        from domain.accounts import bootstrap_admin
        from domain.follower import PaymentFollower
        from domain.outbox import Dispatcher

        settings = self.settings
        init_db(settings.service_db)
        if settings.bootstrap_admin_password is not None:
            ctx = self.context(datetime.now(UTC))
            try:
                bootstrap_admin(
                    ctx,
                    settings.bootstrap_admin_username,
                    settings.bootstrap_admin_password.get_secret_value(),
                )
            finally:
                ctx.close()
        self.chain = ChainService.from_settings(settings)
        self.follower = PaymentFollower(lambda: self.context(datetime.now(UTC)))
        self.follower.start()  # payments and redemptions nobody follows any more
        if settings.dispatcher:
            self.dispatcher = Dispatcher(
                settings.service_db,
                self.chain,
                settings.paths.dispatcher_lock,
                retry_max=settings.intent_retry_max,
            )
            self.dispatcher.start()  # its first round follows the journaled transactions
        else:  # no dispatcher here: follow them once, in the background (a start never waits)
            threading.Thread(target=self.chain.recover, name="heitje-recover", daemon=True).start()

    def stop(self) -> None:
        """Stop the dispatcher and the payment follower and close the mirror."""
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        with self._lock:
            mirrors, self._mirrors = self._mirrors, []
            idle, self._pool = self._pool, []
        for mirror in mirrors:
            mirror.close()
        for conn in idle:
            conn.close()

    def mirror(self) -> Mirror | None:
        """The SQL mirror (this thread's own read connection: readers never wait on each
        other), or None before the indexer created the file."""
        mirror: Mirror | None = getattr(self._local, "mirror", None)
        if mirror is None:
            path = self.settings.mirror_db
            if not path.exists():
                return None
            mirror = Mirror(path)
            self._local.mirror = mirror
            with self._lock:
                self._mirrors.append(mirror)
        return mirror

    def _connection(self) -> sqlite3.Connection:
        """An idle pooled connection to the service database, else a new one."""
        with self._lock:
            if self._pool:
                return self._pool.pop()
        return connect(self.settings.service_db)

    def _release(self, conn: sqlite3.Connection) -> None:
        """Give a request's connection back: rolled back if it was left in a transaction;
        closed when POOL_SIZE connections already wait."""
        try:
            if conn.in_transaction:
                conn.rollback()
        except sqlite3.Error:
            conn.close()
            return
        with self._lock:
            if len(self._pool) < POOL_SIZE:
                self._pool.append(conn)
                return
        conn.close()

    def wake(self) -> None:
        """Tell the dispatcher there is work (no-op without one)."""
        if self.dispatcher is not None:
            self.dispatcher.wake()

    def context(self, now: datetime) -> Context:
        """A `Context` with a new database connection; `close()` it when done."""
        return Context(
            self._connection(),
            self.settings,
            now,
            lambda: self.chain,
            self.mirror,
            self.wake,
            self._release,
        )

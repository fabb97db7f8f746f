"""What a request reads stays small as the city grows (issue 12): every query the service runs
for one request or one dispatcher round finds its rows through an index, never by reading a
whole table of tasks, intents, payments, refunds or redemption requests (tables that grow with
every task and payment of the programme). SQLite's own planner says how it would run each
statement (`EXPLAIN QUERY PLAN`); the statements are those the store's functions really send,
caught with a trace callback on a service database made by `init_db`. A plan step "SCAN"
(with or without an index) reads every row of its table or index, unless the index is partial
(`payments_pending`: only the pending ones); "SEARCH" seeks.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from store import accounts, outbox, payments, shops, tasks
from store.db import connect as connect_db
from store.db import init_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite3.Connection]:
    path: Path = tmp_path_factory.mktemp("plans") / "service.sqlite"
    init_db(path)
    conn = connect_db(path)
    yield conn
    conn.close()


PER_REQUEST: dict[str, Callable[[sqlite3.Connection], object]] = {
    # an approval and the caps
    "tasks.get": lambda c: tasks.get(c, "paint-bench-1"),
    "tasks.approved_rewards": lambda c: tasks.approved_rewards(c, 7, 2026),
    "tasks.approved_in_month": lambda c: tasks.approved_in_month(c, 7, "2026-12"),
    "tasks.claimant_addresses": lambda c: tasks.claimant_addresses(c, ["a", "b"]),
    # task lists and the review queue
    "tasks.listing open": lambda c: tasks.listing(c, "open", 20, 0),
    "tasks.listing open in a neighbourhood": lambda c: tasks.listing(
        c, "open", 20, 0, neighbourhood="Centrum"
    ),
    "tasks.listing mine": lambda c: tasks.listing(c, None, 20, 0, claimed_by=7),
    "tasks.neighbourhoods": lambda c: tasks.neighbourhoods(c, "open"),
    "tasks.review_queue": lambda c: tasks.review_queue(c, 50),
    # payments, the wallet and the shop's pages
    "outbox.registration_status": lambda c: outbox.registration_status(c, 7),
    "outbox.has_open": lambda c: outbox.has_open(c, 7),
    "outbox.task_titles": lambda c: outbox.task_titles(c, ["0x01", "0x02"]),
    "accounts.names_by_username": lambda c: accounts.names_by_username(c, ["anna", "bakker"]),
    "accounts.usernames_of": lambda c: accounts.usernames_of(c, ["0x01"]),
    "payments.by_idempotency_key": lambda c: payments.by_idempotency_key(c, 7, "k"),
    "payments.received": lambda c: payments.received(c, 8, 7),
    "payments.refunded": lambda c: payments.refunded(c, [1, 2]),
    "shops.received": lambda c: shops.received(c, 8, 50),
    "shops.redemptions": lambda c: shops.redemptions(c, 8, 50),
    # the dispatcher's and the follower's rounds
    "outbox.due": lambda c: outbox.due(c, time.time()),
    "outbox.unconfirmed_mints": lambda c: outbox.unconfirmed_mints(c),
    "outbox.next_attempt_at": lambda c: outbox.next_attempt_at(c),
    "payments.unfollowed": lambda c: payments.unfollowed(c, time.time(), 100),
}


@pytest.mark.parametrize("name", sorted(PER_REQUEST))
def test_no_request_reads_a_whole_growing_table(db: sqlite3.Connection, name: str) -> None:
    sent: list[str] = []
    db.set_trace_callback(sent.append)
    try:
        PER_REQUEST[name](db)
    finally:
        db.set_trace_callback(None)
    assert sent, f"{name} sent no statement"
    partial = [  # indexes of a few rows (e.g. pending ones): reading all of one is fine
        str(r[0])
        for r in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
        if r[1] and " WHERE " in str(r[1])
    ]
    for sql in sent:
        plan = [str(r[3]) for r in db.execute("EXPLAIN QUERY PLAN " + sql)]
        scans = [
            step
            for step in plan
            if step.startswith("SCAN ")
            and "CONSTANT ROW" not in step
            and not any(f"INDEX {name}" in step for name in partial)
        ]
        assert not scans, f"{name}: {sql}\n{plan}"

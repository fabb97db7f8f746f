"""The auditor's workbench, its ground: the period and its blocks, where the figures come from
(`Sources`), the settlement batches of a period as each source has them, and the bank's
bookings. The public face is `domain.workbench`."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TypeVar
from zoneinfo import ZoneInfo

from domain.context import Context
from domain.settlement import read_pain001
from heitje.datadir import DataDir
from heitje.errors import HeitjeError, Refused
from indexer import workbench as mirror_reads
from indexer.mirror import Mirror
from node.manifest import Manifest
from node.token import SettlementPart, SettlementRecord, Token, batch_id_bytes, connect
from store import db as store_db
from store import ledger
from store import workbench as service_reads

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
"""Business time: a period's days begin and end at midnight here."""
PAGE_SIZE = 50
MAX_DAYS = 3660
"""Longest period (about ten years)."""
NO_BANK = "no bank statements read in"

T = TypeVar("T")

# ----- the period and its blocks -----


@dataclass(frozen=True)
class Period:
    """Business days `first` through `last` (both included), Europe/Amsterdam."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        """Midnight at the start of `first`, Amsterdam time."""
        return datetime.combine(self.first, datetime.min.time(), AMSTERDAM)

    @property
    def end(self) -> datetime:
        """Midnight after `last` (exclusive), Amsterdam time."""
        return datetime.combine(self.last + timedelta(days=1), datetime.min.time(), AMSTERDAM)

    @property
    def start_ts(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_ts(self) -> int:
        return int(self.end.timestamp())

    def contains(self, moment: datetime) -> bool:
        """True when the aware `moment` falls within the period."""
        return self.start <= moment < self.end


def period(first: date | None, last: date | None, now: datetime) -> Period:
    """The period from `first` to `last`; without `first` the first day of the month of `now`
    (Amsterdam), without `last` the day of `now`. Errors: 422 `invalid_period` when `last` is
    before `first` or the period is longer than `MAX_DAYS`."""
    today = now.astimezone(AMSTERDAM).date()
    last = last or today
    first = first or last.replace(day=1)
    if last < first:
        raise Refused(422, "invalid_period", "the last day is before the first day")
    if (last - first).days > MAX_DAYS:
        raise Refused(422, "invalid_period", f"a period is at most {MAX_DAYS} days")
    return Period(first, last)


@dataclass(frozen=True)
class Blocks:
    """The period on chain: blocks after `after` through `through`. `through_ts`: that block's
    time (unix seconds; None when unknown); `cut`: True when `through` is the mirror's
    checkpoint, before the period's end; `chain`: False when the chain did not answer (blocks
    then come from the mirror's block headers)."""

    after: int
    through: int
    through_ts: int | None
    cut: bool
    chain: bool


# ----- where the figures come from -----


@dataclass
class Sources:
    """What the workbench reads: the service database (`db`), the mirror, the token on chain
    (None when the chain does not answer), the data directory and the deployment block."""

    db: sqlite3.Connection
    mirror: Mirror
    token: Token | None
    paths: DataDir
    deploy_block: int
    rpc_url: str = ""

    @classmethod
    def from_context(cls, ctx: Context) -> Sources:
        """From a request's `Context` (the chain left out when it does not answer)."""
        token: Token | None = None
        deploy_block = 0
        try:
            chain = ctx.chain
            token, deploy_block = chain.token, chain.manifest.deploy_block
        except Refused:
            pass
        return cls(
            ctx.db, ctx.mirror, token, ctx.settings.paths, deploy_block, ctx.settings.rpc_url
        )


@contextmanager
def open_sources(data_dir: Path, rpc_url: str) -> Iterator[Sources]:
    """Sources of the deployment in `data_dir` and the chain at `rpc_url` (for the command
    line). Raises `NotFound` (`database_not_found`) without a service database, `ConfigError`
    (`no_deployment`) without a manifest."""
    paths = DataDir(data_dir)
    manifest = Manifest.load(paths.manifest)
    with ledger.open_read_only(paths.service_db):  # NotFound when it is missing
        pass
    conn = store_db.connect(paths.service_db)
    mirror = Mirror(paths.mirror_db)
    try:
        token = Token(connect(rpc_url), manifest.token)
        yield Sources(conn, mirror, token, paths, manifest.deploy_block, rpc_url)
    finally:
        mirror.close()
        conn.close()


def chain_read(src: Sources, read: Callable[[Token], T]) -> T | None:
    """`read(token)` on the chain, or None when there is no chain or it does not answer."""
    if src.token is None:
        return None
    try:
        return read(src.token)
    except Exception:  # connection errors, time-outs, a block the node no longer has
        return None


def _last_block_before(token: Token, ts: int, head: int, low: int) -> int:
    """The highest block number in [low, head] whose time is before `ts` (`low` - 1 when
    none): a binary search over block headers."""
    get = token.w3.eth.get_block
    lo, hi = low, head
    best = low - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if int(get(mid)["timestamp"]) < ts:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def blocks(src: Sources, p: Period) -> Blocks:
    """The block range of period `p` (see `Blocks`). Errors: 503 `mirror_empty` before the
    mirror has indexed anything."""
    cp = src.mirror.checkpoint()
    if cp is None:
        raise Refused(503, "mirror_empty", "the mirror has indexed nothing yet")
    checkpoint = cp.block_number

    def from_chain(token: Token) -> tuple[int, int]:
        low = src.deploy_block
        after = _last_block_before(token, p.start_ts, checkpoint, low)
        through = _last_block_before(token, p.end_ts, checkpoint, max(after, low))
        return after, through

    found = chain_read(src, from_chain)
    if found is not None:
        after, through = found
        on_chain = True
    else:
        after = mirror_reads.last_block_before(src.mirror, p.start_ts)
        through = mirror_reads.last_block_before(src.mirror, p.end_ts)
        on_chain = False
    after = max(after, src.deploy_block - 1 if src.deploy_block else 0)
    through = max(through, after)
    chain_ts = chain_read(src, lambda t: int(t.w3.eth.get_block(through)["timestamp"]))
    through_ts = chain_ts if chain_ts is not None else src.mirror.block_timestamp(through)
    head = chain_read(src, lambda t: int(t.w3.eth.block_number))
    # the chain went on past the checkpoint within the period: the mirror has not caught up
    cut = through == checkpoint and head is not None and head > checkpoint
    if cut:
        nxt = chain_read(src, lambda t: int(t.w3.eth.get_block(checkpoint + 1)["timestamp"]))
        cut = nxt is not None and nxt < p.end_ts
    return Blocks(after, through, through_ts, bool(cut), on_chain)


@dataclass(frozen=True)
class BatchFigures:
    """A settlement batch of the period as each source has it: the ledger's row, the chain's
    record at the period's last block, the payment file's euro cents (None: missing or
    unreadable) and the bank's booked cents (None: nothing booked / no statements)."""

    batch_id: str
    ledger: ledger.LedgerBatch | None
    chain: SettlementRecord | None
    file_cents: int | None
    file_note: str | None
    bank_cents: int | None


def _ledger_batches(src: Sources) -> list[ledger.LedgerBatch]:
    if not ledger.has_ledger(src.db):
        return []
    return ledger.batches(src.db)


def period_batches(src: Sources, p: Period, b: Blocks) -> list[BatchFigures]:
    """The settlement batches of the period: those the ledger made within it (by their
    `created_at`) and those the chain recorded within its blocks, by batch id."""
    mine = {x.batch_id: x for x in _ledger_batches(src)}
    ids = {bid for bid, x in mine.items() if p.contains(datetime.fromisoformat(x.created_at))}
    parts = chain_parts(src, b) or []
    ids |= {batch_name(part.batch_id) for part in parts}
    read_in = bank_read_in(src)
    out = []
    for bid in sorted(ids):
        row = mine.get(bid)
        record = chain_read(src, partial(record_at, key=batch_id_bytes(bid), block=b.through))
        if record is not None and record.recorded_at == 0:
            record = None
        cents, note = _file_cents(src, row)
        bank = None
        if read_in and row is not None:
            # every debit the bank booked for the batch, a second one for the same payment too
            # (paid twice): the bank column then differs from the file
            bank = service_reads.bank_debits(src.db, bid)
        out.append(BatchFigures(bid, row, record, cents, note, bank))
    return out


def record_at(token: Token, key: bytes, block: int) -> SettlementRecord:
    return token.settlement(key, block)


def settled_by(token: Token, rid: int, block: int) -> bytes:
    return token.settlement_of(rid, block)


def batch_name(key: bytes) -> str:
    return key.rstrip(b"\x00").decode("ascii", "replace")


def _end_to_end_ids(src: Sources, batch_id: str) -> list[str]:
    rows = service_reads.settled_by_id(src.db, ledger.batch_redemption_ids(src.db, batch_id))
    return sorted({str(r["end_to_end_id"]) for r in rows.values() if r["end_to_end_id"]})


def _file_cents(src: Sources, row: ledger.LedgerBatch | None) -> tuple[int | None, str | None]:
    if row is None:
        return None, None
    path = src.paths.settlements / PurePosixPath(row.file_path).name
    if not path.is_file():
        return None, f"{path.name} is missing"
    try:
        return sum(t.cents for t in read_pain001(path)), None
    except (HeitjeError, ValueError) as e:
        return None, f"{path.name} cannot be read: {e}"


def chain_parts(src: Sources, b: Blocks) -> list[SettlementPart] | None:
    """Every `SettlementPartRecorded` event in the period's blocks, in chain order (None when
    the chain does not answer)."""
    if b.through <= b.after:
        return []
    result = chain_read(src, lambda t: t.settlement_parts(b.after + 1, b.through))
    return None if result is None else list(result)


# ----- bank bookings (camt.053 statements read in by finance) -----


@dataclass(frozen=True)
class Booking:
    """The bank booking that paid a payment: its end-to-end id, the booking's euro `cents`
    (a batch booking's is the whole batch's), booking day (ISO), the statement's file name and
    the booking's id (`booking_id`, shared by the payments of one batch booking)."""

    end_to_end_id: str
    cents: int
    booked_on: str
    statement: str
    booking_id: int


def bank_read_in(src: Sources) -> bool:
    """True when finance has read at least one bank file in."""
    return service_reads.bank_files_read(src.db) > 0


def bank_bookings(src: Sources, e2e_ids: list[str]) -> dict[str, Booking] | None:
    """The bookings that paid the payments `e2e_ids`, by end-to-end id (ids not booked left
    out), or None when no bank statement was read in yet."""
    if not bank_read_in(src):
        return None
    return {
        e2e: Booking(
            e2e,
            int(row["amount_cents"] or 0),
            str(row["paid_on"]),
            str(row["file_name"]),
            int(row["booking_id"]),
        )
        for e2e, row in service_reads.bank_paid(src.db, e2e_ids).items()
    }

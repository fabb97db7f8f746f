"""The auditor's workbench, its lists: mints with their tasks (resolved by recomputing the
on-chain reference), redemptions with their settlement lines and bookings, settlement batches.
The public face is `domain.workbench`."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar

from domain._workbench_base import (
    AMSTERDAM,
    PAGE_SIZE,
    BatchFigures,
    Blocks,
    Booking,
    Period,
    Sources,
    bank_bookings,
    batch_name,
    blocks,
    chain_parts,
    chain_read,
    period_batches,
    settled_by,
)
from heitje.errors import Refused
from heitje.money import units_to_cents
from indexer import workbench as mirror_reads
from indexer.mirror import Redemption
from indexer.workbench import Reward
from node.contract import task_ref
from node.token import SettlementPart, batch_id_bytes
from store import workbench as service_reads

T = TypeVar("T")

# ----- lists -----


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: `items`, `page` (from 1), `count` and `units` over the whole list
    (base units or cents), and whether a next page exists."""

    items: list[T]
    page: int
    size: int
    count: int
    units: int

    @property
    def more(self) -> bool:
        return self.page * self.size < self.count

    @property
    def pages(self) -> int:
        return max(1, -(-self.count // self.size))


@dataclass(frozen=True)
class TaskInfo:
    """The task a mint rewards, found by recomputing its reference: who did what when (aware
    times; None when the service has none) and the paths of its proof photos."""

    id: int
    ref: str
    title: str
    neighbourhood: str
    reward: int
    published_by: str | None
    published_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    submitted_at: datetime | None
    first_approved_by: str | None
    first_approved_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    photos: list[str]


@dataclass(frozen=True)
class MintLine:
    """A mint in the mirror with the citizen it went to (username, None for an address no
    account has) and its task (None: no task of the service recomputes to its reference)."""

    reward: Reward
    citizen: str | None
    task: TaskInfo | None


def reference_of(task_id: int, ref: str) -> str:
    """The on-chain task reference (0x-hex, lowercase) of task `task_id` with ref `ref`, as
    `domain.tasks.approve` computes it."""
    return "0x" + task_ref(f"{task_id}:{ref}").hex()


def resolve(db: sqlite3.Connection, refs: set[str]) -> dict[str, int]:
    """On-chain task references -> the id of the task whose recomputed reference equals it.
    The outbox's labels name the task to try first; a reference they do not resolve is looked
    for among every task (streamed)."""
    wanted = {r.lower() for r in refs}
    found: dict[str, int] = {}
    labels = service_reads.mint_labels(db, wanted)
    rows = service_reads.tasks_by_id(db, labels.values())
    for ref, task_id in labels.items():
        row = rows.get(task_id)
        if row is not None and reference_of(task_id, str(row["ref"])) == ref:
            found[ref] = task_id
    missing = wanted - set(found)
    if missing:
        for task_id, key in service_reads.task_keys(db):
            ref = reference_of(task_id, key)
            if ref in missing:
                found[ref] = task_id
                missing.discard(ref)
                if not missing:
                    break
    return found


def _task_info(row: sqlite3.Row) -> TaskInfo:
    keys = row.keys()
    photos = int(row["proof_photos"] or 0)

    def get(name: str) -> Any:
        return row[name] if name in keys else None

    def when(name: str) -> datetime | None:
        text = get(name)
        if not text:
            return None
        try:
            moment = datetime.fromisoformat(str(text))
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=AMSTERDAM)

    approved = row["status"] == "approved"
    return TaskInfo(
        id=int(row["id"]),
        ref=str(row["ref"]),
        title=str(row["title"]),
        neighbourhood=str(row["neighbourhood"]),
        reward=int(row["reward"]),
        published_by=get("published_by_name"),
        published_at=when("published_at"),
        claimed_by=get("claimed_by_name"),
        claimed_at=when("claimed_at"),
        submitted_at=when("submitted_at") or when("proof_at"),
        first_approved_by=get("first_approved_by_name"),
        first_approved_at=when("first_approved_at"),
        approved_by=get("decided_by_name") if approved else None,
        approved_at=when("decided_at") if approved else None,
        photos=[f"/tasks/{row['ref']}/proof/{n}" for n in range(1, photos + 1)],
    )


def neighbourhood_refs(db: sqlite3.Connection, neighbourhood: str) -> set[str]:
    """The on-chain references of every task of `neighbourhood` (recomputed)."""
    return {reference_of(i, r) for i, r in service_reads.task_keys(db, neighbourhood)}


def mints(
    src: Sources,
    p: Period,
    *,
    neighbourhood: str | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
    b: Blocks | None = None,
) -> Page[MintLine]:
    """Mints of the period in chain order, `size` a page, each with its citizen and task;
    only tasks of `neighbourhood` when given."""
    b = b or blocks(src, p)
    refs = neighbourhood_refs(src.db, neighbourhood) if neighbourhood else None
    count, units = mirror_reads.rewards_total(src.mirror, b.after, b.through, refs=refs)
    rewards = mirror_reads.rewards(
        src.mirror, b.after, b.through, refs=refs, limit=size, offset=(page - 1) * size
    )
    return Page(_mint_lines(src.db, rewards), page, size, count, units)


def _mint_lines(db: sqlite3.Connection, rewards: list[Reward]) -> list[MintLine]:
    resolved = resolve(db, {r.task_ref for r in rewards})
    rows = service_reads.tasks_by_id(db, resolved.values())
    names = service_reads.usernames_of(db, [r.to_address for r in rewards])
    out = []
    for r in rewards:
        task_id = resolved.get(r.task_ref.lower())
        row = rows.get(task_id) if task_id is not None else None
        out.append(MintLine(r, names.get(r.to_address.lower()), _task_info(row) if row else None))
    return out


@dataclass(frozen=True)
class RedemptionLine:
    """A redemption in the mirror with its shop (username), the ledger's line that paid it
    (`batch_id`, `end_to_end_id`, `file`: the pain.001 file's name, `execution_date`), the
    batch the chain says settled it (`chain_batch`, None: not settled on chain or no chain) and
    its bank booking."""

    redemption: Redemption
    shop: str | None
    batch_id: str | None
    end_to_end_id: str | None
    file: str | None
    execution_date: str | None
    chain_batch: str | None
    booking: Booking | None


def mirror_shops(db: sqlite3.Connection, shop: str | None) -> list[str] | None:
    """The addresses of shop `shop` (username) for a filter, None without a filter. Errors:
    404 `shop_not_found`."""
    if not shop:
        return None
    found = service_reads.shop_addresses(db, shop)
    if not found:
        raise Refused(404, "shop_not_found", f"no shop {shop!r}")
    return found


def redemptions(
    src: Sources,
    p: Period,
    *,
    shop: str | None = None,
    page: int = 1,
    size: int = PAGE_SIZE,
    b: Blocks | None = None,
    with_chain: bool = True,
) -> Page[RedemptionLine]:
    """Redemptions of the period by id, `size` a page, each with its settlement line and bank
    booking; only those of shop `shop` (username) when given (404 `shop_not_found`).
    `with_chain`: also ask the chain which batch settled each (`settlementOf`)."""
    b = b or blocks(src, p)
    shops = mirror_shops(src.db, shop)
    count, units = mirror_reads.redemptions_total(src.mirror, b.after, b.through, shops=shops)
    items = mirror_reads.redemptions(
        src.mirror, b.after, b.through, shops=shops, limit=size, offset=(page - 1) * size
    )
    return Page(_redemption_lines(src, items, b, with_chain), page, size, count, units)


def _redemption_lines(
    src: Sources, items: list[Redemption], b: Blocks, with_chain: bool
) -> list[RedemptionLine]:
    settled = service_reads.settled_by_id(src.db, [r.redemption_id for r in items])
    names = service_reads.usernames_of(src.db, [r.shop for r in items])
    bookings = (
        bank_bookings(
            src, [str(r["end_to_end_id"]) for r in settled.values() if r["end_to_end_id"]]
        )
        or {}
    )
    out = []
    for r in items:
        row = settled.get(r.redemption_id)
        e2e = str(row["end_to_end_id"]) if row is not None and row["end_to_end_id"] else None
        chain_batch = None
        if with_chain:
            key = chain_read(src, partial(settled_by, rid=r.redemption_id, block=b.through))
            if key and any(key):
                chain_batch = batch_name(key)
        out.append(
            RedemptionLine(
                r,
                names.get(r.shop.lower()),
                str(row["batch_id"]) if row is not None else None,
                e2e,
                PurePosixPath(str(row["file_path"])).name
                if row is not None and row["file_path"]
                else None,
                str(row["execution_date"]) if row is not None and row["execution_date"] else None,
                chain_batch,
                bookings.get(e2e) if e2e else None,
            )
        )
    return out


@dataclass(frozen=True)
class SettlementLine:
    """A settlement batch of the period as each source has it, with the chain's parts (events)
    and what differs between the ledger, its file and its chain record (`differences`)."""

    figures: BatchFigures
    parts: list[SettlementPart]
    differences: list[str]

    @property
    def batch_id(self) -> str:
        return self.figures.batch_id

    @property
    def made_at(self) -> datetime | None:
        """When the ledger made the batch (aware), None for a batch only the chain has."""
        row = self.figures.ledger
        return datetime.fromisoformat(row.created_at) if row is not None else None


def settlements(
    src: Sources, p: Period, *, page: int = 1, size: int = PAGE_SIZE, b: Blocks | None = None
) -> Page[SettlementLine]:
    """The settlement batches of the period (`period_batches`), `size` a page, each with its
    on-chain parts and differences; `units` is the ledger's euro cents over all of them."""
    b = b or blocks(src, p)
    batches = period_batches(src, p, b)
    parts = chain_parts(src, b) or []
    lines = []
    for x in batches[(page - 1) * size : page * size]:
        key = batch_id_bytes(x.batch_id)
        mine = [part for part in parts if part.batch_id == key]
        lines.append(SettlementLine(x, mine, _batch_differences(src, x)))
    cents = sum(x.ledger.total_cents for x in batches if x.ledger is not None)
    return Page(lines, page, size, len(batches), cents)


def _batch_differences(src: Sources, x: BatchFigures) -> list[str]:
    diffs: list[str] = []
    if x.ledger is None:
        return ["recorded on chain, not in the service's ledger"]
    if x.chain is None:
        diffs.append("not recorded on chain" if src.token is not None else "chain not read")
    else:
        if not x.chain.closed:
            diffs.append("recorded on chain only in part")
        if x.chain.total_cents != x.ledger.total_cents:
            diffs.append("chain and ledger differ in euros")
        if x.chain.file_hash.hex() != x.ledger.file_sha256:
            diffs.append("the file's sha256 differs from the chain's")
    if x.file_note:
        diffs.append(x.file_note)
    elif x.file_cents is not None and x.file_cents != x.ledger.total_cents:
        diffs.append("file and ledger differ in euros")
    return diffs


def euro_cents(units: int, rate: str | None) -> int:
    """Base units in euro cents at `rate` (the ledger's per batch; "1" when unknown)."""
    return int(units_to_cents(units, rate or "1"))


def neighbourhoods(src: Sources) -> list[str]:
    """Every neighbourhood tasks were published in (for the filter)."""
    return service_reads.neighbourhoods(src.db)


def shops(src: Sources) -> list[dict[str, Any]]:
    """Every shop (username, name, status) for the filter."""
    return service_reads.shops(src.db)

"""The auditor's workbench: for a period, the totals of every source side by side (chain,
mirror, service ledger, payment files, bank), every mint with the task it rewards, every
redemption with the file line that paid it, and every on-chain settlement record. Read-only.

A period is a span of business days in Europe/Amsterdam (`Period`). On chain it becomes a block
range (`Blocks`): after the last block before the first day began, through the last block
before the day after the last day ended, cut at the mirror's checkpoint, so chain and mirror
are compared at the same block (`totalMinted` and `totalRedeemed` are read at both ends).

A mint's task is found from its on-chain task reference alone: the service computes it as
`task_ref(f"{task_id}:{ref}")` (`domain.tasks.approve`); here the reference is recomputed for
the service's tasks (the outbox's label of a mint only says which task to try first), so a
mint whose reference no task recomputes to shows as not resolved.

Bank bookings are the camt.053 statements finance read in (`domain.settlement.bank`, tables
`bank_files`, `bank_bookings`, `bank_paid_payments`); before the first, the bank column says so
(`Totals.bank_note`).

Lists are pages (`PAGE_SIZE`), read with LIMIT/OFFSET: memory stays bounded by a page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain._workbench_base import (
    AMSTERDAM,
    MAX_DAYS,
    NO_BANK,
    PAGE_SIZE,
    BatchFigures,
    Blocks,
    Booking,
    Period,
    Sources,
    bank_bookings,
    bank_read_in,
    blocks,
    chain_parts,
    chain_read,
    open_sources,
    period,
    period_batches,
)
from domain._workbench_lists import (
    MintLine,
    Page,
    RedemptionLine,
    SettlementLine,
    TaskInfo,
    mints,
    neighbourhoods,
    redemptions,
    reference_of,
    resolve,
    settlements,
    shops,
)
from indexer import workbench as mirror_reads
from node.token import Token

__all__ = [
    "AMSTERDAM", "MAX_DAYS", "NO_BANK", "PAGE_SIZE", "BatchFigures", "Blocks", "Booking",
    "MintLine", "Page", "Period", "RedemptionLine", "SettlementLine", "Sources", "TaskInfo",
    "TotalRow", "Totals", "bank_bookings", "bank_read_in", "blocks", "chain_parts", "mints",
    "neighbourhoods", "open_sources", "period", "period_batches", "redemptions", "reference_of",
    "resolve", "settlements", "shops", "totals",
]  # fmt: skip

# ----- totals -----


@dataclass(frozen=True)
class TotalRow:
    """One figure from each source that has it (None: the source does not hold it). `unit`
    "HEIT" (base units) or "EUR" (cents)."""

    key: str
    unit: str
    chain: int | None = None
    mirror: int | None = None
    service: int | None = None
    files: int | None = None
    bank: int | None = None

    @property
    def values(self) -> list[int]:
        return [
            v
            for v in (self.chain, self.mirror, self.service, self.files, self.bank)
            if v is not None
        ]

    @property
    def compared(self) -> bool:
        """True when at least two sources hold the figure."""
        return len(self.values) >= 2

    @property
    def agrees(self) -> bool:
        return len(set(self.values)) <= 1

    @property
    def difference(self) -> int:
        """Largest minus smallest figure (0 when they agree)."""
        return max(self.values) - min(self.values) if self.values else 0


@dataclass(frozen=True)
class Totals:
    """The period's figures side by side (`rows`), at `blocks`; `bank_note` when no bank
    figure exists (`NO_BANK`); `notes`: what could not be read."""

    period: Period
    blocks: Blocks
    rows: list[TotalRow]
    batches: list[str]
    bank_note: str | None
    notes: list[str] = field(default_factory=list)

    def row(self, key: str) -> TotalRow:
        return next(r for r in self.rows if r.key == key)


def _chain_total(src: Sources, read: str, b: Blocks) -> int | None:
    def delta(token: Token) -> int:
        fn = getattr(token, read)
        before = int(fn(b.after)) if b.after >= src.deploy_block else 0
        after = int(fn(b.through)) if b.through >= src.deploy_block else 0
        return after - before

    return chain_read(src, delta)


def totals(src: Sources, p: Period) -> Totals:
    """The period's totals side by side: minted, paid to shops, refunded by shops, redeemed
    (HEIT, chain and mirror), in circulation at the end, settled in euros (chain records,
    ledger, files, bank) and booked by the bank."""
    b = blocks(src, p)
    notes: list[str] = []
    if src.token is None or not b.chain:
        notes.append("the chain did not answer: no chain figures")
    m = src.mirror
    _, minted = mirror_reads.rewards_total(m, b.after, b.through)
    _, paid = mirror_reads.shop_transfers_total(m, b.after, b.through, "payment")
    _, refunded = mirror_reads.shop_transfers_total(m, b.after, b.through, "refund")
    _, redeemed = mirror_reads.redemptions_total(m, b.after, b.through)
    supply_chain = (
        chain_read(src, lambda t: int(t.total_supply(b.through)))
        if b.through >= src.deploy_block
        else (0 if src.token is not None else None)
    )
    batches = period_batches(src, p, b)
    chain_cents = [x.chain.total_cents for x in batches if x.chain is not None]
    ledger_cents = [x.ledger.total_cents for x in batches if x.ledger is not None]
    file_cents = [x.file_cents for x in batches if x.file_cents is not None]
    notes += [x.file_note for x in batches if x.file_note]
    read_in = bank_read_in(src)
    bank_cents = sum(x.bank_cents or 0 for x in batches) if read_in else None
    rows = [
        TotalRow("minted", "HEIT", _chain_total(src, "total_minted", b), minted),
        TotalRow("paid_to_shops", "HEIT", None, paid),
        TotalRow("refunded", "HEIT", None, refunded),
        TotalRow("redeemed", "HEIT", _chain_total(src, "total_redeemed", b), redeemed),
        TotalRow("supply", "HEIT", supply_chain, mirror_reads.supply_through(m, b.through)),
        TotalRow(
            "settled",
            "EUR",
            sum(chain_cents) if src.token is not None and b.chain else None,
            None,
            sum(ledger_cents),
            sum(file_cents),
            bank_cents,
        ),
    ]
    return Totals(
        p,
        b,
        rows,
        [x.batch_id for x in batches],
        None if read_in else NO_BANK,
        notes,
    )

"""The evidence pack of a period: one ZIP an external accountant checks with `sha256sum`,
`sqlite3` and `cast` alone (docs/evidence.md).

Contents (paths inside the ZIP):

- `README.txt`: what is in the pack and the figures to check, with the exact `cast` calls;
- `period.json`: the period, its blocks on chain, the token, and the totals side by side;
- `mints.csv`: every mint with its task (resolved by recomputing the on-chain reference);
- `shop_payments.csv`: every payment to a shop and refund by a shop;
- `redemptions.csv`: every redemption with the settlement file line and bank booking;
- `settlements.csv`: every settlement batch of the period: ledger, file, chain record, bank;
- `bank_bookings.csv`: every line of every bank file finance read in (camt.053, pain.002) with
  how it was matched (the service keeps the lines, not the files);
- `staff_log.csv`: the staff log entries of the period;
- `files/`: the pain.001 XML and CSV summary of the period's batches;
- `bank/`: every bank file finance read in (camt.053, pain.002), as received, named by its
  SHA-256 (the `file_sha256` of `bank_bookings.csv`);
- `audit.json`, `verify.json`: `heitje audit` and `heitje verify` output as given by the
  caller (or why it is absent), `deployment.json`: the deployment manifest;
- `SHA256SUMS`: the sha256 of every other file (`sha256sum -c SHA256SUMS`).

Written to a file (`build`), CSVs page by page, so memory stays bounded however long the
period. Amount columns ending in `_units` are HEIT base units (1 HEIT = 100), `_cents` euro
cents: integers, summable with sqlite3.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from domain import staff_log, workbench
from domain.context import Caller, Context
from domain.workbench import Period, Sources
from heitje.money import format_eur, format_heit
from heitje.spreadsheet import spreadsheet_safe
from indexer import workbench as mirror_reads
from store import workbench as service_reads
from store.db import transaction

CHUNK = 500
"""Rows read per query while a CSV is written."""

MINT_COLUMNS = (
    "block_number", "block_time_utc", "tx_hash", "log_index", "citizen_address", "citizen",
    "amount_units", "task_ref", "task_id", "task", "title", "neighbourhood", "published_by",
    "published_at", "claimed_by", "submitted_at", "first_approved_by", "first_approved_at",
    "approved_by", "approved_at", "photos",
)  # fmt: skip
PAYMENT_COLUMNS = (
    "kind", "block_number", "block_time_utc", "tx_hash", "log_index", "from_address",
    "to_address", "shop", "amount_units",
)  # fmt: skip
REDEMPTION_COLUMNS = (
    "redemption_id", "block_number", "block_time_utc", "tx_hash", "shop_address", "shop",
    "amount_units", "batch_id", "end_to_end_id", "file", "execution_date", "booked_cents",
    "booked_on", "statement",
)  # fmt: skip
SETTLEMENT_COLUMNS = (
    "batch_id", "created_at", "execution_date", "file", "file_sha256", "ledger_cents",
    "file_cents", "chain_cents", "chain_units", "chain_redemptions", "chain_closed",
    "chain_file_sha256", "bank_cents", "differences",
)  # fmt: skip
BANK_COLUMNS = (
    "file_name", "file_sha256", "kind", "message_id", "imported_at", "line", "entry_ref",
    "end_to_end_id", "amount_cents", "currency", "direction", "status", "reason",
    "booking_date", "batch_id", "outcome",
)  # fmt: skip
STAFF_LOG_COLUMNS = ("id", "at", "actor", "role", "action", "subject", "reason", "detail")


@dataclass(frozen=True)
class Pack:
    """A written pack: its `path`, the files in it with their sha256 (`files`, path ->
    hex; SHA256SUMS itself left out) and the period."""

    path: Path
    files: dict[str, str]
    period: Period


def _cell(value: Any) -> Any:
    """A CSV cell: text a spreadsheet would read as a formula gets a leading apostrophe (task
    titles, reasons and bank references are typed by people); numbers stay as they are."""
    return spreadsheet_safe(value) if isinstance(value, str) else value


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment is not None else ""


def _time(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


class _Writer:
    """The ZIP being written, remembering each member's sha256."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.sums: dict[str, str] = {}

    def bytes(self, name: str, data: bytes) -> None:
        self.zf.writestr(name, data)
        self.sums[name] = hashlib.sha256(data).hexdigest()

    def file(self, name: str, source: Path) -> None:
        digest = hashlib.sha256()
        with source.open("rb") as src, self.zf.open(name, "w", force_zip64=True) as dst:
            while block := src.read(1 << 16):
                digest.update(block)
                dst.write(block)
        self.sums[name] = digest.hexdigest()

    def csv(self, name: str, header: Iterable[str], rows: Iterator[Iterable[Any]]) -> None:
        digest = hashlib.sha256()
        with self.zf.open(name, "w", force_zip64=True) as dst:

            def put(batch: list[Iterable[Any]]) -> None:
                buffer = io.StringIO()
                safe = [
                    [spreadsheet_safe(v) if isinstance(v, str) else v for v in r] for r in batch
                ]
                csv.writer(buffer, lineterminator="\n").writerows(safe)
                data = buffer.getvalue().encode("utf-8")
                digest.update(data)
                dst.write(data)

            put([header])
            batch: list[Iterable[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= CHUNK:
                    put(batch)
                    batch = []
            if batch:
                put(batch)
        self.sums[name] = digest.hexdigest()


def _pages(fetch: Any) -> Iterator[Any]:
    """Every item of a paged list: `fetch(page)` returns a `workbench.Page`."""
    page = 1
    while True:
        result = fetch(page)
        yield from result.items
        if not result.more:
            return
        page += 1


def _mint_rows(src: Sources, p: Period, b: workbench.Blocks) -> Iterator[list[Any]]:
    for line in _pages(lambda n: workbench.mints(src, p, page=n, size=CHUNK, b=b)):
        r, t = line.reward, line.task
        yield [
            r.block_number, _time(r.block_timestamp), r.tx_hash, r.log_index, r.to_address,
            line.citizen or "", r.amount, r.task_ref,
            t.id if t else "", t.ref if t else "", t.title if t else "",
            t.neighbourhood if t else "", t.published_by or "" if t else "",
            _iso(t.published_at) if t else "", t.claimed_by or "" if t else "",
            _iso(t.submitted_at) if t else "", t.first_approved_by or "" if t else "",
            _iso(t.first_approved_at) if t else "", t.approved_by or "" if t else "",
            _iso(t.approved_at) if t else "", " ".join(t.photos) if t else "",
        ]  # fmt: skip


def _payment_rows(src: Sources, b: workbench.Blocks) -> Iterator[list[Any]]:
    offset = 0
    while True:
        items = mirror_reads.shop_transfers(
            src.mirror, b.after, b.through, limit=CHUNK, offset=offset
        )
        names = service_reads.usernames_of(
            src.db, [x.to_address if x.kind == "payment" else x.from_address for x in items]
        )
        for x in items:
            shop = x.to_address if x.kind == "payment" else x.from_address
            yield [
                x.kind, x.block_number, _time(x.block_timestamp), x.tx_hash, x.log_index,
                x.from_address, x.to_address, names.get(shop.lower(), ""), x.amount,
            ]  # fmt: skip
        if len(items) < CHUNK:
            return
        offset += CHUNK


def _redemption_rows(src: Sources, p: Period, b: workbench.Blocks) -> Iterator[list[Any]]:
    def fetch(n: int) -> workbench.Page[workbench.RedemptionLine]:
        return workbench.redemptions(src, p, page=n, size=CHUNK, b=b, with_chain=False)

    for line in _pages(fetch):
        r, bk = line.redemption, line.booking
        yield [
            r.redemption_id, r.block_number, _time(r.block_timestamp), r.tx_hash, r.shop,
            line.shop or "", r.amount, line.batch_id or "", line.end_to_end_id or "",
            line.file or "", line.execution_date or "", bk.cents if bk else "",
            bk.booked_on if bk else "", bk.statement if bk else "",
        ]  # fmt: skip


def _settlement_rows(lines: list[workbench.SettlementLine]) -> Iterator[list[Any]]:
    for line in lines:
        x, lg, ch = line.figures, line.figures.ledger, line.figures.chain
        yield [
            x.batch_id, lg.created_at if lg else "", lg.execution_date if lg else "",
            PurePosixPath(lg.file_path).name if lg else "", lg.file_sha256 if lg else "",
            lg.total_cents if lg else "", "" if x.file_cents is None else x.file_cents,
            ch.total_cents if ch else "", ch.total_units if ch else "",
            ch.redemptions if ch else "", int(ch.closed) if ch else "",
            ch.file_hash.hex() if ch else "", "" if x.bank_cents is None else x.bank_cents,
            "; ".join(line.differences),
        ]  # fmt: skip


def _bank_rows(src: Sources) -> Iterator[list[Any]]:
    offset = 0
    while True:
        rows = service_reads.bank_bookings(src.db, CHUNK, offset)
        for r in rows:
            yield ["" if v is None else v for v in tuple(r)]
        if len(rows) < CHUNK:
            return
        offset += CHUNK


def _staff_rows(ctx_db: Any, p: Period) -> Iterator[list[Any]]:
    from store import staff_log as rows_of

    since = p.start.astimezone(UTC).isoformat()
    until = p.end.astimezone(UTC).isoformat()
    offset = 0
    while True:
        rows = rows_of.entries(ctx_db, since, until, None, None, CHUNK, offset)
        for r in rows:
            yield [r["id"], r["at"], r["actor"], r["role"], r["action"], r["subject"],
                   r["reason"], r["detail"]]  # fmt: skip
        if len(rows) < CHUNK:
            return
        offset += CHUNK


def _readme(src: Sources, p: Period, totals: workbench.Totals, token: str, chain_id: Any) -> str:
    b = totals.blocks
    minted, redeemed = totals.row("minted"), totals.row("redeemed")
    settled = totals.row("settled")
    rpc = "$RPC_URL"
    before = b.after if b.after >= src.deploy_block else None
    lines = [
        "Heitje evidence pack",
        f"Period: {p.first.isoformat()} to {p.last.isoformat()} (Europe/Amsterdam days)",
        f"Token: {token} (chain id {chain_id})",
        f"Blocks: after {b.after} through {b.through}"
        + (" (cut at the mirror's checkpoint)" if b.cut else ""),
        "",
        "Check the files:      sha256sum -c SHA256SUMS",
        "Check the chain (docs/evidence.md):",
        f'  cast call {token} "totalMinted()(uint256)" --block {b.through} --rpc-url {rpc}',
        f'  cast call {token} "totalRedeemed()(uint256)" --block {b.through} --rpc-url {rpc}',
    ]
    if before is not None:
        lines += [
            f'  cast call {token} "totalMinted()(uint256)" --block {before} --rpc-url {rpc}',
            f'  cast call {token} "totalRedeemed()(uint256)" --block {before} --rpc-url {rpc}',
            "  (the period's figure is the first minus the second)",
        ]
    lines += [
        "",
        f"Minted in the period:   {minted.mirror} base units ({format_heit(minted.mirror or 0)}"
        f" HEIT) in mints.csv; chain {minted.chain}",
        f"Redeemed in the period: {redeemed.mirror} base units"
        f" ({format_heit(redeemed.mirror or 0)} HEIT) in redemptions.csv; chain {redeemed.chain}",
        f"Settled in the period:  {settled.service} euro cents"
        f" (EUR {format_eur(settled.service or 0)}) in settlements.csv",
        "Bank: " + (totals.bank_note or "bookings in redemptions.csv and settlements.csv"),
        "",
        "Amount columns ending in _units are HEIT base units (1 HEIT = 100); _cents are euro"
        " cents.",
    ]
    return "\n".join(lines) + "\n"


def build(
    src: Sources,
    p: Period,
    out: Path,
    *,
    audit: dict[str, Any] | None,
    verify: dict[str, Any] | None,
    made_at: datetime,
) -> Pack:
    """Write the evidence pack of period `p` to `out` (a ZIP; see the module docstring).
    `audit` and `verify` are the JSON output of `heitje audit` and `heitje verify` (or a dict
    saying why it is absent; None: "not given"). Errors as `workbench.totals`."""
    totals = workbench.totals(src, p)
    b = totals.blocks
    manifest_path = src.paths.manifest
    manifest: dict[str, Any] = (
        json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    )
    token = str(manifest.get("token", ""))
    settlements = list(_pages(lambda n: workbench.settlements(src, p, page=n, size=CHUNK, b=b)))
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        w = _Writer(zf)
        w.bytes("README.txt", _readme(src, p, totals, token, manifest.get("chain_id")).encode())
        summary = {
            "period": {"first": p.first.isoformat(), "last": p.last.isoformat()},
            "timezone": "Europe/Amsterdam",
            "made_at": made_at.isoformat(),
            "token": token,
            "chain_id": manifest.get("chain_id"),
            "deploy_block": src.deploy_block,
            "blocks": {
                "after": b.after,
                "through": b.through,
                "through_time": _time(b.through_ts) if b.through_ts else None,
                "cut_at_mirror_checkpoint": b.cut,
                "read_from_chain": b.chain,
            },
            "totals": [
                {
                    "row": r.key,
                    "unit": "base units" if r.unit == "HEIT" else "euro cents",
                    "chain": r.chain,
                    "mirror": r.mirror,
                    "service_ledger": r.service,
                    "files": r.files,
                    "bank": r.bank,
                    "agrees": r.agrees,
                    "difference": r.difference,
                }
                for r in totals.rows
            ],
            "bank": totals.bank_note or "bank statements read in",
            "notes": totals.notes,
        }
        w.bytes("period.json", (json.dumps(summary, indent=1) + "\n").encode())
        w.csv("mints.csv", MINT_COLUMNS, _mint_rows(src, p, b))
        w.csv("shop_payments.csv", PAYMENT_COLUMNS, _payment_rows(src, b))
        w.csv("redemptions.csv", REDEMPTION_COLUMNS, _redemption_rows(src, p, b))
        w.csv("settlements.csv", SETTLEMENT_COLUMNS, _settlement_rows(settlements))
        w.csv("staff_log.csv", STAFF_LOG_COLUMNS, _staff_rows(src.db, p))
        for line in settlements:
            lg = line.figures.ledger
            if lg is None:
                continue
            for rel in (lg.file_path, lg.csv_path):
                path = src.paths.settlements / PurePosixPath(rel).name
                if path.is_file():
                    w.file(f"files/{path.name}", path)
        w.csv("bank_bookings.csv", BANK_COLUMNS, _bank_rows(src))
        for sha256 in service_reads.bank_file_hashes(src.db):
            kept = src.paths.bank / f"{sha256}.xml"
            if kept.is_file():  # kept since bank files are (imports before that: CSV only)
                w.file(f"bank/{sha256}.xml", kept)
        for name, doc in (("audit.json", audit), ("verify.json", verify)):
            body = doc if doc is not None else {"available": False, "why": "not given"}
            w.bytes(name, (json.dumps(body, indent=1) + "\n").encode())
        if manifest_path.is_file():
            w.file("deployment.json", manifest_path)
        sums = "".join(f"{digest}  {name}\n" for name, digest in sorted(w.sums.items()))
        zf.writestr("SHA256SUMS", sums)
    return Pack(out, dict(w.sums), p)


def record_download(ctx: Context, caller: Caller, pack: Pack) -> None:
    """Append `evidence.download` to the staff log: the period as subject, the number of
    files and the sha256 of SHA256SUMS' list as detail."""
    listing = "".join(f"{d}  {n}\n" for n, d in sorted(pack.files.items()))
    with transaction(ctx.db):
        staff_log.record(
            ctx,
            caller,
            "evidence.download",
            f"{pack.period.first.isoformat()}..{pack.period.last.isoformat()}",
            "",
            files=len(pack.files),
            sha256sums=hashlib.sha256(listing.encode()).hexdigest(),
        )

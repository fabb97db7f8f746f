"""Finance's pages' side of settlement (`web.office_finance`): what is waiting per shop, the
history of runs, a run from the page (the same `run_settlement` as `heitje settle`, with
anchoring), the files of a batch, and bank files read in (`domain.settlement.bank`).

Every staff action is appended to the staff log (`domain.staff_log`) inside its own
transaction: `settlement.run` with the batch, `bank.statement_import` / `bank.status_import`
with the import; `settlement.anchor` once the chain has recorded a batch.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from domain import staff_log
from domain.context import Caller, Context
from domain.settlement.bank import Accounts, BankImport, import_bank_file
from domain.settlement.batch import SettlementResult
from domain.settlement.run import AnchorFailed, held_payees, run_settlement
from domain.settlement.sepa import PAIN_VERSIONS, check_creditor, postal_address
from heitje.datadir import DataDir
from heitje.errors import HeitjeError, InvalidInput, Refused
from heitje.money import units_to_cents
from indexer.mirror import Mirror
from store import bank, ledger
from store.payees import load_payees

FINANCE = ("finance",)
FILE_READERS = ("finance", "auditor")
_BATCH_ID = re.compile(r"^HEIT-[0-9]{8}-[0-9]{4,}$")
_NS = re.compile(rb"urn:iso:std:iso:20022:tech:xsd:(pain\.001\.001\.[0-9]{2})")


@dataclass(frozen=True)
class WaitingShop:
    """Redemptions waiting for a settlement, of one shop: `count` of them, `units` (base
    units) worth `cents` at the rate; `problem` the code why its payee cannot be paid (None:
    it can), `reason` in words."""

    shop: str
    shop_id: str | None
    name: str
    count: int
    units: int
    cents: int
    problem: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Run:
    """A settlement run in the ledger: batch id, when (`created_at`, ISO), the bank's
    `execution_date`, shops paid (`payments`), `total_cents`, the pain.001 version of its
    file, how many payments the bank booked as paid, and `anchored` (True/False; None when the
    chain could not say)."""

    batch_id: str
    created_at: str
    execution_date: str
    payments: int
    total_cents: int
    version: str
    paid: int
    anchored: bool | None


def _caller_check(caller: Caller, roles: tuple[str, ...]) -> None:
    if caller.role not in roles:
        raise Refused(403, "forbidden", f"only {', '.join(roles)} may do this")


def waiting(ctx: Context) -> list[WaitingShop]:
    """Per shop, the redemptions in the mirror (up to its checkpoint) no batch has paid, by
    shop id; each with whether its payee can go into a pain.001 file now. [] before the
    indexer made the mirror."""
    paths = DataDir(ctx.settings.data_dir)
    if not paths.mirror_db.is_file():
        return []
    with Mirror(paths.mirror_db) as mirror:
        checkpoint = mirror.checkpoint()
        rows = (
            [] if checkpoint is None else mirror.redemptions(through_block=checkpoint.block_number)
        )
    settled = ledger.settled_ids(ctx.db) if ledger.has_ledger(ctx.db) else set()
    per_shop: dict[str, list[Any]] = {}
    for r in rows:
        if r.redemption_id not in settled:
            per_shop.setdefault(str(r.shop).lower(), []).append(r)
    payees = {a.lower(): p for a, p in load_payees(ctx.db).items()}
    rate = ctx.settings.eur_per_heitje
    out = []
    for key, reds in per_shop.items():
        payee = payees.get(key)
        units = int(sum(int(r.amount) for r in reds))
        problem, reason = None, ""
        if payee is None:
            problem, reason = "unknown_payee", "no payee (IBAN) for this shop"
        else:
            try:
                check_creditor(payee.sepa_name or payee.name, payee.iban, payee.bic, payee.shop_id)
            except InvalidInput as e:
                problem, reason = e.code, e.message
        out.append(
            WaitingShop(
                shop=str(reds[0].shop),
                shop_id=None if payee is None else payee.shop_id,
                name=str(reds[0].shop) if payee is None else payee.name,
                count=len(reds),
                units=units,
                cents=int(units_to_cents(units, rate)),
                problem=problem,
                reason=reason,
            )
        )
    out.sort(key=lambda w: (w.shop_id or "~", w.shop.lower()))
    return out


def held(ctx: Context) -> list[dict[str, Any]]:
    """Shops whose redemptions the last run held for their payee (`held_payees`)."""
    return held_payees(Path(ctx.settings.data_dir))


def history(ctx: Context, limit: int = 50, check_chain: bool = True) -> list[Run]:
    """The last `limit` settlement runs, newest first (see `Run`); with `check_chain`, whether
    each is recorded on chain (one call per batch; None when the chain cannot say)."""
    if not ledger.has_ledger(ctx.db):
        return []
    batches = ledger.batches(ctx.db)[::-1][:limit]
    paid = bank.paid_by_batch(ctx.db)
    anchored = _anchored(ctx, [b.batch_id for b in batches]) if check_chain else {}
    root = Path(ctx.settings.data_dir)
    return [
        Run(
            batch_id=b.batch_id,
            created_at=b.created_at,
            execution_date=b.execution_date,
            payments=b.payment_count,
            total_cents=b.total_cents,
            version=_version(root / b.file_path),
            paid=paid.get(b.batch_id, 0),
            anchored=anchored.get(b.batch_id),
        )
        for b in batches
    ]


def _version(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(400)
    except OSError:
        return ""
    m = _NS.search(head)
    return m.group(1).decode() if m else ""


def _anchored(ctx: Context, batch_ids: list[str]) -> dict[str, bool | None]:
    if not batch_ids:
        return {}
    try:
        from node.manifest import Manifest
        from node.token import Token, batch_id_bytes, connect

        manifest = Manifest.load(DataDir(ctx.settings.data_dir).manifest)
        token = Token(connect(ctx.settings.rpc_url, timeout=5.0), manifest.token)
        return {b: token.settlement(batch_id_bytes(b)).closed for b in batch_ids}
    except Exception:  # the chain or manifest cannot say: shown as unknown
        return {b: None for b in batch_ids}


def municipality_ready(ctx: Context) -> bool:
    """True when the settings name the municipality's account (name and IBAN)."""
    s = ctx.settings
    return bool(s.municipality_name.strip() and s.municipality_iban.strip())


def run(ctx: Context, caller: Caller, *, through: datetime, pain_version: str) -> dict[str, Any]:
    """Finance runs a settlement from the page: `run_settlement` (as `heitje settle`, debtor
    from the settings, redemptions through `through`, the mirror's checkpoint block) with
    anchoring on `settings.rpc_url`; `settlement.run` logged inside the batch's transaction,
    `settlement.anchor` once per batch the chain recorded. Returns the run's result
    (`run_settlement`; {"batch_id": None, ...} when nothing was due), with `anchor_error` set
    when recording on chain failed (the batch stays written; `heitje anchor` or the next run
    records it). Errors: 403 `forbidden`; `InvalidInput` (`invalid_pain_version`,
    `municipality_not_set`); the run's own (`ChainCheckFailed`, `MirrorBehind`, ...)."""
    _caller_check(caller, FINANCE)
    if pain_version not in PAIN_VERSIONS:
        raise InvalidInput(f"pain.001 version {pain_version!r}", code="invalid_pain_version")
    s = ctx.settings
    if not municipality_ready(ctx):
        raise InvalidInput(
            "set HEITJE_MUNICIPALITY_NAME and HEITJE_MUNICIPALITY_IBAN first",
            code="municipality_not_set",
        )

    def journal(conn: sqlite3.Connection, result: SettlementResult) -> None:
        staff_log.record(
            replace(ctx, db=conn),
            caller,
            "settlement.run",
            result.batch_id,
            "",
            version=result.pain_version,
            payments=len(result.payments),
            total_cents=int(result.total_cents),
            execution_date=str(result.execution_date),
            held=len(result.held),
        )

    address = postal_address(
        s.municipality_street,
        s.municipality_house_number,
        s.municipality_postcode,
        s.municipality_town,
        s.municipality_country,
    )
    anchor_error = ""
    try:
        out = run_settlement(
            Path(s.data_dir),
            through=through,
            through_block=None,
            name=s.municipality_name,
            iban=s.municipality_iban,
            bic=s.municipality_bic or None,
            eur_per_heitje=s.eur_per_heitje,
            now=ctx.now,
            rpc_url=s.rpc_url,
            pain_version=pain_version,
            address=address,
            journal=journal,
        )
    except AnchorFailed as e:
        out, anchor_error = e.result, e.reason
    result: dict[str, Any] = dict(out) if out else {"batch_id": None, "anchored": [], "held": []}
    result["anchor_error"] = anchor_error
    for batch_id in result.get("anchored", []):
        staff_log.record(ctx, caller, "settlement.anchor", batch_id, "")
    return result


def batch_file(ctx: Context, caller: Caller, batch_id: str, kind: str) -> Path:
    """The pain.001 XML (`kind` "xml") or CSV (`kind` "csv") of ledger batch `batch_id`, for
    finance and auditors. The path comes from the ledger, never from the request, and must lie
    in the settlements folder. Errors: 403 `forbidden`; 404 `batch_not_found`."""
    _caller_check(caller, FILE_READERS)
    if kind not in ("xml", "csv") or not _BATCH_ID.fullmatch(batch_id):
        raise Refused(404, "batch_not_found", "no such settlement file")
    found = next(
        (b for b in ledger.batches(ctx.db) if b.batch_id == batch_id)
        if ledger.has_ledger(ctx.db)
        else iter(()),
        None,
    )
    if found is None:
        raise Refused(404, "batch_not_found", f"no settlement batch {batch_id}")
    paths = DataDir(ctx.settings.data_dir)
    path = (paths.root / (found.file_path if kind == "xml" else found.csv_path)).resolve()
    if not path.is_relative_to(paths.settlements.resolve()) or not path.is_file():
        raise Refused(404, "batch_not_found", f"the file of batch {batch_id} is not there")
    return path


def import_file(ctx: Context, caller: Caller, data: bytes, file_name: str) -> BankImport:
    """Finance reads a camt.053 statement or pain.002 status report in (`import_bank_file`);
    `bank.statement_import` / `bank.status_import` logged in its transaction. Errors: 403
    `forbidden`; `InvalidBankFile` (422 `invalid_bank_file`)."""
    _caller_check(caller, FINANCE)

    def journal(conn: sqlite3.Connection, result: BankImport) -> None:
        action = "bank.statement_import" if result.kind == "camt.053" else "bank.status_import"
        staff_log.record(
            replace(ctx, db=conn),
            caller,
            action,
            result.message_id or result.sha256[:16],
            "",
            message=result.message,
            sha256=result.sha256,
            lines=len(result.lines),
            paid=len(result.paid),
            unmatched=len(result.unmatched),
        )

    return import_bank_file(
        ctx.db,
        data,
        file_name,
        imported_by=caller.username,
        now=ctx.now,
        journal=journal,
        keep_in=ctx.settings.paths.bank,
        accounts=Accounts(ctx.settings.municipality_iban, ctx.settings.paths.settlements),
    )


def bank_files(ctx: Context) -> list[dict[str, Any]]:
    """The last 50 bank files read in, newest first: kind, message, message id, file name,
    when, by whom, lines and lines that paid."""
    return [dict(r) for r in bank.files(ctx.db)]


def describe_error(e: HeitjeError) -> str:
    """A run's or import's error as one line for the page."""
    return f"{e.code}: {' '.join(e.message.split())}"

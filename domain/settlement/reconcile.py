"""Read payment files back and reconcile the settlement ledger with the files and the mirror.

`read_pain001` reads a pain.001 file (.09 or .03; ours or a bank's) back into payments;
`reconcile_settlements` compares the mirror, the ledger (`store.ledger`) and the files of a
data directory and lists every difference. Both only read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath

from domain.settlement.batch import unix_seconds
from domain.settlement.sepa import InvalidPain001, ParsedDocument, parse_pain001, validate_pain001
from heitje.datadir import DataDir
from heitje.errors import NotFound
from heitje.money import EuroCents, format_eur, format_heit, units_to_cents
from indexer.mirror import Mirror, Redemption
from store import ledger
from store.ledger import LedgerBatch, SettledRedemption


@dataclass(frozen=True)
class FilePayment:
    """A credit transfer read from a pain.001 file (.09 or .03); `cents` parsed exactly from
    InstdAmt."""

    end_to_end_id: str
    creditor_iban: str
    creditor_name: str
    cents: EuroCents


def read_pain001(path: Path) -> list[FilePayment]:
    """The credit transfers in a pain.001 file (.09 or .03), in file order.

    Each: EndToEndId, creditor IBAN and name, InstdAmt in euro cents parsed exactly from its
    decimal text. Raises `InvalidPain001` if the file is not a pain.001.001.09 or .03 document, an
    amount is not whole cents or not in EUR; `FileNotFoundError` if it does not exist.
    """
    document = parse_pain001(path.read_bytes())
    payments = []
    for tx in document.transfers:
        if tx.currency != "EUR":
            raise InvalidPain001(f"{tx.end_to_end_id}: currency {tx.currency!r}, not EUR")
        payments.append(
            FilePayment(tx.end_to_end_id, tx.creditor_iban, tx.creditor_name, EuroCents(tx.cents))
        )
    return payments


def reconcile_settlements(data_dir: Path) -> list[str]:
    """Differences between the mirror, the settlement ledger and the files of `data_dir`; []
    when they agree.

    Checks: the ledger keeps its PRIMARY KEY on redemption_id; every settled redemption exists in
    the mirror with the same shop and amount, within its batch's cut-offs, in no second batch;
    every batch's XML file exists, matches its sha256, validates against the XSD of its pain.001
    version, carries the batch id as MsgId, and pays per end-to-end id exactly
    units_to_cents(ledger base units of that payment, batch rate); batch totals and counts agree;
    no end-to-end id in two files; no XML file in the folder the ledger does not know.
    Read-only. Raises `NotFound` if the mirror or ledger file is missing.
    """
    paths = DataDir(data_dir)
    settlements_dir = paths.settlements
    diffs: list[str] = []
    with ledger.open_read_only(paths.service_db) as conn:
        if not paths.mirror_db.is_file():
            raise NotFound(f"database {paths.mirror_db} does not exist", code="database_not_found")
        if not ledger.has_ledger(conn):
            batches: dict[str, LedgerBatch] = {}
            settled: list[SettledRedemption] = []
        else:
            if not ledger.has_redemption_pk(conn):
                diffs.append("ledger: settled_redemptions has no PRIMARY KEY on redemption_id")
            batches = {b.batch_id: b for b in ledger.batches(conn)}
            settled = ledger.settled_redemptions(conn)
    with Mirror(paths.mirror_db) as mirror:
        chain = mirror.redemptions_by_id(row.redemption_id for row in settled)

    # Ledger rows against the mirror, and single payment.
    batches_of: dict[int, list[str]] = {}
    for row in settled:
        rid, batch_id = row.redemption_id, row.batch_id
        batches_of.setdefault(rid, []).append(batch_id)
        if batch_id not in batches:
            diffs.append(f"redemption {rid}: settled in batch {batch_id}, which the ledger lacks")
        on_chain = chain.get(rid)
        if on_chain is None:
            diffs.append(f"redemption {rid}: settled in {batch_id} but not in the mirror")
            continue
        if str(on_chain.shop).lower() != str(row.shop).lower():
            diffs.append(f"redemption {rid}: ledger shop {row.shop}, mirror shop {on_chain.shop}")
        if on_chain.amount != row.amount:
            diffs.append(
                f"redemption {rid}: ledger amount {format_heit(row.amount)} HEIT,"
                f" mirror {format_heit(on_chain.amount)} HEIT"
            )
        batch = batches.get(batch_id)
        if batch is not None:
            diffs.extend(_cutoff_diffs(rid, batch, on_chain))
    for rid, in_batches in batches_of.items():
        if len(in_batches) > 1:
            diffs.append(f"redemption {rid}: settled more than once, in {', '.join(in_batches)}")

    # Batches against their files.
    seen_e2e: dict[str, str] = {}
    for batch_id, batch in batches.items():
        rows = [row for row in settled if row.batch_id == batch_id]
        diffs.extend(_batch_diffs(batch, rows, settlements_dir, seen_e2e))

    # Files the ledger does not know.
    known = {PurePosixPath(b.file_path).name for b in batches.values()}
    if settlements_dir.is_dir():
        for path in sorted(settlements_dir.glob("*.xml")):
            if path.name not in known:
                diffs.append(
                    f"{path.name}: XML file in the settlements folder unknown to the ledger"
                )
    return diffs


def _cutoff_diffs(rid: int, batch: LedgerBatch, on_chain: Redemption) -> list[str]:
    diffs = []
    if on_chain.block_number > batch.through_block:
        diffs.append(
            f"redemption {rid}: block {on_chain.block_number} is after batch"
            f" {batch.batch_id}'s cut-off block {batch.through_block}"
        )
    if batch.through is not None:
        through = datetime.fromisoformat(batch.through)
        if on_chain.block_timestamp > unix_seconds(through):
            diffs.append(
                f"redemption {rid}: block time is after batch {batch.batch_id}'s cut-off"
                f" {batch.through}"
            )
    return diffs


def _batch_diffs(
    batch: LedgerBatch,
    rows: list[SettledRedemption],
    settlements_dir: Path,
    seen_e2e: dict[str, str],
) -> list[str]:
    batch_id = batch.batch_id
    name = PurePosixPath(batch.file_path).name
    path = settlements_dir / name
    rate = batch.eur_per_heitje
    diffs: list[str] = []

    # What the ledger says each payment must be.
    units_by_e2e: dict[str, int] = {}
    for row in rows:
        e2e = str(row.end_to_end_id)
        units_by_e2e[e2e] = units_by_e2e.get(e2e, 0) + row.amount
    if rate is None:
        diffs.append(f"batch {batch_id}: no eur_per_heitje recorded, amounts checked at rate 1")
        rate = "1"
    expected = {e2e: units_to_cents(units, rate) for e2e, units in units_by_e2e.items()}
    if sum(expected.values()) != batch.total_cents:
        diffs.append(
            f"batch {batch_id}: ledger total EUR {format_eur(batch.total_cents)}, its"
            f" redemptions come to EUR {format_eur(sum(expected.values()))}"
        )
    if len(expected) != batch.payment_count:
        diffs.append(
            f"batch {batch_id}: ledger payment_count {batch.payment_count}, its redemptions"
            f" make {len(expected)} payments"
        )

    if not path.is_file():
        return [*diffs, f"batch {batch_id}: file {name} is missing"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != batch.file_sha256:
        diffs.append(f"batch {batch_id}: file {name} does not match the ledger's sha256")
    try:
        validate_pain001(data)
    except InvalidPain001 as e:
        diffs.append(f"batch {batch_id}: file {name}: {e}")
    try:
        document = parse_pain001(data)
    except InvalidPain001 as e:
        return [*diffs, f"batch {batch_id}: file {name} cannot be read: {e}"]
    diffs.extend(_document_diffs(batch_id, name, document, expected, seen_e2e))
    return diffs


def _document_diffs(
    batch_id: str,
    name: str,
    document: ParsedDocument,
    expected: dict[str, EuroCents],
    seen_e2e: dict[str, str],
) -> list[str]:
    diffs: list[str] = []
    if document.msg_id != batch_id:
        diffs.append(f"batch {batch_id}: file {name} has MsgId {document.msg_id}")
    in_file: dict[str, int] = {}
    for tx in document.transfers:
        e2e = tx.end_to_end_id
        if e2e in in_file or e2e in seen_e2e:
            diffs.append(f"end-to-end id {e2e} is paid twice ({seen_e2e.get(e2e, name)}, {name})")
        seen_e2e.setdefault(e2e, name)
        in_file[e2e] = in_file.get(e2e, 0) + tx.cents
        if tx.currency != "EUR":
            diffs.append(f"batch {batch_id}: {e2e} is in {tx.currency!r}, not EUR")
    for e2e in sorted(set(in_file) | set(expected)):
        if e2e not in expected:
            diffs.append(
                f"batch {batch_id}: file pays {e2e} EUR {format_eur(in_file[e2e])},"
                " which no settled redemption backs"
            )
        elif e2e not in in_file:
            diffs.append(
                f"batch {batch_id}: payment {e2e} of EUR {format_eur(expected[e2e])} is not in"
                f" file {name}"
            )
        elif in_file[e2e] != expected[e2e]:
            diffs.append(
                f"batch {batch_id}: file pays {e2e} EUR {format_eur(in_file[e2e])}, the ledger's"
                f" redemptions come to EUR {format_eur(expected[e2e])}"
            )
    file_total = sum(tx.cents for tx in document.transfers)
    if document.ctrl_sum_cents != file_total or document.nb_of_txs != len(document.transfers):
        diffs.append(
            f"batch {batch_id}: file {name} header says {document.nb_of_txs} payments of EUR"
            f" {format_eur(document.ctrl_sum_cents)}, it holds {len(document.transfers)} of EUR"
            f" {format_eur(file_total)}"
        )
    return diffs

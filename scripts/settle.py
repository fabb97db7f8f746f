"""Settlement: pay shops in euros for redeemed HEIT, by SEPA credit transfer (pain.001.001.03).

`settle` reads due redemptions from the SQL mirror of the chain, writes one ISO 20022
pain.001.001.03 file (one credit transfer per shop) plus a CSV summary into the settlements
folder, and records the batch in the settlement ledger (tables `settlement_batches` and
`settled_redemptions` in the service database). The PRIMARY KEY on
`settled_redemptions.redemption_id` is what makes a redemption never paid twice.
`read_pain001` reads a file back; `reconcile_settlements` compares mirror, ledger and files.

Amounts: redemptions are HEIT base units (`BaseUnits`, 1 HEIT = 100), payments euro cents
(`EuroCents`), converted once per shop per batch by `heitje.money.units_to_cents`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePosixPath

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from heitje.errors import Conflict, HeitjeError, InvalidInput, NotFound
from heitje.money import BaseUnits, EuroCents, format_eur, format_heit, parse_rate, units_to_cents
from scripts._sepa import (
    Account,
    CreditTransfer,
    InvalidPain001,
    ParsedDocument,
    parse_pain001,
    validate_pain001,
)
from scripts._sepa import build_pain001 as _build_pain001

__all__ = [
    "AlreadySettled",
    "FilePayment",
    "InvalidLedger",
    "InvalidPain001",
    "MirrorBehind",
    "Municipality",
    "SettlementResult",
    "ShopPayee",
    "ShopPayment",
    "UnknownPayee",
    "read_pain001",
    "reconcile_settlements",
    "settle",
]

BATCH_PREFIX = "HEIT"
CSV_COLUMNS = (
    "batch_id",
    "end_to_end_id",
    "shop_id",
    "shop_address",
    "shop_name",
    "iban",
    "redemption_ids",  # space-separated, ascending
    "heit",  # HEIT redeemed, "12.50"
    "eur",  # euros paid, "6.25"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TEMP = re.compile(rf"^\.({BATCH_PREFIX}-[0-9]{{8}}-[0-9]{{4,}})\.(xml|csv)\.tmp$")

LEDGER_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS settlement_batches (
    batch_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    through TEXT NULL,
    through_block INTEGER NOT NULL,
    execution_date TEXT NOT NULL,
    file_path TEXT NOT NULL,
    csv_path TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    payment_count INTEGER NOT NULL,
    eur_per_heitje TEXT
)""",
    """CREATE TABLE IF NOT EXISTS settled_redemptions (
    redemption_id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES settlement_batches(batch_id),
    shop TEXT NOT NULL,
    amount INTEGER NOT NULL,
    end_to_end_id TEXT
)""",
    "CREATE INDEX IF NOT EXISTS settled_redemptions_batch ON settled_redemptions(batch_id)",
)
"""The settlement ledger (in service.sqlite). `through_block`: the block cut-off applied;
`file_path`/`csv_path`: relative to the data dir; `eur_per_heitje`: the batch's rate;
`end_to_end_id`: the payment that paid the redemption."""
# Columns beyond the minimal ledger, added to a ledger created without them.
_EXTRA_COLUMNS = (
    ("settlement_batches", "eur_per_heitje", "TEXT"),
    ("settled_redemptions", "end_to_end_id", "TEXT"),
)


# --- errors ------------------------------------------------------------------------------------


class UnknownPayee(HeitjeError, LookupError):
    """Redemptions are due for a shop with no payee entry (no IBAN to pay). `shops`: addresses."""

    code = "unknown_payee"

    def __init__(self, shops: list[str]) -> None:
        super().__init__(f"no payee (IBAN) for shop(s) with due redemptions: {', '.join(shops)}")
        self.shops = shops


class MirrorBehind(HeitjeError):
    """The SQL mirror has not indexed as far as the settlement asks (or has no checkpoint)."""

    code = "mirror_behind"
    http_status = 409


class AlreadySettled(Conflict):
    """A redemption in this batch was settled meanwhile; nothing was written."""

    code = "already_settled"


class InvalidLedger(HeitjeError):
    """The settlement ledger's schema cannot guarantee single payment."""

    code = "invalid_ledger"


# --- data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShopPayee:
    """Who gets paid for a shop's redemptions: chain `address` (checksum), the shop's id and
    name, its `iban` (spaces and case are normalised) and optional `bic` (None = IBAN-only)."""

    address: str
    shop_id: str
    name: str
    iban: str
    bic: str | None = None


@dataclass(frozen=True)
class Municipality:
    """The debtor: `name`, `iban`, `bic` (None = derived from the IBAN with schwifty) and the
    rate `eur_per_heitje`, a decimal string ("1.00", "0.50")."""

    name: str
    iban: str
    bic: str | None
    eur_per_heitje: str


@dataclass(frozen=True)
class ShopPayment:
    """One credit transfer of a batch: `cents` = units_to_cents(`units`, rate), where `units` is
    the sum of the base units of `redemption_ids` (ascending) redeemed by `shop` (address)."""

    shop: str
    shop_id: str
    name: str
    iban: str
    end_to_end_id: str
    units: BaseUnits
    cents: EuroCents
    redemption_ids: tuple[int, ...]


@dataclass(frozen=True)
class SettlementResult:
    """A settled batch: the files written, `total_cents` over `payments`, and the block cut-off
    applied (`through_block`). `deferred_ids`: due redemptions left unpaid because their shop's
    total came to 0 cents at the rate (they stay due)."""

    batch_id: str
    xml_path: Path
    csv_path: Path
    file_sha256: str
    total_cents: EuroCents
    through_block: int
    payments: tuple[ShopPayment, ...]
    deferred_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class FilePayment:
    """A credit transfer read from a pain.001.001.03 file; `cents` parsed exactly from InstdAmt."""

    end_to_end_id: str
    creditor_iban: str
    creditor_name: str
    cents: EuroCents


@dataclass(frozen=True)
class _Redemption:
    redemption_id: int
    shop: str
    amount: int
    block_number: int
    block_timestamp: int


# --- settle ------------------------------------------------------------------------------------


def settle(
    *,
    mirror_db: Path,
    ledger_db: Path,
    settlements_dir: Path,
    municipality: Municipality,
    payees: Mapping[str, ShopPayee],
    through: datetime | None,
    through_block: int | None,
    execution_date: date,
    created_at: datetime,
) -> SettlementResult | None:
    """Pay every due redemption: one pain.001.001.03 file, one credit transfer per shop.

    Due: in `mirror_db` (table `redemptions`), `block_timestamp <= through` (unix seconds, the
    exact second included) if `through` is given, `block_number <= through_block` if given (else
    <= the mirror's checkpoint block), and not in the ledger's `settled_redemptions`.
    Per shop (looked up in `payees` by address, case-insensitive) one transfer of
    `units_to_cents(sum of its base units, municipality.eur_per_heitje)` euro cents, end-to-end id
    `<batch_id>-<nn>`. Batch id `HEIT-<YYYYMMDD of created_at>-<nnnn>`. Writes
    `settlements_dir/<batch_id>.xml` (XSD-validated) and `<batch_id>.csv`, and the ledger rows in
    one transaction; a re-run never pays a redemption twice. Returns None, writing nothing, when
    nothing is due. `through` and `created_at` must carry a UTC offset.

    Raises `UnknownPayee` (code `unknown_payee`) if a due shop has no payee, `MirrorBehind` if
    `through_block` is beyond the mirror's checkpoint, `InvalidInput` (`invalid_iban`,
    `invalid_bic`, `invalid_input`), `InvalidAmount` for a bad rate, `InvalidPain001`,
    `AlreadySettled`; in every case nothing is written.
    """
    _require_offset(created_at, "created_at")
    if through is not None:
        _require_offset(through, "through")
    rate = municipality.eur_per_heitje
    parse_rate(rate)  # raises InvalidAmount
    debtor_iban = _compact_iban(municipality.iban, municipality.name)
    debtor = Account(municipality.name, debtor_iban, _debtor_bic(debtor_iban, municipality.bic))
    by_address = {address.lower(): payee for address, payee in payees.items()}
    settlements_dir.mkdir(parents=True, exist_ok=True)

    with _connect(ledger_db) as ledger:
        ledger.execute("BEGIN IMMEDIATE")  # one settler at a time; readers are not blocked
        temps: list[Path] = []
        try:
            _ensure_ledger(ledger)
            _finish_interrupted(ledger, settlements_dir)
            redemptions, cutoff_block = _due_redemptions(mirror_db, through, through_block)
            settled = {
                row[0] for row in ledger.execute("SELECT redemption_id FROM settled_redemptions")
            }
            due = [r for r in redemptions if r.redemption_id not in settled]
            if not due:
                ledger.execute("COMMIT")
                return None

            per_shop: dict[str, list[_Redemption]] = {}
            for r in due:
                per_shop.setdefault(r.shop.lower(), []).append(r)
            unknown = sorted(per_shop[key][0].shop for key in per_shop if key not in by_address)
            if unknown:
                raise UnknownPayee(unknown)

            batch_id = _next_batch_id(ledger, settlements_dir, created_at.date())
            payments, deferred = _payments(batch_id, per_shop, by_address, rate)
            if not payments:
                ledger.execute("COMMIT")
                return None
            xml = _build_pain001(
                msg_id=batch_id,
                created_at=created_at,
                execution_date=execution_date,
                debtor=debtor,
                transfers=[
                    CreditTransfer(
                        end_to_end_id=p.end_to_end_id,
                        creditor=Account(p.name, p.iban, _payee_bic(by_address[p.shop.lower()])),
                        cents=p.cents,
                        remittance=_remittance(p.end_to_end_id, p.redemption_ids),
                    )
                    for p in payments
                ],
            )
            xml_path = settlements_dir / f"{batch_id}.xml"
            csv_path = settlements_dir / f"{batch_id}.csv"
            xml_temp, csv_temp = _temp_path(xml_path), _temp_path(csv_path)
            temps = [xml_temp, csv_temp]
            _write_durably(xml_temp, xml)
            _write_durably(csv_temp, _csv_summary(batch_id, payments))

            sha256 = hashlib.sha256(xml).hexdigest()
            total = EuroCents(sum(p.cents for p in payments))
            ledger.execute(
                "INSERT INTO settlement_batches (batch_id, created_at, through, through_block,"
                " execution_date, file_path, csv_path, file_sha256, total_cents, payment_count,"
                " eur_per_heitje) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch_id,
                    created_at.isoformat(),
                    through.isoformat() if through is not None else None,
                    cutoff_block,
                    execution_date.isoformat(),
                    _ledger_path(settlements_dir, xml_path),
                    _ledger_path(settlements_dir, csv_path),
                    sha256,
                    total,
                    len(payments),
                    rate,
                ),
            )
            ledger.executemany(
                "INSERT INTO settled_redemptions (redemption_id, batch_id, shop, amount,"
                " end_to_end_id) VALUES (?, ?, ?, ?, ?)",
                [
                    (r.redemption_id, batch_id, r.shop, r.amount, p.end_to_end_id)
                    for p in payments
                    for r in per_shop[p.shop.lower()]
                ],
            )
            ledger.execute("COMMIT")
        except BaseException as e:
            if ledger.in_transaction:
                ledger.execute("ROLLBACK")
            for temp in temps:
                temp.unlink(missing_ok=True)
            if isinstance(e, sqlite3.IntegrityError):
                raise AlreadySettled(f"settlement refused, nothing written: {e}") from e
            raise

    # Committed: the batch exists. A crash before these renames is finished by the next run.
    os.replace(xml_temp, xml_path)
    os.replace(csv_temp, csv_path)
    _fsync_dir(settlements_dir)
    return SettlementResult(
        batch_id=batch_id,
        xml_path=xml_path,
        csv_path=csv_path,
        file_sha256=sha256,
        total_cents=total,
        through_block=cutoff_block,
        payments=tuple(payments),
        deferred_ids=deferred,
    )


def _due_redemptions(
    mirror_db: Path, through: datetime | None, through_block: int | None
) -> tuple[list[_Redemption], int]:
    """Mirror redemptions within the cut-offs (settled or not) and the block cut-off applied."""
    with _connect(mirror_db, read_only=True) as mirror:
        row = mirror.execute("SELECT block_number FROM checkpoint WHERE id = 1").fetchone()
        if row is None or row[0] is None:
            raise MirrorBehind("the mirror has no checkpoint: the indexer has not run yet")
        indexed = int(row[0])
        if through_block is not None and through_block > indexed:
            raise MirrorBehind(
                f"settlement through block {through_block} but the mirror has indexed only"
                f" through block {indexed}: let the indexer catch up first"
            )
        cutoff = indexed if through_block is None else through_block
        sql = (
            "SELECT redemption_id, shop, amount, block_number, block_timestamp FROM redemptions"
            " WHERE block_number <= ?"
        )
        args: list[int] = [cutoff]
        if through is not None:
            sql += " AND block_timestamp <= ?"
            args.append(_unix_seconds(through))
        rows = mirror.execute(sql + " ORDER BY redemption_id", args).fetchall()
    redemptions = []
    for rid, shop, amount, block, ts in rows:
        if not isinstance(amount, int) or amount <= 0 or not isinstance(shop, str):
            raise InvalidInput(
                f"mirror redemption {rid} has shop {shop!r} and amount {amount!r}",
                code="invalid_mirror",
            )
        redemptions.append(_Redemption(int(rid), shop, amount, int(block), int(ts)))
    return redemptions, cutoff


def _payments(
    batch_id: str,
    per_shop: dict[str, list[_Redemption]],
    by_address: dict[str, ShopPayee],
    rate: str,
) -> tuple[list[ShopPayment], tuple[int, ...]]:
    """One payment per shop (ordered by shop id, then address), amounts rounded once per shop."""
    keys = sorted(per_shop, key=lambda key: (by_address[key].shop_id, key))
    payable: list[tuple[str, int, EuroCents]] = []
    deferred: list[int] = []
    for key in keys:
        units = sum(r.amount for r in per_shop[key])
        cents = units_to_cents(units, rate)
        if cents == 0:  # SEPA cannot pay 0.00: leave them due until the shop's total is a cent
            deferred.extend(r.redemption_id for r in per_shop[key])
        else:
            payable.append((key, units, cents))
    width = max(2, len(str(len(payable))))
    payments = []
    for n, (key, units, cents) in enumerate(payable, start=1):
        payee = by_address[key]
        payments.append(
            ShopPayment(
                shop=per_shop[key][0].shop,
                shop_id=payee.shop_id,
                name=payee.name,
                iban=_compact_iban(payee.iban, payee.shop_id),
                end_to_end_id=f"{batch_id}-{n:0{width}d}",
                units=BaseUnits(units),
                cents=cents,
                redemption_ids=tuple(sorted(r.redemption_id for r in per_shop[key])),
            )
        )
    return payments, tuple(sorted(deferred))


def _remittance(end_to_end_id: str, ids: tuple[int, ...]) -> str:
    """Remittance text: 'Heitje <e2e> redemptions 12,13,17', cut at a whole id to fit 140 chars."""
    head = f"Heitje {end_to_end_id} redemptions "
    text = head + ",".join(str(i) for i in ids)
    if len(text) <= 140:
        return text
    shown: list[str] = []
    for i, rid in enumerate(ids):
        tail = f" (+{len(ids) - i - 1} more)"
        if len(head + ",".join([*shown, str(rid)]) + tail) > 140:
            break
        shown.append(str(rid))
    return head + ",".join(shown) + f" (+{len(ids) - len(shown)} more)"


def _csv_summary(batch_id: str, payments: list[ShopPayment]) -> bytes:
    """The CSV beside the XML: one row per payment, columns `CSV_COLUMNS`, UTF-8, CRLF."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in payments:
        writer.writerow(
            [
                batch_id,
                p.end_to_end_id,
                _csv_safe(p.shop_id),
                p.shop,
                _csv_safe(p.name),
                p.iban,
                " ".join(str(i) for i in p.redemption_ids),
                format_heit(p.units),
                format_eur(p.cents),
            ]
        )
    return buffer.getvalue().encode("utf-8")


def _csv_safe(text: str) -> str:
    """Keep spreadsheet programs from reading a name as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _next_batch_id(ledger: sqlite3.Connection, settlements_dir: Path, day: date) -> str:
    """`HEIT-YYYYMMDD-nnnn`: one past the highest sequence of that day in the ledger, skipping
    names already taken by files in the folder (never overwrite a file)."""
    prefix = f"{BATCH_PREFIX}-{day.strftime('%Y%m%d')}-"
    seqs = [
        int(row[0][len(prefix) :])
        for row in ledger.execute(
            "SELECT batch_id FROM settlement_batches WHERE substr(batch_id, 1, ?) = ?",
            (len(prefix), prefix),
        )
        if row[0][len(prefix) :].isdigit()
    ]
    seq = max(seqs, default=0) + 1
    while any((settlements_dir / f"{prefix}{seq:04d}{ext}").exists() for ext in (".xml", ".csv")):
        seq += 1
    return f"{prefix}{seq:04d}"


def _finish_interrupted(ledger: sqlite3.Connection, settlements_dir: Path) -> None:
    """Under the ledger's write lock: rename temp files of committed batches whose final file is
    missing (crash between commit and rename, sha256 must match); delete other temp files."""
    for temp in settlements_dir.iterdir():
        m = _TEMP.match(temp.name)
        if m is None:
            continue
        batch_id, ext = m.group(1), m.group(2)
        row = ledger.execute(
            "SELECT file_sha256 FROM settlement_batches WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        if row is None:  # its run failed before commit
            temp.unlink(missing_ok=True)
            continue
        final = settlements_dir / f"{batch_id}.{ext}"
        intact = ext == "csv" or hashlib.sha256(temp.read_bytes()).hexdigest() == row[0]
        if intact and not final.exists():
            os.replace(temp, final)


# --- read back and reconcile -------------------------------------------------------------------


def read_pain001(path: Path) -> list[FilePayment]:
    """The credit transfers in a pain.001.001.03 file, in file order.

    Each: EndToEndId, creditor IBAN and name, InstdAmt in euro cents parsed exactly from its
    decimal text. Raises `InvalidPain001` if the file is not a pain.001.001.03 document, an
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


def reconcile_settlements(mirror_db: Path, ledger_db: Path, settlements_dir: Path) -> list[str]:
    """Differences between the mirror, the settlement ledger and the files; [] when they agree.

    Checks: the ledger keeps its PRIMARY KEY on redemption_id; every settled redemption exists in
    the mirror with the same shop and amount, within its batch's cut-offs, in no second batch;
    every batch's XML file exists, matches its sha256, validates against the pain.001.001.03 XSD,
    carries the batch id as MsgId, and pays per end-to-end id exactly
    units_to_cents(ledger base units of that payment, batch rate); batch totals and counts agree;
    no end-to-end id in two files; no XML file in the folder the ledger does not know.
    Read-only. Raises `NotFound` if the mirror or ledger file is missing.
    """
    diffs: list[str] = []
    with (
        _connect(ledger_db, read_only=True) as ledger,
        _connect(mirror_db, read_only=True) as mirror,
    ):
        tables = {
            row[0] for row in ledger.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not {"settlement_batches", "settled_redemptions"} <= tables:
            batches: dict[str, sqlite3.Row] = {}
            settled: list[sqlite3.Row] = []
        else:
            if not _has_redemption_pk(ledger):
                diffs.append("ledger: settled_redemptions has no PRIMARY KEY on redemption_id")
            batches = {
                row["batch_id"]: row
                for row in ledger.execute("SELECT * FROM settlement_batches ORDER BY batch_id")
            }
            settled = ledger.execute(
                "SELECT * FROM settled_redemptions ORDER BY redemption_id, batch_id"
            ).fetchall()
        chain = {
            row["redemption_id"]: row
            for row in mirror.execute(
                "SELECT redemption_id, shop, amount, block_number, block_timestamp FROM redemptions"
            )
        }

    # Ledger rows against the mirror, and single payment.
    batches_of: dict[int, list[str]] = {}
    for row in settled:
        rid, batch_id = row["redemption_id"], row["batch_id"]
        batches_of.setdefault(rid, []).append(batch_id)
        if batch_id not in batches:
            diffs.append(f"redemption {rid}: settled in batch {batch_id}, which the ledger lacks")
        on_chain = chain.get(rid)
        if on_chain is None:
            diffs.append(f"redemption {rid}: settled in {batch_id} but not in the mirror")
            continue
        if str(on_chain["shop"]).lower() != str(row["shop"]).lower():
            diffs.append(
                f"redemption {rid}: ledger shop {row['shop']}, mirror shop {on_chain['shop']}"
            )
        if on_chain["amount"] != row["amount"]:
            diffs.append(
                f"redemption {rid}: ledger amount {format_heit(row['amount'])} HEIT,"
                f" mirror {format_heit(on_chain['amount'])} HEIT"
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
        rows = [row for row in settled if row["batch_id"] == batch_id]
        diffs.extend(_batch_diffs(batch, rows, settlements_dir, seen_e2e))

    # Files the ledger does not know.
    known = {PurePosixPath(b["file_path"]).name for b in batches.values()}
    if settlements_dir.is_dir():
        for path in sorted(settlements_dir.glob("*.xml")):
            if path.name not in known:
                diffs.append(
                    f"{path.name}: XML file in the settlements folder unknown to the ledger"
                )
    return diffs


def _cutoff_diffs(rid: int, batch: sqlite3.Row, on_chain: sqlite3.Row) -> list[str]:
    diffs = []
    if on_chain["block_number"] > batch["through_block"]:
        diffs.append(
            f"redemption {rid}: block {on_chain['block_number']} is after batch"
            f" {batch['batch_id']}'s cut-off block {batch['through_block']}"
        )
    if batch["through"] is not None:
        through = datetime.fromisoformat(batch["through"])
        if on_chain["block_timestamp"] > _unix_seconds(through):
            diffs.append(
                f"redemption {rid}: block time is after batch {batch['batch_id']}'s cut-off"
                f" {batch['through']}"
            )
    return diffs


def _batch_diffs(
    batch: sqlite3.Row, rows: list[sqlite3.Row], settlements_dir: Path, seen_e2e: dict[str, str]
) -> list[str]:
    batch_id = batch["batch_id"]
    name = PurePosixPath(batch["file_path"]).name
    path = settlements_dir / name
    rate = batch["eur_per_heitje"]
    diffs: list[str] = []

    # What the ledger says each payment must be.
    units_by_e2e: dict[str, int] = {}
    for row in rows:
        units_by_e2e[str(row["end_to_end_id"])] = (
            units_by_e2e.get(str(row["end_to_end_id"]), 0) + row["amount"]
        )
    if rate is None:
        diffs.append(f"batch {batch_id}: no eur_per_heitje recorded, amounts checked at rate 1")
        rate = "1"
    expected = {e2e: units_to_cents(units, rate) for e2e, units in units_by_e2e.items()}
    if sum(expected.values()) != batch["total_cents"]:
        diffs.append(
            f"batch {batch_id}: ledger total EUR {format_eur(batch['total_cents'])}, its"
            f" redemptions come to EUR {format_eur(sum(expected.values()))}"
        )
    if len(expected) != batch["payment_count"]:
        diffs.append(
            f"batch {batch_id}: ledger payment_count {batch['payment_count']}, its redemptions"
            f" make {len(expected)} payments"
        )

    if not path.is_file():
        return [*diffs, f"batch {batch_id}: file {name} is missing"]
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != batch["file_sha256"]:
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


# --- small helpers -----------------------------------------------------------------------------


@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode (transactions are explicit), closed on exit."""
    if read_only:
        if not path.is_file():
            raise NotFound(f"database {path} does not exist", code="database_not_found")
        conn = sqlite3.connect(
            path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None, timeout=30
        )
    else:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def _ensure_ledger(ledger: sqlite3.Connection) -> None:
    for statement in LEDGER_SCHEMA:
        ledger.execute(statement)
    for table, column, kind in _EXTRA_COLUMNS:
        columns = {row["name"] for row in ledger.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            ledger.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    if not _has_redemption_pk(ledger):
        raise InvalidLedger(
            "settled_redemptions has no PRIMARY KEY on redemption_id: refusing to settle"
        )


def _has_redemption_pk(ledger: sqlite3.Connection) -> bool:
    info = ledger.execute("PRAGMA table_info(settled_redemptions)").fetchall()
    return [row["name"] for row in info if row["pk"]] == ["redemption_id"]


def _require_offset(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        raise InvalidInput(f"{name} must carry a UTC offset, got {moment.isoformat()}")


def _unix_seconds(moment: datetime) -> int:
    """Whole unix seconds at or before `moment` (floor; integer arithmetic, no float)."""
    return (moment - _EPOCH) // timedelta(seconds=1)


def _compact_iban(iban: str, owner: str) -> str:
    try:
        return str(IBAN(iban).compact)
    except SchwiftyException as e:
        raise InvalidInput(f"{owner}: IBAN {iban!r} is not valid: {e}", code="invalid_iban") from e


def _compact_bic(bic: str, owner: str) -> str:
    try:
        return str(BIC(bic))
    except SchwiftyException as e:
        raise InvalidInput(f"{owner}: BIC {bic!r} is not valid: {e}", code="invalid_bic") from e


def _payee_bic(payee: ShopPayee) -> str | None:
    return None if payee.bic is None else _compact_bic(payee.bic, payee.shop_id)


def _debtor_bic(iban: str, bic: str | None) -> str:
    """The municipality's BIC, or the one schwifty derives from its IBAN."""
    if bic is not None:
        return _compact_bic(bic, "municipality")
    derived = IBAN(iban).bic
    if derived is None:
        raise InvalidInput(
            f"municipality: no BIC given and none derivable from {iban}", code="invalid_bic"
        )
    return str(derived)


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp")


def _ledger_path(settlements_dir: Path, path: Path) -> str:
    """Path as kept in the ledger: relative to the data dir, e.g. "settlements/<batch>.xml"."""
    return f"{settlements_dir.name}/{path.name}"


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

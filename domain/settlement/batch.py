"""Settle a batch: pay shops in euros for redeemed HEIT by SEPA credit transfer (pain.001).

`settle` reads due redemptions from the SQL mirror (`indexer.mirror.Mirror`), writes one ISO
20022 pain.001 file (pain.001.001.09 by default, .03 on request; one credit transfer per shop,
structured addresses where known) plus a CSV summary into the
settlements folder, and records the batch in the settlement ledger (`store.ledger`, in the
service database). The ledger's PRIMARY KEY on the redemption id is what makes a redemption
never paid twice.

Amounts: redemptions are HEIT base units (`BaseUnits`, 1 HEIT = 100), payments euro cents
(`EuroCents`), converted once per shop per batch by `heitje.money.units_to_cents`.
"""

from __future__ import annotations

import hashlib
import operator
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from domain.settlement.due import due_redemptions
from domain.settlement.due import unix_seconds as unix_seconds
from domain.settlement.files import (
    BATCH_PREFIX,
    csv_summary,
    finish_interrupted,
    fsync_dir,
    temp_path,
    write_durably,
)
from domain.settlement.payees import HeldPayee, check_payees
from domain.settlement.remittance import end_to_end_id as end_to_end_id
from domain.settlement.remittance import period, remittance
from domain.settlement.sepa import (
    DEFAULT_PAIN_VERSION,
    Account,
    CreditTransfer,
    PostalAddress,
    build_pain001,
    compact_iban,
    debtor_bic,
    pain_message,
)
from heitje.datadir import DataDir
from heitje.errors import InvalidInput
from heitje.money import BaseUnits, EuroCents, parse_rate, units_to_cents
from indexer.mirror import Redemption
from store import db, ledger
from store.payees import ShopPayee


@dataclass(frozen=True)
class Municipality:
    """The debtor: `name`, `iban`, `bic` (None = derived from the IBAN with schwifty), the
    rate `eur_per_heitje`, a decimal string ("1.00", "0.50"), and its structured postal
    `address` (None: the file carries none)."""

    name: str
    iban: str
    bic: str | None
    eur_per_heitje: str
    address: PostalAddress | None = None


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
    total came to 0 cents at the rate (they stay due). `held`: shops whose payee cannot go into
    the file (their redemptions stay due; also in the ledger's `held_redemptions`)."""

    batch_id: str
    xml_path: Path
    csv_path: Path
    file_sha256: str
    total_cents: EuroCents
    through_block: int
    payments: tuple[ShopPayment, ...]
    deferred_ids: tuple[int, ...] = ()
    held: tuple[HeldPayee, ...] = ()
    pain_version: str = "pain.001.001.03"
    execution_date: date | None = None


Journal = Callable[[sqlite3.Connection, SettlementResult], None]
"""Called inside a batch's own transaction once its ledger rows are in (e.g. to append the
staff log entry of the run on the same connection): what it writes commits with the batch."""


def settle(
    data_dir: Path,
    *,
    municipality: Municipality,
    payees: Mapping[str, ShopPayee],
    through: datetime | None,
    through_block: int | None,
    execution_date: date,
    created_at: datetime,
    pain_version: str = DEFAULT_PAIN_VERSION,
    addresses: Mapping[str, PostalAddress] | None = None,
    journal: Journal | None = None,
) -> SettlementResult | None:
    """Pay every due redemption: one pain.001 file (`pain_version` "09", the default, or
    "03"), one credit transfer per shop, with the structured address of the municipality and of
    each shop found in `addresses` (by shop id).

    Due: in the mirror of `data_dir`, `block_timestamp <= through` (unix seconds, the exact
    second included) if `through` is given, `block_number <= through_block` if given (else <=
    the mirror's checkpoint block), and not in the ledger's settled redemptions.
    Per shop (looked up in `payees` by address, case-insensitive) one transfer of
    `units_to_cents(sum of its base units, municipality.eur_per_heitje)` euro cents, end-to-end id
    `<batch_id>-<nn>` (`end_to_end_id`), remittance text naming the programme ("Heitje" and the
    municipality), the period (months of the redemptions, in `created_at`'s offset) and the
    end-to-end id (`remittance`). `journal`, if given, runs inside the batch's transaction.
    Batch id `HEIT-<YYYYMMDD of created_at>-<nnnn>`. Writes
    `settlements/<batch_id>.xml` (XSD-validated) and `<batch_id>.csv`, and the ledger rows in
    one transaction; a re-run never pays a redemption twice. Returns None, writing nothing, when
    nothing is due. `through` and `created_at` must carry a UTC offset.

    One bad payee does not stop the batch: a due shop with no payee, or whose payee fails the
    SEPA creditor check (`sepa.check_creditor`: IBAN, BIC, name in the EPC set), is held: its
    redemptions stay unsettled, listed in `SettlementResult.held` and in the ledger's
    `held_redemptions` (`store.ledger.held_redemptions`), and everyone else is paid. When every
    due shop is held, no file is written, the holds are recorded and None is returned.

    Raises `MirrorBehind` if `through_block` is beyond the mirror's checkpoint, `InvalidInput`
    (`invalid_iban`, `invalid_bic`, `invalid_input`) for the municipality's account,
    `InvalidAmount` for a bad rate, `InvalidPain001`, `AlreadySettled`, `InvalidLedger`; in
    every case nothing is written.
    """
    _require_offset(created_at, "created_at")
    schema = pain_message(pain_version)  # raises InvalidInput
    if through is not None:
        _require_offset(through, "through")
    parse_rate(municipality.eur_per_heitje)  # raises InvalidAmount
    debtor_iban = compact_iban(municipality.iban, municipality.name)
    debtor = Account(
        municipality.name,
        debtor_iban,
        debtor_bic(debtor_iban, municipality.bic),
        municipality.address,
    )
    by_address = {address.lower(): payee for address, payee in payees.items()}
    paths = DataDir(data_dir)
    paths.settlements.mkdir(parents=True, exist_ok=True)

    temps: list[Path] = []
    conn = db.connect(paths.service_db)
    try:
        with db.transaction(conn):  # BEGIN IMMEDIATE: one settler at a time; readers go on
            result = _settle_locked(
                conn,
                paths,
                municipality.eur_per_heitje,
                debtor,
                by_address,
                through,
                through_block,
                execution_date,
                created_at,
                temps,
                _Options(schema, dict(addresses or {}), journal),
            )
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    if result is None:
        return None
    # Committed: the batch exists. A crash before these renames is finished by the next run.
    os.replace(temp_path(result.xml_path), result.xml_path)
    os.replace(temp_path(result.csv_path), result.csv_path)
    fsync_dir(paths.settlements)
    return result


@dataclass(frozen=True)
class _Options:
    schema: str
    addresses: dict[str, PostalAddress]
    journal: Journal | None


def _settle_locked(
    conn: sqlite3.Connection,
    paths: DataDir,
    rate: str,
    debtor: Account,
    by_address: dict[str, ShopPayee],
    through: datetime | None,
    through_block: int | None,
    execution_date: date,
    created_at: datetime,
    temps: list[Path],
    options: _Options,
) -> SettlementResult | None:
    """`settle` under the ledger's write lock: files written as temp files (listed in `temps`,
    for the caller to remove on failure) and the ledger rows inserted, not yet committed."""
    ledger.ensure_schema(conn)
    finish_interrupted(conn, paths.settlements)
    redemptions, cutoff_block = due_redemptions(paths.mirror_db, through, through_block)
    settled = ledger.settled_ids(conn)
    due = [r for r in redemptions if r.redemption_id not in settled] if settled else redemptions
    if not due:
        return None

    keys = _keys(due)
    per_shop = _per_shop(due, keys)
    creditors, held = check_payees(per_shop, by_address)
    for key in {h.shop.lower() for h in held}:
        del per_shop[key]
    amounts = {r.redemption_id: int(r.amount) for r in due} if held else {}
    ledger.record_holds(
        conn,
        [r.redemption_id for r in due],
        [
            ledger.HeldRedemption(
                rid, h.shop, h.shop_id, amounts[rid], h.code, h.reason, created_at.isoformat()
            )
            for h in held
            for rid in h.redemption_ids
        ],
    )

    batch_id = _next_batch_id(conn, paths.settlements, created_at.date())
    payments, deferred = _payments(batch_id, per_shop, by_address, rate)
    if not payments:
        return None
    xml = build_pain001(
        msg_id=batch_id,
        created_at=created_at,
        execution_date=execution_date,
        debtor=debtor,
        transfers=[
            CreditTransfer(
                end_to_end_id=p.end_to_end_id,
                creditor=_with_address(creditors[p.shop.lower()], options.addresses, p.shop_id),
                cents=p.cents,
                remittance=remittance(
                    debtor.name,
                    period(per_shop[p.shop.lower()], created_at),
                    p.end_to_end_id,
                    p.redemption_ids,
                ),
            )
            for p in payments
        ],
        version=options.schema,
    )
    xml_path = paths.settlements / f"{batch_id}.xml"
    csv_path = paths.settlements / f"{batch_id}.csv"
    xml_temp, csv_temp = temp_path(xml_path), temp_path(csv_path)
    temps.extend([xml_temp, csv_temp])
    write_durably(xml_temp, xml)
    write_durably(csv_temp, csv_summary(batch_id, payments))

    sha256 = hashlib.sha256(xml).hexdigest()
    total = EuroCents(sum(p.cents for p in payments))
    e2e = {p.shop.lower(): p.end_to_end_id for p in payments}
    ledger.record_batch(
        conn,
        ledger.LedgerBatch(
            batch_id=batch_id,
            created_at=created_at.isoformat(),
            through=through.isoformat() if through is not None else None,
            through_block=cutoff_block,
            execution_date=execution_date.isoformat(),
            file_path=xml_path.relative_to(paths.root).as_posix(),
            csv_path=csv_path.relative_to(paths.root).as_posix(),
            file_sha256=sha256,
            total_cents=total,
            payment_count=len(payments),
            eur_per_heitje=rate,
        ),
        # plain tuples in id order (`due` is): 100,000s of rows, appended to the ledger's keys
        [
            (r.redemption_id, batch_id, r.shop, r.amount, e2e[key])
            for r, key in zip(due, keys, strict=True)
            if key in e2e
        ],
    )
    result = SettlementResult(
        batch_id=batch_id,
        xml_path=xml_path,
        csv_path=csv_path,
        file_sha256=sha256,
        total_cents=total,
        through_block=cutoff_block,
        payments=tuple(payments),
        deferred_ids=deferred,
        held=tuple(held),
        pain_version=options.schema,
        execution_date=execution_date,
    )
    if options.journal is not None:
        options.journal(conn, result)
    return result


def _with_address(account: Account, addresses: dict[str, PostalAddress], shop_id: str) -> Account:
    address = addresses.get(shop_id)
    if address is None:
        return account
    return Account(account.name, account.iban, account.bic, address)


def _keys(redemptions: list[Redemption]) -> list[str]:
    """Each redemption's shop as a lower-case address (each distinct address lowered once)."""
    lower = {shop: shop.lower() for shop in {r.shop for r in redemptions}}
    return [lower[r.shop] for r in redemptions]


def _per_shop(due: list[Redemption], keys: list[str]) -> dict[str, list[Redemption]]:
    """Due redemptions by lower-case shop address (`keys`, one per redemption), each list in id
    order (as `due` is)."""
    per_shop: dict[str, list[Redemption]] = {key: [] for key in dict.fromkeys(keys)}
    for r, key in zip(due, keys, strict=True):
        per_shop[key].append(r)
    return per_shop


_AMOUNT = operator.attrgetter("amount")
_ID = operator.attrgetter("redemption_id")


def _payments(
    batch_id: str,
    per_shop: dict[str, list[Redemption]],
    by_address: dict[str, ShopPayee],
    rate: str,
) -> tuple[list[ShopPayment], tuple[int, ...]]:
    """One payment per shop (ordered by shop id, then address), amounts rounded once per shop."""
    keys = sorted(per_shop, key=lambda key: (by_address[key].shop_id, key))
    payable: list[tuple[str, int, EuroCents]] = []
    deferred: list[int] = []
    for key in keys:
        units = int(sum(map(_AMOUNT, per_shop[key])))
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
                iban=compact_iban(payee.iban.replace(" ", "").upper(), payee.shop_id),
                end_to_end_id=end_to_end_id(batch_id, n, width),
                units=BaseUnits(units),
                cents=cents,
                redemption_ids=tuple(sorted(map(_ID, per_shop[key]))),
            )
        )
    return payments, tuple(sorted(deferred))


def _next_batch_id(conn: sqlite3.Connection, settlements_dir: Path, day: date) -> str:
    """`HEIT-YYYYMMDD-nnnn`: one past the highest sequence of that day in the ledger, skipping
    names already taken by files in the folder (never overwrite a file)."""
    prefix = f"{BATCH_PREFIX}-{day.strftime('%Y%m%d')}-"
    seq = ledger.max_batch_sequence(conn, prefix) + 1
    while any((settlements_dir / f"{prefix}{seq:04d}{ext}").exists() for ext in (".xml", ".csv")):
        seq += 1
    return f"{prefix}{seq:04d}"


def _require_offset(moment: datetime, name: str) -> None:
    if moment.utcoffset() is None:
        raise InvalidInput(f"{name} must carry a UTC offset, got {moment.isoformat()}")

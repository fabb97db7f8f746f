"""The finance officer's settlement run: payees from the service database, `settle`, then every
batch anchored on chain with the settler key (`recordSettlementPart`).

Shop IBANs are personal/business data kept off chain in the service database (`store.payees`);
the chain learns only which redemptions a batch paid, its euro total and its file's sha256.

Order of a run with anchoring: the service database, the manifest (`deployment.json`), the
settler key and the chain (reachable, the manifest's chain id, contract code at the token
address) are checked first (`check_chain`); only then is anything written. A batch written but
not recorded on chain raises `AnchorFailed`, naming its file; `anchor_settlements` (the `heitje
anchor` command) records it later.

Anchoring at any size (ranges of ids, parts as the block gas limit needs, resumable) is
`domain.settlement.anchor`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

from domain.settlement.anchor import (
    AnchorFailed,
    ChainCheckFailed,
    anchor_settlements,
    check_chain,
    id_ranges,
    plan_parts,
)
from domain.settlement.batch import Journal, Municipality, settle
from domain.settlement.sepa import DEFAULT_PAIN_VERSION, PostalAddress, postal_address
from domain.settlement.target2 import target2_day_on_or_after
from heitje.datadir import DataDir
from heitje.errors import NotFound
from heitje.money import format_eur, format_heit
from store import db, ledger
from store.ledger import AnchorBatch
from store.payees import ShopPayee, load_payees

__all__ = [
    "AnchorFailed",
    "ChainCheckFailed",
    "anchor_settlements",
    "check_chain",
    "held_payees",
    "id_ranges",
    "ledger_batches",
    "plan_parts",
    "run_settlement",
]


def run_settlement(
    data_dir: Path,
    *,
    through: datetime | None,
    through_block: int | None,
    name: str,
    iban: str,
    bic: str | None,
    eur_per_heitje: str,
    now: datetime,
    rpc_url: str | None = None,
    pain_version: str = DEFAULT_PAIN_VERSION,
    address: PostalAddress | None = None,
    journal: Journal | None = None,
) -> dict[str, Any] | None:
    """Settle what is due (see `domain.settlement.settle`; debtor `name`, `iban`, `bic` and
    structured `address`, rate `eur_per_heitje`, a `pain_version` "09" (default) or "03" file,
    created at `now`, executed on `now`'s date or, when TARGET2 is closed then, its next
    business day; each shop's structured address from its sign-up; `journal` inside the batch's
    transaction) and, with `rpc_url`, record every batch of the ledger that the chain does not
    know yet (`anchor_settlements`, settler key).

    Returns the new batch as a JSON-ready dict with paths relative to `data_dir` (with
    `anchored`: the batch ids recorded on chain in this run, and `held`: `held_payees`, every
    shop whose redemptions are held for its payee), `{"batch_id": None, "anchored": [...],
    "held": [...]}` when no batch was written but something was anchored or is held, or None
    when nothing was due, held or anchored.

    Before writing anything: `NotFound` (code `database_not_found`) when the service database
    does not exist; with `rpc_url`, `ChainCheckFailed` (`check_chain`) naming the RPC URL. After
    the batch is written: `AnchorFailed` (with the result) when recording on chain fails.
    """
    payees, addresses = _payees(DataDir(data_dir).service_db)
    if rpc_url:
        check_chain(data_dir, rpc_url)
    result = settle(
        data_dir,
        municipality=Municipality(
            name=name, iban=iban, bic=bic, eur_per_heitje=eur_per_heitje, address=address
        ),
        payees=payees,
        through=through,
        through_block=through_block,
        execution_date=target2_day_on_or_after(now.date()),
        created_at=now,
        pain_version=pain_version,
        addresses=addresses,
        journal=journal,
    )
    held = held_payees(data_dir)
    out: dict[str, Any] | None
    if result is None:
        out = {"batch_id": None, "anchored": [], "held": held} if held else None
    else:
        out = asdict(result)
        out["anchored"] = []
        for key, value in list(out.items()):
            if isinstance(value, Path):
                out[key] = str(
                    value.relative_to(data_dir) if value.is_relative_to(data_dir) else value
                )
            elif isinstance(value, date):
                out[key] = value.isoformat()
        out["total_eur"] = format_eur(result.total_cents)
        out["held"] = held
    if rpc_url:
        try:
            anchored = anchor_settlements(data_dir, rpc_url)
        except AnchorFailed as e:
            raise AnchorFailed(out, e.files, e.rpc_url, e.reason) from None
        if anchored and out is None:
            out = {"batch_id": None, "anchored": anchored, "held": held}
        elif out is not None:
            out["anchored"] = anchored
    return out


def _payees(service_db: Path) -> tuple[dict[str, ShopPayee], dict[str, PostalAddress]]:
    """Payees by address, and the structured addresses of shops (by shop id) that gave one."""
    if not service_db.is_file():
        raise NotFound(f"no service database at {service_db}", code="database_not_found")
    conn = db.connect(service_db)
    try:
        payees = load_payees(conn)
        addresses = {}
        for shop_id, parts in ledger.shop_addresses(conn).items():
            street, number, postcode, town = parts
            address = postal_address(street, number, postcode, town)
            if address is not None:
                addresses[shop_id] = address
        return payees, addresses
    finally:
        conn.close()


def held_payees(data_dir: Path) -> list[dict[str, Any]]:
    """Shops whose due redemptions are held for their payee (the ledger's `held_redemptions`),
    JSON-ready, by shop id: `shop` (address), `shop_id`, `code`, `reason`, `redemption_ids`,
    `heit` (the held HEIT, "12.50")."""
    service_db = DataDir(data_dir).service_db
    if not service_db.is_file():
        return []
    with ledger.open_read_only(service_db) as conn:
        rows = ledger.held_redemptions(conn)
    per_shop: dict[str, dict[str, Any]] = {}
    for row in rows:
        shop = per_shop.setdefault(
            row.shop.lower(),
            {
                "shop": row.shop,
                "shop_id": row.shop_id,
                "code": row.code,
                "reason": row.reason,
                "redemption_ids": [],
                "units": 0,
            },
        )
        shop["redemption_ids"].append(row.redemption_id)
        shop["units"] += row.amount
    out = []
    for shop in sorted(per_shop.values(), key=lambda s: (s["shop_id"] or "", s["shop"].lower())):
        shop["heit"] = format_heit(shop.pop("units"))
        out.append(shop)
    return out


def ledger_batches(data_dir: Path) -> list[AnchorBatch]:
    """Every settlement batch in the ledger of `data_dir` as the chain records it (batch id,
    file sha256 hex, total cents, redemption ids ascending). Empty when there is no service
    database or ledger yet."""
    service_db = DataDir(data_dir).service_db
    if not service_db.is_file():
        return []
    with ledger.open_read_only(service_db) as conn:
        return ledger.anchor_batches(conn)

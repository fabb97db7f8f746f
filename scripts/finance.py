"""The finance officer's settlement run: payees from the service database, then `settle`.

Shop IBANs are personal/business data kept off chain in the service database (`users` joined
with `shops`); this module reads them (read-only) and hands them to `scripts.settle.settle`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from heitje.errors import NotFound
from heitje.money import format_eur
from scripts.settle import Municipality, ShopPayee, settle


def load_payees(service_db: Path) -> dict[str, ShopPayee]:
    """Every shop with a wallet: address -> ShopPayee(address, shop_id, name, iban, bic).

    Raises `NotFound` (code `database_not_found`) when `service_db` does not exist.
    """
    if not service_db.is_file():
        raise NotFound(f"no service database at {service_db}", code="database_not_found")
    conn = sqlite3.connect(f"file:{service_db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT u.address, u.username, u.name, s.iban, s.bic FROM users u "
            "JOIN shops s ON s.user_id = u.id WHERE u.address IS NOT NULL"
        ).fetchall()
    finally:
        conn.close()
    return {a: ShopPayee(address=a, shop_id=u, name=n, iban=i, bic=b) for a, u, n, i, b in rows}


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
) -> dict[str, Any] | None:
    """Settle what is due (see `scripts.settle.settle`); returns the batch as a JSON-ready dict
    with paths relative to `data_dir`, or None when nothing is due."""
    result = settle(
        mirror_db=data_dir / "mirror.sqlite",
        ledger_db=data_dir / "service.sqlite",
        settlements_dir=data_dir / "settlements",
        municipality=Municipality(name=name, iban=iban, bic=bic, eur_per_heitje=eur_per_heitje),
        payees=load_payees(data_dir / "service.sqlite"),
        through=through,
        through_block=through_block,
        execution_date=now.date(),
        created_at=now,
    )
    if result is None:
        return None
    out = asdict(result)
    for key, value in list(out.items()):
        if isinstance(value, Path):
            out[key] = str(value.relative_to(data_dir) if value.is_relative_to(data_dir) else value)
    out["total_eur"] = format_eur(result.total_cents)
    return out

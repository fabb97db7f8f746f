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
from node.keys import service_key
from node.manifest import Manifest
from node.signer import Signer
from node.token import Token, batch_id_bytes, connect
from scripts.settle import Municipality, ShopPayee, settle


def load_payees(service_db: Path) -> dict[str, ShopPayee]:
    """Every address any shop has had (key rotations included): address -> ShopPayee(address,
    shop_id, name, iban, bic).

    Raises `NotFound` (code `database_not_found`) when `service_db` does not exist.
    """
    if not service_db.is_file():
        raise NotFound(f"no service database at {service_db}", code="database_not_found")
    conn = sqlite3.connect(f"file:{service_db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT a.address, u.username, u.name, s.iban, s.bic FROM account_addresses a "
            "JOIN users u ON u.id = a.user_id JOIN shops s ON s.user_id = u.id"
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
    rpc_url: str | None = None,
) -> dict[str, Any] | None:
    """Settle what is due (see `scripts.settle.settle`) and, with `rpc_url`, record every batch
    of the ledger that the chain does not know yet (`anchor_settlements`, settler key).

    Returns the new batch as a JSON-ready dict with paths relative to `data_dir` (with
    `anchored`: the batch ids recorded on chain in this run), or None when nothing was due and
    nothing needed anchoring. Raises `ChainError` when the chain refuses a record (e.g. `paused`):
    the file and ledger stand, and the next run records the batch.
    """
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
    anchored = anchor_settlements(data_dir, rpc_url) if rpc_url else []
    if result is None:
        return {"batch_id": None, "anchored": anchored} if anchored else None
    out = asdict(result)
    out["anchored"] = anchored
    for key, value in list(out.items()):
        if isinstance(value, Path):
            out[key] = str(value.relative_to(data_dir) if value.is_relative_to(data_dir) else value)
    out["total_eur"] = format_eur(result.total_cents)
    return out


def ledger_batches(service_db: Path) -> list[tuple[str, str, int, list[int]]]:
    """Every settlement batch in the ledger: (batch id, file sha256 hex, total cents,
    redemption ids ascending). Empty when there is no service database or ledger yet."""
    if not service_db.is_file():
        return []
    conn = sqlite3.connect(f"file:{service_db}?mode=ro", uri=True)
    try:
        batches = conn.execute(
            "SELECT batch_id, file_sha256, total_cents FROM settlement_batches ORDER BY batch_id"
        ).fetchall()
        out = []
        for batch_id, sha, cents in batches:
            ids = [
                r
                for (r,) in conn.execute(
                    "SELECT redemption_id FROM settled_redemptions WHERE batch_id = ? "
                    "ORDER BY redemption_id",
                    (batch_id,),
                )
            ]
            out.append((str(batch_id), str(sha), int(cents), ids))
        return out
    except sqlite3.OperationalError:  # no ledger yet
        return []
    finally:
        conn.close()


def anchor_settlements(data_dir: Path, rpc_url: str) -> list[str]:
    """Record on chain (`recordSettlement`, settler key) every ledger batch the chain does not
    know yet: batch id, its redemption ids, total euro cents, sha256 of the pain.001 file.
    Returns the batch ids recorded now. Raises `ChainError` when the contract refuses."""
    w3 = connect(rpc_url)
    token = Token(w3, Manifest.load(data_dir / "deployment.json").token)
    settler = Signer(w3, service_key(data_dir / "keys", "settler"), data_dir / "nonces.sqlite")
    done = []
    for batch_id, sha, cents, ids in ledger_batches(data_dir / "service.sqlite"):
        key = batch_id_bytes(batch_id)
        if token.settlement(key).recorded_at != 0:
            continue
        settler.transact(token.record_settlement_tx(key, ids, cents, bytes.fromhex(sha)))
        done.append(batch_id)
    return done

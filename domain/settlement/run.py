"""The finance officer's settlement run: payees from the service database, `settle`, then every
batch anchored on chain with the settler key (`recordSettlement`).

Shop IBANs are personal/business data kept off chain in the service database (`store.payees`);
the chain learns only which redemptions a batch paid, its euro total and its file's sha256.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.settlement.batch import Municipality, settle
from heitje.datadir import DataDir
from heitje.errors import NotFound
from heitje.money import format_eur
from node.keys import load_key
from node.manifest import Manifest
from node.signer import Signer
from node.token import Token, batch_id_bytes, connect
from store import db, ledger
from store.ledger import AnchorBatch
from store.payees import ShopPayee, load_payees


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
    """Settle what is due (see `domain.settlement.settle`; debtor `name`, `iban`, `bic`, rate
    `eur_per_heitje`, created at `now`, executed on its date) and, with `rpc_url`, record every
    batch of the ledger that the chain does not know yet (`anchor_settlements`, settler key).

    Returns the new batch as a JSON-ready dict with paths relative to `data_dir` (with
    `anchored`: the batch ids recorded on chain in this run), or None when nothing was due and
    nothing needed anchoring. Raises `NotFound` (code `database_not_found`) when the service
    database does not exist, and `ChainError` when the chain refuses a record (e.g. `paused`):
    the file and ledger stand, and the next run records the batch.
    """
    result = settle(
        data_dir,
        municipality=Municipality(name=name, iban=iban, bic=bic, eur_per_heitje=eur_per_heitje),
        payees=_payees(DataDir(data_dir).service_db),
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


def _payees(service_db: Path) -> dict[str, ShopPayee]:
    if not service_db.is_file():
        raise NotFound(f"no service database at {service_db}", code="database_not_found")
    conn = db.connect(service_db)
    try:
        return load_payees(conn)
    finally:
        conn.close()


def ledger_batches(data_dir: Path) -> list[AnchorBatch]:
    """Every settlement batch in the ledger of `data_dir` as the chain records it (batch id,
    file sha256 hex, total cents, redemption ids ascending). Empty when there is no service
    database or ledger yet."""
    service_db = DataDir(data_dir).service_db
    if not service_db.is_file():
        return []
    with ledger.open_read_only(service_db) as conn:
        return ledger.anchor_batches(conn)


def anchor_settlements(data_dir: Path, rpc_url: str) -> list[str]:
    """Record on chain (`recordSettlement`, settler key) every ledger batch the chain does not
    know yet: batch id, its redemption ids, total euro cents, sha256 of the pain.001 file.
    Returns the batch ids recorded now. Raises `ChainError` when the contract refuses."""
    paths = DataDir(data_dir)
    w3 = connect(rpc_url)
    token = Token(w3, Manifest.load(paths.manifest).token)
    settler = Signer(w3, load_key(paths.key("settler")), paths.nonce_journal)
    done = []
    for batch in ledger_batches(data_dir):
        key = batch_id_bytes(batch.batch_id)
        if token.settlement(key).recorded_at != 0:
            continue
        settler.transact(
            token.record_settlement_tx(
                key, batch.redemption_ids, batch.total_cents, bytes.fromhex(batch.file_sha256)
            )
        )
        done.append(batch.batch_id)
    return done

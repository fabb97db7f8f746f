"""The finance officer's settlement run: payees from the service database, `settle`, then every
batch anchored on chain with the settler key (`recordSettlement`).

Shop IBANs are personal/business data kept off chain in the service database (`store.payees`);
the chain learns only which redemptions a batch paid, its euro total and its file's sha256.

Order of a run with anchoring: the service database, the manifest (`deployment.json`), the
settler key and the chain (reachable, the manifest's chain id, contract code at the token
address) are checked first (`check_chain`); only then is anything written. A batch written but
not recorded on chain raises `AnchorFailed`, naming its file; `anchor_settlements` (the `heitje
anchor` command) records it later.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from web3 import Web3

from domain.settlement.batch import Municipality, settle
from heitje.datadir import DataDir
from heitje.errors import ChainError, HeitjeError, NotFound
from heitje.money import format_eur, format_heit
from node.keys import load_key
from node.manifest import Manifest
from node.signer import Signer
from node.token import Token, batch_id_bytes, connect
from store import db, ledger
from store.ledger import AnchorBatch
from store.payees import ShopPayee, load_payees


class ChainCheckFailed(HeitjeError):
    """The chain a run would anchor on is not fit, checked before anything is written:
    `chain_unreachable`, `wrong_chain`, `no_contract`, or the manifest's and key's own codes
    (`no_deployment`, `invalid_deployment`, `missing_key`, ...). The message names the RPC URL."""

    code = "chain_unreachable"


class AnchorFailed(HeitjeError):
    """Batches are written (files and ledger) but not recorded on chain. `result`: the run's
    JSON-ready result (None for `heitje anchor`); `files`: the pain.001 files (relative to the
    data dir) of the batches not recorded; `rpc_url`; `reason`: the chain's or connection's
    error. `anchor_settlements` records them later."""

    code = "anchor_failed"

    def __init__(
        self, result: dict[str, Any] | None, files: list[str], rpc_url: str, reason: str
    ) -> None:
        super().__init__(
            f"{', '.join(files)} written but not recorded on the chain at {rpc_url}: {reason}"
        )
        self.result = result
        self.files = files
        self.rpc_url = rpc_url
        self.reason = reason


def check_chain(data_dir: Path, rpc_url: str) -> tuple[Web3, Manifest]:
    """Before a run writes anything: the manifest of `data_dir` loads, the settler key is there,
    the node at `rpc_url` answers with the manifest's chain id and has contract code at the
    token address. Returns the connection and the manifest. Raises `ChainCheckFailed` naming
    `rpc_url` (codes in its docstring)."""
    paths = DataDir(data_dir)
    where = f"the chain at {rpc_url}"
    try:
        manifest = Manifest.load(paths.manifest)
        load_key(paths.key("settler"))
    except HeitjeError as e:
        raise ChainCheckFailed(f"cannot anchor on {where}: {e.message}", code=e.code) from None
    w3 = connect(rpc_url, timeout=10.0)
    try:
        chain_id = int(w3.eth.chain_id)
        code = bytes(w3.eth.get_code(manifest.token))
    except Exception as e:  # requests', web3's, timeouts, a malformed URL: the node is not there
        raise ChainCheckFailed(
            f"cannot reach {where}: {type(e).__name__}", code="chain_unreachable"
        ) from None
    if chain_id != manifest.chain_id:
        raise ChainCheckFailed(
            f"{where} has chain id {chain_id}, {paths.manifest} says {manifest.chain_id}",
            code="wrong_chain",
        )
    if not code:
        raise ChainCheckFailed(
            f"{where} has no contract at {manifest.token} (token of {paths.manifest})",
            code="no_contract",
        )
    return w3, manifest


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
    `anchored`: the batch ids recorded on chain in this run, and `held`: `held_payees`, every
    shop whose redemptions are held for its payee), `{"batch_id": None, "anchored": [...],
    "held": [...]}` when no batch was written but something was anchored or is held, or None
    when nothing was due, held or anchored.

    Before writing anything: `NotFound` (code `database_not_found`) when the service database
    does not exist; with `rpc_url`, `ChainCheckFailed` (`check_chain`) naming the RPC URL. After
    the batch is written: `AnchorFailed` (with the result) when recording on chain fails.
    """
    payees = _payees(DataDir(data_dir).service_db)
    if rpc_url:
        check_chain(data_dir, rpc_url)
    result = settle(
        data_dir,
        municipality=Municipality(name=name, iban=iban, bic=bic, eur_per_heitje=eur_per_heitje),
        payees=payees,
        through=through,
        through_block=through_block,
        execution_date=now.date(),
        created_at=now,
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


def _payees(service_db: Path) -> dict[str, ShopPayee]:
    if not service_db.is_file():
        raise NotFound(f"no service database at {service_db}", code="database_not_found")
    conn = db.connect(service_db)
    try:
        return load_payees(conn)
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


def _batch_files(data_dir: Path) -> dict[str, str]:
    service_db = DataDir(data_dir).service_db
    if not service_db.is_file():
        return {}
    with ledger.open_read_only(service_db) as conn:
        if not ledger.has_ledger(conn):
            return {}
        return {b.batch_id: b.file_path for b in ledger.batches(conn)}


def anchor_settlements(data_dir: Path, rpc_url: str) -> list[str]:
    """Record on chain (`recordSettlement`, settler key) every ledger batch the chain does not
    know yet: batch id, its redemption ids, total euro cents, sha256 of the pain.001 file.
    Returns the batch ids recorded now (in batch id order).

    Checks the chain first (`check_chain`: `ChainCheckFailed` naming `rpc_url`). Raises
    `AnchorFailed` (files of the batches still not recorded, the reason) when the contract
    refuses a record (e.g. `paused`) or the chain stops answering; a later call records them.
    """
    w3, manifest = check_chain(data_dir, rpc_url)
    paths = DataDir(data_dir)
    token = Token(w3, manifest.token)
    settler = Signer(w3, load_key(paths.key("settler")), paths.nonce_journal)
    batches = ledger_batches(data_dir)
    done: list[str] = []
    for n, batch in enumerate(batches):
        key = batch_id_bytes(batch.batch_id)
        try:
            if token.settlement(key).recorded_at != 0:
                continue
            settler.transact(
                token.record_settlement_tx(
                    key, batch.redemption_ids, batch.total_cents, bytes.fromhex(batch.file_sha256)
                )
            )
        except Exception as e:  # the contract's refusal, a node gone, a timeout: retry later
            files = _batch_files(data_dir)
            left = [b for b in batches[n:] if b is batch or not _recorded(token, b)]
            reason = f"{e.code}: {e.message}" if isinstance(e, ChainError) else type(e).__name__
            names = [files.get(b.batch_id, b.batch_id) for b in left]
            raise AnchorFailed(None, names, rpc_url, reason) from e
        done.append(batch.batch_id)
    return done


def _recorded(token: Token, batch: AnchorBatch) -> bool:
    """True when the chain says `batch` is recorded; False when it says not or cannot say."""
    try:
        return token.settlement(batch_id_bytes(batch.batch_id)).recorded_at != 0
    except Exception:
        return False

"""Reconciliation: chain == SQL mirror == settlement files, or a list of differences.

Compared at the mirror's checkpoint block (historical `eth_call`s), so a running indexer that is
a few blocks behind is not a difference:
- total supply on chain == total in the mirror == totalMinted - totalRedeemed;
- every holder's balance (every address the mirror or the chain registry knows) equal;
- every redemption id 1..redemptionCount: same shop and amount in the mirror;
- the settlement ledger and pain.001 files agree with the mirror: each redemption settled at
  most once, each settled amount equal to what was burned
  (`domain.settlement.reconcile_settlements`);
- every ledger batch is recorded and closed on chain (`recordSettlementPart`) with the same
  redemption ids (the ranges of its `SettlementPartRecorded` events, tied to the chain's state
  by `settlementOf` at each range's ends), burned total, euro cents and file sha256, and the
  chain records no batch the ledger lacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from domain.settlement import ledger_batches, reconcile_settlements
from domain.settlement.anchor import id_ranges
from heitje.datadir import DataDir
from heitje.errors import HeitjeError
from heitje.money import format_eur, format_heit
from indexer.mirror import Mirror, Redemption
from node.manifest import Manifest
from node.token import Token, batch_id_bytes, connect
from store import ledger


@dataclass
class AuditReport:
    """Figures at `block` and the differences found (empty: everything agrees)."""

    block: int
    total_supply: int
    minted: int
    redeemed: int
    holders: int
    redemptions: int
    settled_cents: int
    differences: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (HEIT and EUR as decimal strings)."""
        return {
            "block": self.block,
            "total_supply": format_heit(self.total_supply),
            "minted": format_heit(self.minted),
            "redeemed": format_heit(self.redeemed),
            "holders_checked": self.holders,
            "redemptions_checked": self.redemptions,
            "settled_eur": format_eur(self.settled_cents),
            "reconciled": not self.differences,
            "differences": self.differences,
        }


def _settled_cents(service_db: Path) -> int:
    """Euro cents the ledger has paid; 0 without a service database or ledger."""
    if not service_db.exists():
        return 0
    with ledger.open_read_only(service_db) as conn:
        return ledger.settled_cents(conn)


def _chain_ranges(
    token: Token, deploy_block: int, block: int
) -> dict[bytes, list[tuple[int, int]]]:
    """Every batch's recorded id ranges, from its parts' events up to `block`, adjacent ranges
    merged (a part may cut a range in two)."""
    out: dict[bytes, list[tuple[int, int]]] = {}
    for part in token.settlement_parts(deploy_block, block):
        ranges = out.setdefault(part.batch_id, [])
        for first, last in part.ranges:
            if ranges and ranges[-1][1] + 1 == first:
                ranges[-1] = (ranges[-1][0], last)
            else:
                ranges.append((first, last))
    return out


def _ids_differ(batch_id: str, ledger_ids: list[int], chain: list[tuple[int, int]]) -> list[str]:
    """The ids a batch holds in the ledger but not on chain and the other way round (a few)."""
    on_chain = {rid for first, last in chain for rid in range(first, last + 1)}
    in_ledger = set(ledger_ids)
    diffs = [
        f"redemption {rid} is in {batch_id} in the ledger, not on chain"
        for rid in sorted(in_ledger - on_chain)[:10]
    ]
    diffs += [
        f"redemption {rid} is in {batch_id} on chain, not in the ledger"
        for rid in sorted(on_chain - in_ledger)[:10]
    ]
    return diffs


def _anchor_diffs(
    token: Token, deploy_block: int, block: int, data_dir: Path, mirrored: dict[int, Redemption]
) -> list[str]:
    """Ledger batches against their on-chain records (recordSettlementPart), both ways."""
    diffs: list[str] = []
    chain_ranges = _chain_ranges(token, deploy_block, block)
    known = set()
    for batch in ledger_batches(data_dir):
        batch_id, ids = batch.batch_id, batch.redemption_ids
        key = batch_id_bytes(batch_id)
        known.add(key)
        rec = token.settlement(key, block)
        if rec.recorded_at == 0:
            diffs.append(f"settlement {batch_id} is not recorded on chain")
            continue
        if not rec.closed:
            diffs.append(
                f"settlement {batch_id} is recorded on chain only in part ({rec.redemptions} of"
                f" {len(ids)} redemptions): `heitje anchor` records the rest"
            )
        if rec.file_hash.hex() != batch.file_sha256:
            diffs.append(
                f"settlement {batch_id}: file sha256 {batch.file_sha256},"
                f" chain {rec.file_hash.hex()}"
            )
        if rec.total_cents != batch.total_cents:
            diffs.append(
                f"settlement {batch_id}: {format_eur(batch.total_cents)} EUR in the ledger, "
                f"{format_eur(rec.total_cents)} EUR on chain"
            )
        units = sum(mirrored[i].amount for i in ids if i in mirrored)
        if rec.closed and (rec.redemptions != len(ids) or rec.total_units != units):
            diffs.append(
                f"settlement {batch_id}: {len(ids)} redemptions of "
                f"{format_heit(units)} HEIT in the ledger, {rec.redemptions} of "
                f"{format_heit(rec.total_units)} HEIT on chain"
            )
        ranges = chain_ranges.get(key, [])
        if rec.closed and ranges != id_ranges(ids):
            diffs += _ids_differ(batch_id, ids, ranges)
        for first, last in ranges:  # the events against the contract's state
            for rid in {first, last}:
                if token.settlement_of(rid, block) != key:
                    diffs.append(
                        f"redemption {rid} is in {batch_id} by the chain's events, not by"
                        " settlementOf"
                    )
    for batch_key in chain_ranges:
        if batch_key not in known:
            name = batch_key.rstrip(b"\x00").decode("ascii", "replace")
            diffs.append(f"settlement {name} is recorded on chain but not in the ledger")
    return diffs


def audit(data_dir: Path, rpc_url: str) -> AuditReport:
    """Reconcile the deployment in `data_dir` against the chain at `rpc_url`.

    Raises `ConfigError` (`no_deployment`) and `mirror_empty` when the mirror holds
    nothing yet.
    """
    paths = DataDir(data_dir)
    manifest = Manifest.load(paths.manifest)
    w3 = connect(rpc_url)
    token = Token(w3, manifest.token)
    diffs: list[str] = []
    with Mirror(paths.mirror_db) as mirror:
        cp = mirror.checkpoint()
        if cp is None:
            raise HeitjeError("the mirror has indexed nothing yet", code="mirror_empty")
        block = cp.block_number
        chain_hash = "0x" + bytes(w3.eth.get_block(block)["hash"]).hex()
        if chain_hash != cp.block_hash:
            diffs.append(
                f"mirror checkpoint block {block} is {cp.block_hash}, chain has {chain_hash}"
            )
        supply = token.total_supply(block)
        minted, redeemed = token.total_minted(block), token.total_redeemed(block)
        if supply != minted - redeemed:
            diffs.append(
                f"chain: supply {format_heit(supply)} != minted {format_heit(minted)}"
                f" - redeemed {format_heit(redeemed)}"
            )
        m_supply = mirror.total_supply()
        if m_supply != supply:
            diffs.append(
                f"total supply: chain {format_heit(supply)}, mirror {format_heit(m_supply)}"
            )
        balances = mirror.balances()
        holders = set(balances) | set(mirror.accounts())
        for address in sorted(holders):
            on_chain = token.balance_of(address, block)
            in_mirror = balances.get(address, 0)
            if on_chain != in_mirror:
                diffs.append(
                    f"balance of {address}: chain {format_heit(on_chain)}, mirror "
                    f"{format_heit(in_mirror)}"
                )
        count = token.redemption_count(block)
        mirrored = {r.redemption_id: r for r in mirror.redemptions()}
        for rid in range(1, count + 1):
            shop, _, amount = token.redemption(rid, block)
            r = mirrored.get(rid)
            if r is None:
                diffs.append(f"redemption {rid} is on chain but not in the mirror")
            elif r.shop != shop or r.amount != amount:
                diffs.append(
                    f"redemption {rid}: chain {shop} {format_heit(int(amount))}, "
                    f"mirror {r.shop} {format_heit(r.amount)}"
                )
        for rid in sorted(set(mirrored) - set(range(1, count + 1))):
            diffs.append(f"redemption {rid} is in the mirror but not on chain")
        diffs += _anchor_diffs(token, manifest.deploy_block, block, data_dir, mirrored)
    diffs += reconcile_settlements(data_dir)
    return AuditReport(
        block=block,
        total_supply=supply,
        minted=minted,
        redeemed=redeemed,
        holders=len(holders),
        redemptions=count,
        settled_cents=_settled_cents(paths.service_db),
        differences=diffs,
    )

"""Settlement at scale: `heitje settle` of N redemptions with anchoring, on anvil.

For each N (1,000 and 10,000; 100,000 with `--large`): a fresh anvil, the token deployed as
`heitje deploy` does, and N real redemptions made by `SHOPS` shops. The shops are
`BulkRedeemer` contracts (`contracts/test/utils/BulkRedeemer.sol`, a test helper: a registered
shop that redeems many times in one transaction), so 100,000 redemptions take a few hundred
transactions instead of 100,000; every redemption is a real `redeem` with its events. The
indexer (`Indexer.sync_once`) mirrors them. All of this is set-up, untimed.

Timed after one untimed warm-up of each, interleaved, `--runs` times (default 3; medians):
- file building: `domain.settlement.settle` (what `heitje settle` does before anchoring: due
  redemptions from the mirror, one pain.001 file and CSV, the ledger rows) from a fresh ledger;
- its baseline: the mirror's redemption query (`Mirror.redemptions`, SQL), grouped per shop in
  a dict, and a sepaxml `SepaTransfer` of one payment per shop, exported (validated by sepaxml
  against its XSD), written to a file.

Then, once, the anchoring of the last batch: `anchor_settlements` (what `heitje settle` and
`heitje anchor` run), printed as parts (transactions), gas per redemption (the parts'
receipts' gasUsed over N) and seconds. `--gas-limit G` lowers anvil's block gas limit first
(`evm_setBlockGasLimit`) to show a batch split into more parts.

    .venv/bin/python bench/settle_scale.py [--sizes 1000 10000] [--large] [--runs 3]
        [--gas-limit G]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from _common import REPO, figure, footer, header, log, median, note
from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint

from domain.settlement import Municipality, ShopPayee, anchor_settlements, settle
from heitje.datadir import DataDir
from indexer.index import Indexer
from indexer.mirror import Mirror
from node.anvil import Anvil
from node.contract import AccountKind
from node.keys import service_key
from node.manifest import Manifest
from node.signer import Signer
from node.token import Token, batch_id_bytes, connect
from scripts.deploy import deploy, ensure_dev_keys

SHOPS = 10
PER_TX = 400  # redemptions per BulkRedeemer transaction (about 20M gas)
IBAN = "NL90BUNQ8332073502"
MUNICIPALITY = Municipality("Gemeente Heerlen", "NL83BUNQ6678282507", "BUNQNL2A", "1.00")
ARTIFACT = REPO / "contracts" / "out" / "BulkRedeemer.sol" / "BulkRedeemer.json"


def send(w3: Web3, account: Any, tx: dict[str, Any]) -> Any:
    """Sign `tx` with `account`, send it and wait for its receipt (the bench's own shop and
    citizen transactions: plain, not journaled)."""
    tx = {**tx, "from": account.address}
    # Full blocks raise the base fee 12.5% each (EIP-1559): keep it at 1 gwei for the set-up.
    w3.provider.make_request(RPCEndpoint("anvil_setNextBlockBaseFeePerGas"), [hex(10**9)])
    full = {
        **tx,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "gas": tx.get("gas") or int(w3.eth.estimate_gas(tx)) * 12 // 10,  # type: ignore[arg-type]
        "gasPrice": int(w3.eth.gas_price),
        "chainId": int(w3.eth.chain_id),
    }
    signed = account.sign_transaction(full)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=600
    )
    assert receipt["status"] == 1, receipt
    return receipt


def make_redemptions(w3: Web3, data_dir: Path, manifest: Manifest, n: int) -> list[str]:
    """N redemptions on chain by SHOPS BulkRedeemer shops, in chunks of PER_TX taking turns;
    returns the shops' addresses."""
    keys = DataDir(data_dir).keys
    journal = DataDir(data_dir).nonce_journal
    token = Token(w3, manifest.token)
    admin, minter, registrar = (
        Signer(w3, service_key(keys, role), journal) for role in ("admin", "minter", "registrar")
    )
    citizen = Account.create()
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [citizen.address, hex(10**20)])
    art = json.loads(ARTIFACT.read_text())
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"]["object"])
    shops = []
    for _ in range(SHOPS):
        data = factory.constructor(manifest.token).build_transaction(
            {"from": citizen.address, "gas": 1_000_000, "gasPrice": 0, "nonce": 0}
        )["data"]
        receipt = send(w3, citizen, {"data": data, "gas": 1_000_000})
        shops.append(str(receipt["contractAddress"]))
    admin.transact(token.open_reward_period_tx(0, 10**30, 10**30))
    registrar.transact(token.register_account_tx(citizen.address, AccountKind.CITIZEN))
    registrar.transact(token.register_accounts_tx(shops, AccountKind.SHOP))
    chunk = min(PER_TX, -(-n // SHOPS))  # so that every shop takes its turns
    per_shop = 5 * (-(-n // SHOPS) + chunk)  # at most 5 units a redemption
    minter.transact(
        token.mint_reward_tx(citizen.address, SHOPS * per_shop, Web3.keccak(text="bench task"))
    )
    for shop in shops:
        send(w3, citizen, dict(token._tx(token.contract.functions.transfer(shop, per_shop))))
    bulk = [w3.eth.contract(address=Web3.to_checksum_address(s), abi=art["abi"]) for s in shops]
    made, turn = 0, 0
    while made < n:
        k = min(chunk, n - made)
        fn = bulk[turn % SHOPS].functions.redeemMany(k, made)
        send(w3, citizen, {"to": bulk[turn % SHOPS].address, "data": fn._encode_transaction_data()})
        made, turn = made + k, turn + 1
    assert token.redemption_count() == n
    return shops


def mirror(w3: Web3, data_dir: Path, manifest: Manifest) -> None:
    """Index the whole chain into DIR/mirror.sqlite."""
    indexer = Indexer.from_manifest(w3, manifest, DataDir(data_dir).mirror_db)
    try:
        while indexer.sync_once():
            pass
    finally:
        indexer.close()


def fresh_ledger(data_dir: Path) -> None:
    """No ledger and no files: the next settle builds the whole batch again."""
    paths = DataDir(data_dir)
    paths.service_db.unlink(missing_ok=True)
    shutil.rmtree(paths.settlements, ignore_errors=True)


def build_files(data_dir: Path, payees: dict[str, ShopPayee], n: int) -> float:
    """Seconds `settle` takes from a fresh ledger; checks it paid all N."""
    fresh_ledger(data_dir)
    start = time.perf_counter()
    result = settle(
        data_dir,
        municipality=MUNICIPALITY,
        payees=payees,
        through=None,
        through_block=None,
        execution_date=date(2026, 12, 1),
        created_at=datetime(2026, 11, 30, 23, 30, tzinfo=UTC),
    )
    seconds = time.perf_counter() - start
    assert result is not None and sum(len(p.redemption_ids) for p in result.payments) == n
    return seconds


def baseline(data_dir: Path, payees: dict[str, ShopPayee], out: Path) -> float:
    """Seconds of the same work with nothing extra: the mirror's redemption query, grouped per
    shop in a dict, and a sepaxml export."""
    from sepaxml import SepaTransfer

    start = time.perf_counter()
    with Mirror(DataDir(data_dir).mirror_db) as m:  # the mirror's own query, grouped here
        redemptions = m.redemptions()
    per_shop: dict[str, list[Any]] = {}
    for r in redemptions:
        per_shop.setdefault(r.shop, []).append(r)
    rows = [
        (shop, sum(r.amount for r in rs), ",".join(str(r.redemption_id) for r in rs))
        for shop, rs in sorted(per_shop.items())
    ]
    sepa = SepaTransfer(
        {
            "name": MUNICIPALITY.name,
            "IBAN": MUNICIPALITY.iban,
            "BIC": MUNICIPALITY.bic,
            "batch": True,
            "currency": "EUR",
        },
        schema="pain.001.001.03",
    )
    for n, (shop, units, ids) in enumerate(rows, start=1):
        payee = payees[shop]
        sepa.add_payment(
            {
                "name": payee.name,
                "IBAN": payee.iban,
                "BIC": payee.bic,
                "amount": int(units),  # 1.00 EUR per HEIT: base units are cents
                "execution_date": date(2026, 12, 1),
                "description": f"Heitje {n} redemptions {str(ids)[:100]}",
                "endtoend_id": f"BASELINE-{n:02d}",
            }
        )
    out.write_bytes(sepa.export(validate=True))
    return time.perf_counter() - start


def anchor(data_dir: Path, rpc_url: str, token: Token, manifest: Manifest) -> dict[str, Any]:
    """Anchor the ledger's batch; its parts, gas and seconds."""
    start = time.perf_counter()
    anchored = anchor_settlements(data_dir, rpc_url)
    seconds = time.perf_counter() - start
    assert len(anchored) == 1
    record = token.settlement(batch_id_bytes(anchored[0]))
    events = token.contract.events.SettlementPartRecorded().get_logs(
        from_block=manifest.deploy_block, to_block="latest"
    )
    hashes = {bytes(ev["transactionHash"]) for ev in events}
    gas = sum(int(token.w3.eth.get_transaction_receipt(h)["gasUsed"]) for h in hashes)
    assert record.closed and record.parts == len(hashes)
    return {"parts": record.parts, "gas": gas, "seconds": seconds, "ids": record.redemptions}


def run_size(n: int, runs: int, gas_limit: int | None) -> None:
    with tempfile.TemporaryDirectory(prefix="heitje-settle-") as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        with Anvil(data_dir, timeout=60) as chain:
            w3 = connect(chain.rpc_url, timeout=300)
            ensure_dev_keys(data_dir)
            manifest = deploy(w3, data_dir)
            token = Token(w3, manifest.token)
            t0 = time.perf_counter()
            shops = make_redemptions(w3, data_dir, manifest, n)
            log(f"{n}: {n} redemptions made in {time.perf_counter() - t0:.1f} s")
            t0 = time.perf_counter()
            mirror(w3, data_dir, manifest)
            log(f"{n}: mirrored in {time.perf_counter() - t0:.1f} s")
            payees = {
                s: ShopPayee(s, f"shop-{i:02d}", f"Winkel {i}", IBAN, "BUNQNL2A")
                for i, s in enumerate(shops, start=1)
            }
            build_files(data_dir, payees, n)  # warm-up, untimed: imports, sepaxml's schema
            baseline(data_dir, payees, Path(tmp) / "baseline.xml")
            ours, theirs = [], []
            for _ in range(runs):  # interleaved
                ours.append(build_files(data_dir, payees, n))
                theirs.append(baseline(data_dir, payees, Path(tmp) / "baseline.xml"))
            mine, base = median(ours), median(theirs)
            figure(f"{n} redemptions: file building (settle), median of {runs}", f"{mine:.2f} s")
            figure(f"{n} redemptions: baseline SQL + group + sepaxml", f"{base:.2f} s")
            figure(f"{n} redemptions: file building vs baseline", f"{base / mine:.2f}x")
            if gas_limit:
                w3.provider.make_request(RPCEndpoint("evm_setBlockGasLimit"), [hex(gas_limit)])
                w3.provider.make_request(RPCEndpoint("evm_mine"), [])  # the latest block has it
            limit = token.block_gas_limit()
            w3.provider.make_request(RPCEndpoint("anvil_setNextBlockBaseFeePerGas"), [hex(10**9)])
            result = anchor(data_dir, chain.rpc_url, token, manifest)
            assert result["ids"] == n
            figure(
                f"{n} redemptions: anchoring, block gas limit {limit:,}",
                f"{result['parts']} parts, {result['gas'] / n:.0f} gas per redemption,"
                f" {result['seconds']:.2f} s",
            )
            note(f"anchoring gas in all: {result['gas']:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--large", action="store_true", help="also 100,000 redemptions")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gas-limit", type=int, default=None, help="anvil block gas limit")
    args = parser.parse_args()
    sizes = [*args.sizes, *([100_000] if args.large else [])]
    header("settle_scale")
    for n in sizes:
        run_size(n, args.runs, args.gas_limit)
    footer("settle_scale")


if __name__ == "__main__":
    main()

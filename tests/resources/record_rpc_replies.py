"""Record the JSON-RPC replies the decoder tests replay (run once; commit the output files).

    .venv/bin/python tests/resources/record_rpc_replies.py

Starts a throwaway anvil, deploys HeitjeToken and makes one event of every kind the mirror keeps
(plus some it ignores: RoleGranted, Paused, Unpaused). Writes next to this file:

- `token_logs.json`: the request and the raw reply of `eth_getLogs` over the token's history;
- `token_blocks.json`: the raw batch reply of `eth_getBlockByNumber(n, false)` for those blocks;
- `token_expected.json`: what happened, from the script's own inputs and web3's receipts
  (not from `indexer.decoder`), for the tests to compare with.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from eth_account import Account
from web3.logs import DISCARD
from web3.types import RPCEndpoint, TxReceipt

from node.anvil import Anvil
from node.contract import AccountKind, task_ref
from node.eip3009 import new_nonce, sign_typed
from node.keys import service_key
from node.signer import Signer
from node.token import Token, connect
from scripts.deploy import deploy, ensure_dev_keys

HERE = Path(__file__).parent


def main() -> None:
    data = Path(tempfile.mkdtemp(prefix="heitje-record-"))
    with Anvil(data) as chain:
        w3 = connect(chain.rpc_url)
        ensure_dev_keys(data)
        manifest = deploy(w3, data)
        token = Token(w3, manifest.token)

        def signer(role: str) -> Signer:
            return Signer(w3, service_key(data / "keys", role), data / "nonces.sqlite")

        registrar, minter, relayer, pauser = (
            signer(r) for r in ("registrar", "minter", "relayer", "pauser")
        )
        alice, bob, shop = Account.create(), Account.create(), Account.create()
        expected: list[dict[str, Any]] = []

        def note(receipt: TxReceipt, event: str, **fields: Any) -> None:
            expected.append(
                {
                    "event": event,
                    "tx_hash": "0x" + bytes(receipt["transactionHash"]).hex(),
                    "block_number": int(receipt["blockNumber"]),
                    **fields,
                }
            )

        for account, kind in (
            (alice, AccountKind.CITIZEN),
            (bob, AccountKind.CITIZEN),
            (shop, AccountKind.SHOP),
        ):
            r = registrar.transact(token.register_account_tx(account.address, kind))
            note(r, "AccountRegistered", account=account.address, kind=kind.name.lower())

        ref = task_ref("paint-bin-7")
        r = minter.transact(token.mint_reward_tx(alice.address, 1500, ref))
        note(r, "Transfer", from_address="0x" + "00" * 20, to_address=alice.address, amount=1500)
        note(r, "RewardMinted", to_address=alice.address, amount=1500, task_ref="0x" + ref.hex())

        pay = token.authorize_transfer(alice, shop.address, 450)
        r = relayer.transact(token.transfer_with_authorization_tx(pay))
        note(r, "AuthorizationUsed", authorizer=alice.address, nonce="0x" + pay.nonce.hex())
        note(r, "Transfer", from_address=alice.address, to_address=shop.address, amount=450)

        refund = token.authorize_transfer(shop, alice.address, 50)
        r = relayer.transact(token.transfer_with_authorization_tx(refund))
        note(r, "AuthorizationUsed", authorizer=shop.address, nonce="0x" + refund.nonce.hex())
        note(r, "Transfer", from_address=shop.address, to_address=alice.address, amount=50)

        redeem = token.authorize_redemption(shop, 200)
        r = relayer.transact(token.redeem_with_authorization_tx(redeem))
        note(r, "AuthorizationUsed", authorizer=shop.address, nonce="0x" + redeem.nonce.hex())
        note(r, "Transfer", from_address=shop.address, to_address="0x" + "00" * 20, amount=200)
        note(r, "Redeemed", redemption_id=1, shop=shop.address, amount=200)

        nonce = new_nonce()
        sig = sign_typed(
            alice,
            chain_id=token.chain_id,
            token=token.address,
            primary_type="CancelAuthorization",
            message={"authorizer": alice.address, "nonce": nonce},
        )
        fn = token.contract.functions.cancelAuthorization(alice.address, nonce, sig.v, sig.r, sig.s)
        r = relayer.transact({"to": token.address, "data": fn._encode_transaction_data()})
        note(r, "AuthorizationCanceled", authorizer=alice.address, nonce="0x" + nonce.hex())

        r = registrar.transact(token.register_account_tx(bob.address, AccountKind.NONE))
        note(r, "AccountRegistered", account=bob.address, kind="none")

        pauser.transact(token.pause_tx())  # Paused / Unpaused: kept out of the mirror
        pauser.transact(token.unpause_tx())

        head = int(w3.eth.block_number)
        params = [
            {
                "address": token.address,
                "fromBlock": hex(manifest.deploy_block),
                "toBlock": hex(head),
            }
        ]
        logs = w3.provider.make_request(RPCEndpoint("eth_getLogs"), params)
        numbers = range(manifest.deploy_block, head + 1)
        blocks = w3.provider.make_batch_request(
            [(RPCEndpoint("eth_getBlockByNumber"), [hex(n), False]) for n in numbers]
        )
        # log indexes as web3 decodes them from the receipts (the n-th expected event of a
        # name in a transaction is the n-th such log of its receipt)
        seen: dict[tuple[str, str], int] = {}
        for item in expected:
            key = (item["tx_hash"], item["event"])
            receipt = w3.eth.get_transaction_receipt(item["tx_hash"])
            events = token.contract.events[item["event"]]().process_receipt(receipt, errors=DISCARD)
            item["log_index"] = int(events[seen.get(key, 0)]["logIndex"])
            seen[key] = seen.get(key, 0) + 1

    (HERE / "token_logs.json").write_text(
        json.dumps(
            {"request": {"method": "eth_getLogs", "params": params}, "reply": logs}, indent=1
        )
        + "\n"
    )
    (HERE / "token_blocks.json").write_text(json.dumps({"reply": blocks}, indent=1) + "\n")
    (HERE / "token_expected.json").write_text(
        json.dumps(
            {
                "token": token.address,
                "deploy_block": manifest.deploy_block,
                "head": head,
                "events": expected,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"recorded {len(logs['result'])} logs and {len(blocks)} blocks into {HERE}")


if __name__ == "__main__":
    main()

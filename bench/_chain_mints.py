"""The baseline of `approvals.py`: the chain's own batched mints, sent straight to anvil."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # run as bench/x.py: the repository is on sys.path once _common is in
    from scripts.stack import Stack


class ChainMints:
    """The baseline: `mintRewards` straight to the stack's anvil from a key of the bench's own
    (funded with `anvil_setBalance`, given MINTER_ROLE by the admin address through
    `anvil_impersonateAccount`: the service's keys and nonce journals are left alone)."""

    def __init__(self, stack: Stack, citizens: list[str]) -> None:
        from eth_account import Account

        from node.keys import service_key_address

        self.w3 = stack.token.w3
        self.token = stack.token
        self.key = Account.create()
        self.to = citizens
        self.chain_id = int(self.w3.eth.chain_id)
        self.w3.provider.make_request(  # type: ignore[operator]
            "anvil_setBalance", [self.key.address, hex(10**22)]
        )
        admin = service_key_address(stack.paths.keys, "admin")
        self.w3.provider.make_request("anvil_impersonateAccount", [admin])  # type: ignore[operator]
        grant = self.token.grant_role_tx("MINTER_ROLE", self.key.address)
        tx = self.w3.eth.send_transaction({"from": admin, "to": grant["to"], "data": grant["data"]})
        if self.w3.eth.wait_for_transaction_receipt(tx)["status"] != 1:
            raise SystemExit("could not grant MINTER_ROLE to the baseline's key")
        self.w3.provider.make_request(  # type: ignore[operator]
            "anvil_stopImpersonatingAccount", [admin]
        )
        self.nonce = int(self.w3.eth.get_transaction_count(self.key.address))
        self.base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 10**9))
        self.count = 0
        self.minted = 0

    def run(self, rewards: int, batch: int, amount: int) -> float:
        """Mint `rewards` rewards of `amount` base units in `mintRewards` of `batch`; returns
        the seconds until the last receipt (every transaction must succeed)."""
        from eth_utils.crypto import keccak

        started = time.perf_counter()
        hashes = []
        for i in range(0, rewards, batch):
            items = []
            for _ in range(min(batch, rewards - i)):
                self.count += 1
                to = self.to[self.count % len(self.to)]
                items.append((to, amount, keccak(text=f"bench baseline reward {self.count}")))
            tx = dict(self.token.mint_rewards_tx(items))
            tx.update(
                {
                    "nonce": self.nonce,
                    "gas": 60_000 * len(items) + 100_000,
                    # fixed fees: a price read from the node would follow our own tips up
                    "maxFeePerGas": 4 * self.base_fee + 2 * 10**9,
                    "maxPriorityFeePerGas": 10**9,
                    "chainId": self.chain_id,
                }
            )
            signed = self.key.sign_transaction(tx)
            hashes.append(self.w3.eth.send_raw_transaction(signed.raw_transaction))
            self.nonce += 1
            self.minted += amount * len(items)
        for h in hashes:
            if self.w3.eth.wait_for_transaction_receipt(h, timeout=300)["status"] != 1:
                raise SystemExit("a baseline mintRewards reverted")
        return time.perf_counter() - started

"""The HEIT token client: reads, and writes signed by the service's role keys.

Each write goes through a `node.signer.Signer` (local key, nonce journal); a revert becomes a
`ChainError` whose `code` names the contract's custom error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import BlockIdentifier, RPCEndpoint, TxParams

from heitje.money import BaseUnits
from node.contract import AccountKind, load_artifact
from node.eip3009 import new_nonce, sign_typed
from node.token_reads import BatchedReads
from node.token_types import Authorization as Authorization
from node.token_types import PeriodReads as PeriodReads
from node.token_types import RecoveryReason as RecoveryReason
from node.token_types import RewardPeriod as RewardPeriod
from node.token_types import SettlementPart as SettlementPart
from node.token_types import SettlementRecord as SettlementRecord
from node.token_types import batch_id_bytes as batch_id_bytes
from node.transport import KeepAliveHTTPProvider

AUTHORIZATION_LIFETIME = 3600
"""Seconds an EIP-3009 authorization made by the service stays valid."""


def connect(rpc_url: str, timeout: float = 30.0) -> Web3:
    """A web3 connection over HTTP JSON-RPC (standard methods only), a kept-alive connection
    per thread (`node.transport`); `timeout` in seconds for connecting and for each answer."""
    # eth_chainId never changes for an endpoint: web3 asks it before every call and gas
    # estimate unless cached. Nothing else is cached (blocks can be reorganised away).
    provider = KeepAliveHTTPProvider(
        rpc_url,
        timeout,
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId"), RPCEndpoint("net_version")},
    )
    w3 = Web3(provider)
    # Clique (geth) and QBFT (Besu) put signer data in extraData, longer than web3's 32-byte
    # check; the middleware accepts it and changes nothing on anvil.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


_MINT_REWARDS = bytes(Web3.keccak(text="mintRewards(address[],uint256[],bytes32[])")[:4])
"""The selector of `mintRewards` (`Token.mint_rewards_tx`)."""


class Token(BatchedReads):
    """HeitjeToken at `address` on `w3` (the batched reads of `BatchedReads` included)."""

    def __init__(self, w3: Web3, address: ChecksumAddress) -> None:
        self.w3 = w3
        self.address = address
        self.contract: Contract = w3.eth.contract(address=address, abi=load_artifact().abi)
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    # ----- reads -----

    def balance_of(self, account: str, block: BlockIdentifier = "latest") -> BaseUnits:
        """Balance of `account` in base units."""
        return BaseUnits(
            int(self.contract.functions.balanceOf(account).call(block_identifier=block))
        )

    def total_supply(self, block: BlockIdentifier = "latest") -> BaseUnits:
        """ERC-20 totalSupply in base units."""
        return BaseUnits(int(self.contract.functions.totalSupply().call(block_identifier=block)))

    def total_minted(self, block: BlockIdentifier = "latest") -> BaseUnits:
        """Sum of every reward ever minted, base units."""
        return BaseUnits(int(self.contract.functions.totalMinted().call(block_identifier=block)))

    def total_redeemed(self, block: BlockIdentifier = "latest") -> BaseUnits:
        """Sum of every redemption ever burned, base units."""
        return BaseUnits(int(self.contract.functions.totalRedeemed().call(block_identifier=block)))

    def account_kind(self, account: str, block: BlockIdentifier = "latest") -> AccountKind:
        """Registry kind of `account`."""
        fn = self.contract.functions.accountKind(account)
        return AccountKind(int(fn.call(block_identifier=block)))

    def is_task_rewarded(self, ref: bytes, block: BlockIdentifier = "latest") -> bool:
        """True when task reference `ref` (bytes32) was rewarded."""
        return bool(self.contract.functions.isTaskRewarded(ref).call(block_identifier=block))

    def current_period_id(self, block: BlockIdentifier = "latest") -> int:
        """Id of the reward period in force (0: none)."""
        return int(self.contract.functions.currentPeriodId().call(block_identifier=block))

    def reward_period(self, period_id: int, block: BlockIdentifier = "latest") -> RewardPeriod:
        """Reward period `period_id` (from 1; an unknown id reverts)."""
        start, budget, cap, minted = self.contract.functions.rewardPeriod(period_id).call(
            block_identifier=block
        )
        return RewardPeriod(
            int(start), BaseUnits(int(budget)), BaseUnits(int(cap)), BaseUnits(int(minted))
        )

    def remaining_budget(self, block: BlockIdentifier = "latest") -> BaseUnits:
        """Base units the current period may still mint."""
        return BaseUnits(
            int(self.contract.functions.remainingBudget().call(block_identifier=block))
        )

    def rewards_in_current_period(
        self, citizen: str, block: BlockIdentifier = "latest"
    ) -> BaseUnits:
        """Base units `citizen` was rewarded in the current period."""
        fn = self.contract.functions.rewardsInCurrentPeriod(citizen)
        return BaseUnits(int(fn.call(block_identifier=block)))

    def settlement_of(self, redemption_id: int, block: BlockIdentifier = "latest") -> bytes:
        """The batch id (bytes32) that settled `redemption_id`, or 32 zero bytes."""
        fn = self.contract.functions.settlementOf(redemption_id)
        return bytes(fn.call(block_identifier=block))

    def settlement(self, batch_id: bytes, block: BlockIdentifier = "latest") -> SettlementRecord:
        """The on-chain record of settlement batch `batch_id` (recorded_at 0: not recorded;
        closed False while parts are missing)."""
        fh, at, n, parts, last_id, closed, units, cents = self.contract.functions.settlement(
            batch_id
        ).call(block_identifier=block)
        return SettlementRecord(
            bytes(fh),
            int(at),
            int(n),
            int(parts),
            int(last_id),
            bool(closed),
            BaseUnits(int(units)),
            int(cents),
        )

    def settlement_parts(self, from_block: int, to_block: BlockIdentifier) -> list[SettlementPart]:
        """Every `SettlementPartRecorded` event from `from_block` to `to_block`, in chain order:
        which ranges of redemption ids each part of each batch recorded."""
        events = self.contract.events.SettlementPartRecorded().get_logs(
            from_block=from_block, to_block=to_block
        )
        return [
            SettlementPart(
                batch_id=bytes(ev["args"]["batchId"]),
                part=int(ev["args"]["part"]),
                ranges=tuple((int(r["first"]), int(r["last"])) for r in ev["args"]["ranges"]),
                redemptions=int(ev["args"]["redemptions"]),
                total_units=BaseUnits(int(ev["args"]["totalUnits"])),
                block=int(ev["blockNumber"]),
            )
            for ev in events
        ]

    def redeemed_through(self, redemption_id: int, block: BlockIdentifier = "latest") -> BaseUnits:
        """Base units redeemed by redemptions 1..`redemption_id` together (0 for id 0)."""
        fn = self.contract.functions.redeemedThrough(redemption_id)
        return BaseUnits(int(fn.call(block_identifier=block)))

    def block_gas_limit(self) -> int:
        """The gas limit of the latest block: what one transaction can use at most."""
        return int(self.w3.eth.get_block("latest")["gasLimit"])

    def redemption_count(self, block: BlockIdentifier = "latest") -> int:
        """Number of redemptions so far (ids run 1..count)."""
        return int(self.contract.functions.redemptionCount().call(block_identifier=block))

    def redemption(
        self, redemption_id: int, block: BlockIdentifier = "latest"
    ) -> tuple[ChecksumAddress, int, BaseUnits]:
        """(shop, unix timestamp, amount in base units) of redemption `redemption_id` (from 1)."""
        fn = self.contract.functions.redemption(redemption_id)
        shop, ts, amount = fn.call(block_identifier=block)
        return Web3.to_checksum_address(shop), int(ts), BaseUnits(int(amount))

    # ----- transactions (unsigned; sign with a Signer) -----

    def _tx(self, fn: Any) -> TxParams:
        data = fn._encode_transaction_data()
        return {"to": self.address, "data": data}

    def register_account_tx(self, account: str, kind: AccountKind) -> TxParams:
        """registerAccount(account, kind): needs REGISTRAR_ROLE."""
        return self._tx(self.contract.functions.registerAccount(account, int(kind)))

    def register_accounts_tx(self, accounts: list[str], kind: AccountKind) -> TxParams:
        """registerAccounts(accounts[], kind): every account gets `kind` in one transaction,
        atomic (one bad account reverts the batch); needs REGISTRAR_ROLE."""
        return self._tx(self.contract.functions.registerAccounts(list(accounts), int(kind)))

    def mint_reward_tx(self, to: str, amount: int, ref: bytes) -> TxParams:
        """mintReward(to, amount, taskRef): needs MINTER_ROLE and an open reward period."""
        return self._tx(self.contract.functions.mintReward(to, amount, ref))

    def mint_rewards_tx(self, items: list[tuple[str, int, bytes]]) -> TxParams:
        """mintRewards(to[], amounts[], taskRefs[]) for (to, amount, taskRef) items: atomic,
        needs MINTER_ROLE. Encoded with eth-abi straight from the selector (web3's contract
        function looks the ABI up and validates every argument again: a tenth of the
        dispatcher's time for a batch of 50); `ValueError` for an address that is not 20
        bytes of hex, an amount outside uint256 or a task reference that is not 32 bytes."""
        to, amounts, refs = (list(x) for x in zip(*items, strict=True))
        if any(len(r) != 32 for r in refs):
            raise ValueError("a task reference is 32 bytes")
        data = _MINT_REWARDS + abi_encode(
            ["address[]", "uint256[]", "bytes32[]"],
            [to, amounts, refs],
        )
        return {"to": self.address, "data": HexStr("0x" + data.hex())}

    def open_reward_period_tx(self, start: int, budget: int, cap_per_citizen: int) -> TxParams:
        """openRewardPeriod(start, budget, capPerCitizen) (start 0 = now; base units): needs
        DEFAULT_ADMIN_ROLE."""
        return self._tx(self.contract.functions.openRewardPeriod(start, budget, cap_per_citizen))

    def record_settlement_part_tx(
        self,
        batch_id: bytes,
        ranges: Sequence[tuple[int, int]],
        total_cents: int,
        file_hash: bytes,
        *,
        last: bool,
    ) -> TxParams:
        """recordSettlementPart(batchId, ranges, totalCents, fileHash, last): record the id
        `ranges` ((first, last), both included, ascending, after the batch's earlier parts) of
        batch `batch_id`; `last` closes it. Needs SETTLER_ROLE."""
        fn = self.contract.functions.recordSettlementPart(
            batch_id, [(int(a), int(b)) for a, b in ranges], total_cents, file_hash, last
        )
        return self._tx(fn)

    def recover_account_tx(self, old: str, new: str, reason: RecoveryReason) -> TxParams:
        """recoverAccount(from, to, reason): needs REGISTRAR_ROLE."""
        return self._tx(self.contract.functions.recoverAccount(old, new, int(reason)))

    def grant_role_tx(self, role: str, account: str) -> TxParams:
        """AccessControl grantRole(keccak(role), account): needs DEFAULT_ADMIN_ROLE."""
        return self._tx(self.contract.functions.grantRole(Web3.keccak(text=role), account))

    def pause_tx(self) -> TxParams:
        """pause(): needs PAUSER_ROLE."""
        return self._tx(self.contract.functions.pause())

    def unpause_tx(self) -> TxParams:
        """unpause(): needs PAUSER_ROLE."""
        return self._tx(self.contract.functions.unpause())

    # ----- EIP-3009 -----

    def authorize_transfer(
        self,
        payer: LocalAccount,
        to: str,
        value: int,
        *,
        now: int | None = None,
        nonce: bytes | None = None,
    ) -> Authorization:
        """EIP-3009 TransferWithAuthorization signed by `payer` (valid from now for an hour),
        with a new random 32-byte nonce, or `nonce` to sign the same authorization again (at
        most one authorization with a nonce can ever be used)."""
        now = int(time.time()) if now is None else now
        nonce = new_nonce() if nonce is None else nonce
        valid_after, valid_before = 0, now + AUTHORIZATION_LIFETIME
        sig = sign_typed(
            payer, chain_id=self.chain_id, token=self.address,
            primary_type="TransferWithAuthorization",
            message={"from": payer.address, "to": to, "value": value, "validAfter": valid_after,
                     "validBefore": valid_before, "nonce": nonce},
        )  # fmt: skip
        args = (payer.address, to, value, valid_after, valid_before, nonce, sig.v, sig.r, sig.s)
        return Authorization(args=args, nonce=nonce)

    def authorize_redemption(
        self,
        shop: LocalAccount,
        amount: int,
        *,
        now: int | None = None,
        nonce: bytes | None = None,
    ) -> Authorization:
        """RedeemWithAuthorization signed by `shop` (valid from now for an hour); `nonce` as in
        `authorize_transfer`."""
        now = int(time.time()) if now is None else now
        nonce = new_nonce() if nonce is None else nonce
        valid_after, valid_before = 0, now + AUTHORIZATION_LIFETIME
        sig = sign_typed(
            shop, chain_id=self.chain_id, token=self.address,
            primary_type="RedeemWithAuthorization",
            message={"shop": shop.address, "amount": amount, "validAfter": valid_after,
                     "validBefore": valid_before, "nonce": nonce},
        )  # fmt: skip
        args = (shop.address, amount, valid_after, valid_before, nonce, sig.v, sig.r, sig.s)
        return Authorization(args=args, nonce=nonce)

    def transfer_with_authorization_tx(self, auth: Authorization) -> TxParams:
        """EIP-3009 transferWithAuthorization(...): any relayer may send it."""
        return self._tx(self.contract.functions.transferWithAuthorization(*auth.args))

    def redeem_with_authorization_tx(self, auth: Authorization) -> TxParams:
        """redeemWithAuthorization(...): any relayer may send it."""
        return self._tx(self.contract.functions.redeemWithAuthorization(*auth.args))

    def redemption_id_from_receipt(self, receipt: Any) -> int:
        """The id in the `Redeemed` event of a receipt. Raises LookupError if none."""
        for ev in self.contract.events.Redeemed().process_receipt(receipt, errors=DISCARD):
            return int(ev["args"]["redemptionId"])
        raise LookupError("no Redeemed event in receipt")

    def authorization_use(
        self, authorizer: str, nonce: bytes, from_block: int = 0
    ) -> tuple[str, int] | None:
        """Where the EIP-3009 authorization (`authorizer`, `nonce`) was used on chain: the
        (transaction hash, block number) of its `AuthorizationUsed` event, whoever sent it
        (the relayer, or someone who saw it first), or None while it is unused."""
        topic0 = Web3.keccak(text="AuthorizationUsed(address,bytes32)")
        logs = self.w3.eth.get_logs(
            {
                "address": self.address,
                "fromBlock": from_block,
                "toBlock": "latest",
                "topics": [
                    topic0,
                    HexBytes(bytes(12) + bytes.fromhex(authorizer[2:])),
                    HexBytes(nonce),
                ],
            }
        )
        for entry in logs:
            return "0x" + bytes(entry["transactionHash"]).hex(), int(entry["blockNumber"])
        return None

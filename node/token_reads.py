"""The token's reads that go in JSON-RPC batches, hand-encoded (`BatchedReads`, a part of
`node.token.Token`): web3's contract functions look the ABI up and hash the signature again at
every call, and a batch of approvals asks about many citizens and transactions at one block."""

from __future__ import annotations

from collections.abc import Sequence

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.exceptions import Web3RPCError
from web3.types import RPCEndpoint

from heitje.money import BaseUnits
from node.token_types import PeriodReads, RewardPeriod


def _selector(signature: str) -> str:
    """`0x` and the 4-byte selector of the function `signature`, as hex."""
    return "0x" + bytes(Web3.keccak(text=signature)[:4]).hex()


_REWARDS_IN_PERIOD = _selector("rewardsInCurrentPeriod(address)") + "0" * 24
"""Calldata of `rewardsInCurrentPeriod` up to its address (`rewards_in_current_period_many`)."""
_CURRENT_PERIOD_ID = _selector("currentPeriodId()")
_REWARD_PERIOD = _selector("rewardPeriod(uint256)")
_IS_TASK_REWARDED = _selector("isTaskRewarded(bytes32)")
"""Calldata (or its start) of the reads of `Token.period_reads`, encoded once, by hand: web3's
contract functions look the ABI up and hash the signature again at every call."""


def _words(answer: str) -> list[int]:
    """The 32-byte words of an `eth_call` answer (hex), as integers ("0x": none)."""
    data = bytes.fromhex(answer[2:])
    return [int.from_bytes(data[i : i + 32], "big") for i in range(0, len(data), 32)]


def _word(answer: str) -> int:
    """The first 32-byte word of an `eth_call` answer (hex) as an integer (0 for "0x")."""
    words = _words(answer)
    return words[0] if words else 0


class BatchedReads:
    """Reads of the token at `address` on `w3` in JSON-RPC batches."""

    w3: Web3
    address: ChecksumAddress

    def calls_at(self, block: int, calldata: Sequence[str]) -> list[str]:
        """`eth_call` of each of `calldata` (hex) to the token at `block`, asked in one
        JSON-RPC batch (one HTTP request); the answers (hex), in order.

        Raises `Web3RPCError` when the node answers any call with an error (e.g. the block
        left the chain); requests' connection errors (`OSError`) as any call."""
        if not calldata:
            return []
        calls = [
            (RPCEndpoint("eth_call"), [{"to": self.address, "data": data}, hex(block)])
            for data in calldata
        ]
        answers = self.w3.provider.make_batch_request(calls)  # type: ignore[attr-defined]
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise Web3RPCError(f"the node answered a batch of {len(calls)} calls with {answers}")
        out: list[str] = []
        for answer in sorted(answers, key=lambda a: int(a.get("id", 0))):
            if "error" in answer or not isinstance(answer.get("result"), str):
                raise Web3RPCError(f"eth_call at block {block}: {answer.get('error')}")
            out.append(str(answer["result"]))
        return out

    def rewards_in_current_period_many(
        self, citizens: Sequence[str], block: int
    ) -> dict[str, BaseUnits]:
        """`rewards_in_current_period` of each of `citizens` at `block`, asked in one JSON-RPC
        batch (`calls_at`): checksummed address -> base units. Errors as `calls_at`."""
        wanted = list(dict.fromkeys(Web3.to_checksum_address(c) for c in citizens))
        answers = self.calls_at(block, [_REWARDS_IN_PERIOD + c[2:].lower() for c in wanted])
        return {c: BaseUnits(_word(a)) for c, a in zip(wanted, answers, strict=True)}

    def period_reads(
        self, block: int, task_refs: Sequence[bytes], citizens: Sequence[str]
    ) -> PeriodReads:
        """What an approval reads of the reward period, all at `block`, in two JSON-RPC
        batches: the period in force (`currentPeriodId`, then `rewardPeriod`), whether each of
        `task_refs` (bytes32) was rewarded (`isTaskRewarded`) and what each of `citizens` was
        rewarded in the period (`rewardsInCurrentPeriod`; not read when none is open).
        Errors as `calls_at`."""
        first = self.calls_at(
            block, [_CURRENT_PERIOD_ID, *(_IS_TASK_REWARDED + r.hex() for r in task_refs)]
        )
        period_id = _word(first[0])
        rewarded = [_word(a) != 0 for a in first[1:]]
        if period_id == 0:
            return PeriodReads(0, None, rewarded, {})
        wanted = list(dict.fromkeys(str(Web3.to_checksum_address(c)) for c in citizens if c))
        second = self.calls_at(
            block,
            [
                _REWARD_PERIOD + f"{period_id:064x}",
                *(_REWARDS_IN_PERIOD + c[2:].lower() for c in wanted),
            ],
        )
        start, budget, cap, minted = _words(second[0])[:4]
        period = RewardPeriod(start, BaseUnits(budget), BaseUnits(cap), BaseUnits(minted))
        earned = {c: BaseUnits(_word(a)) for c, a in zip(wanted, second[1:], strict=True)}
        return PeriodReads(period_id, period, rewarded, earned)

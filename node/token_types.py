"""The token's value types (`node.token` re-exports them): recovery reasons, reward
periods, settlement records and parts as the contract returns them, settlement batch ids as
bytes32, and a signed authorization ready to relay."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from heitje.money import BaseUnits


class RecoveryReason(IntEnum):
    """`IHeitjeToken.RecoveryReason`."""

    LOST_KEY = 0
    ERASURE_REQUEST = 1
    KEY_ROTATION = 2


@dataclass(frozen=True)
class RewardPeriod:
    """`IHeitjeToken.RewardPeriod`: start (unix seconds), budget, cap per citizen and what was
    minted so far, in base units."""

    start: int
    budget: BaseUnits
    cap_per_citizen: BaseUnits
    minted: BaseUnits

    @property
    def remaining(self) -> BaseUnits:
        """Base units the period may still mint."""
        return BaseUnits(self.budget - self.minted)


@dataclass(frozen=True)
class PeriodReads:
    """`Token.period_reads`: the period in force at one block (`period_id` 0 and `period`
    None: none is open), whether each task reference asked about was rewarded (in order), and
    what each citizen asked about was rewarded in the period (checksummed address -> base
    units; empty when none is open)."""

    period_id: int
    period: RewardPeriod | None
    rewarded: list[bool]
    earned: dict[str, BaseUnits]


@dataclass(frozen=True)
class SettlementRecord:
    """A settlement batch as recorded on chain: sha256 of the payment file, time its first part
    was recorded (0: not recorded), number of redemptions recorded so far, parts recorded, the
    highest redemption id recorded (parts ascend), whether the last part closed it, burned base
    units of its redemptions, euro cents paid."""

    file_hash: bytes
    recorded_at: int
    redemptions: int
    parts: int
    last_id: int
    closed: bool
    total_units: BaseUnits
    total_cents: int


@dataclass(frozen=True)
class SettlementPart:
    """A `SettlementPartRecorded` event: part `part` (from 1) of batch `batch_id` (bytes32)
    recorded the redemption id `ranges` ((first, last), both included, ascending), `redemptions`
    ids of `total_units` base units, in block `block`."""

    batch_id: bytes
    part: int
    ranges: tuple[tuple[int, int], ...]
    redemptions: int
    total_units: BaseUnits
    block: int


def batch_id_bytes(batch_id: str) -> bytes:
    """A settlement batch id ("HEIT-20220331-0001") as the contract's bytes32: its ASCII,
    right-padded with zero bytes. Raises ValueError when longer than 32 bytes."""
    raw = batch_id.encode("ascii")
    if len(raw) > 32:
        raise ValueError(f"batch id {batch_id!r} is longer than 32 bytes")
    return raw.ljust(32, b"\x00")


@dataclass(frozen=True)
class Authorization:
    """A signed EIP-3009 transfer or signed redemption, ready to relay."""

    args: tuple[Any, ...]
    nonce: bytes

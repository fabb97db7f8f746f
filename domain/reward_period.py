"""An approval's look at the chain's reward period (`PeriodView`, read once for one approval
or a batch): is one open, can its budget pay the reward, does the citizen stay within
its cap per citizen, counting rewards approved but not minted yet."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from web3.exceptions import Web3RPCError

from domain.context import Context
from heitje.errors import Refused
from heitje.money import format_heit
from node.token import RewardPeriod, Token
from store import outbox


class PeriodView:
    """The chain's reward period as approvals see it: read once, at one block, then kept up to
    date with each reward approved through it (`check`), so that a batch of approvals (`POST
    /tasks/approvals`) reads the chain once, not once per task.

    Counts what is on chain plus the rewards approved but not minted yet (mint intents pending,
    sent or blocked), each once: loaded inside the approvals' write transaction, so no intent
    changes while it looks; the unconfirmed intents are read first and the chain at the block
    that was the head just after, so an intent confirmed before the read is in that block's
    state, and one that is not is counted from the database unless its transaction is already
    in that block. Each reward `check` lets through is counted as on its way from then on.
    """

    def __init__(self, token: Token, block: int, period: RewardPeriod, on_way: list[Any]) -> None:
        self.token = token
        self.block = block
        """The block the chain was read at."""
        self.period = period
        self.on_way_all = sum(int(r["amount"]) for r in on_way)
        """Base units approved but not in `block`'s state (the intents, then `check`'s)."""
        self._on_way: dict[str, int] = {}
        for r in on_way:
            key = str(r["account"]).lower()
            self._on_way[key] = self._on_way.get(key, 0) + int(r["amount"])
        self._earned: dict[str, int] = {}

    @classmethod
    def load(cls, ctx: Context, citizens: Iterable[str] = ()) -> PeriodView:
        """Read the open period, which unconfirmed mint intents have landed, and what each of
        `citizens` (addresses) was rewarded in the period (`Token.period_reads`: three round
        trips to the node however many; inside the caller's write transaction).

        Errors: 409 `no_reward_period`; 503 `chain_unavailable`."""
        token = ctx.chain.token
        unconfirmed = outbox.unconfirmed_mints(ctx.db)  # summed per account and transaction
        sent: dict[str, str] = {}  # transaction -> one task reference it mints
        for r in unconfirmed:
            if r["tx_hash"]:
                sent.setdefault(str(r["tx_hash"]), str(r["ref"]))
        for attempt in range(3):  # a reorganisation may take the block away while it is read
            try:
                block = int(token.w3.eth.block_number)
                # One look per transaction: a batch mints all its rewards or none.
                refs = [bytes.fromhex(ref[2:]) for ref in sent.values()]
                reads = token.period_reads(block, refs, list(citizens))
                break
            except OSError:  # requests' connection errors and time-outs
                raise Refused(503, "chain_unavailable", "the chain is not reachable") from None
            except Web3RPCError:  # e.g. BlockOutOfRange: the block left the chain meanwhile
                if attempt == 2:
                    raise Refused(
                        503, "chain_unavailable", "the chain kept changing while it was read; retry"
                    ) from None
        if reads.period is None:
            raise Refused(
                409,
                "no_reward_period",
                "no reward period is open on chain, so no reward can be minted; "
                "the municipality has to open one first",
            )
        landed = {tx for tx, done in zip(sent, reads.rewarded, strict=True) if done}
        on_way = [r for r in unconfirmed if r["tx_hash"] not in landed]
        view = cls(token, block, reads.period, on_way)
        view._earned.update({a.lower(): int(v) for a, v in reads.earned.items()})
        return view

    def prefetch(self, addresses: Iterable[str]) -> None:
        """Read what the period minted to each of `addresses` not read yet, at `self.block`,
        in one JSON-RPC batch (a batch of approvals names its citizens up front).

        Errors: 503 `chain_unavailable`."""
        missing = {a.lower(): a for a in addresses if a and a.lower() not in self._earned}
        if not missing:
            return
        try:
            read = self.token.rewards_in_current_period_many(list(missing.values()), self.block)
        except OSError:
            raise Refused(503, "chain_unavailable", "the chain is not reachable") from None
        except Web3RPCError:
            raise Refused(
                503, "chain_unavailable", "the chain kept changing while it was read; retry"
            ) from None
        self._earned.update({a.lower(): int(v) for a, v in read.items()})

    def _earned_by(self, address: str) -> int:
        """Base units minted to `address` in the period, at `self.block` (read once)."""
        if address.lower() not in self._earned:
            self.prefetch([address])
        return self._earned[address.lower()]

    def check(self, task: sqlite3.Row, *, count: bool = True) -> None:
        """Refuse the reward of `task` when the period cannot pay it; else, with `count`,
        count it as on its way (the caller writes its mint intent in the same transaction).

        Errors: 422 `period_budget_exhausted`, `citizen_cap_exceeded`; 503
        `chain_unavailable`.
        """
        reward = int(task["reward"])
        address = str(task["claimed_by_address"])
        earned = self._earned_by(address)
        on_way_mine = self._on_way.get(address.lower(), 0)
        left = self.period.remaining - self.on_way_all
        if left < reward:
            raise Refused(
                422,
                "period_budget_exhausted",
                f"the reward period has {format_heit(max(left, 0))} HEIT left "
                f"({format_heit(self.period.remaining)} HEIT not minted yet, of which "
                f"{format_heit(self.on_way_all)} HEIT is approved and on its way); a reward of "
                f"{format_heit(reward)} HEIT does not fit",
            )
        if earned + on_way_mine + reward > self.period.cap_per_citizen:
            raise Refused(
                422,
                "citizen_cap_exceeded",
                f"{task['claimed_by_name']} has {format_heit(earned + on_way_mine)} HEIT in "
                f"this reward period ({format_heit(earned)} HEIT minted, "
                f"{format_heit(on_way_mine)} HEIT on its way); {format_heit(reward)} HEIT more "
                f"would pass the period's cap of {format_heit(self.period.cap_per_citizen)} HEIT "
                "per citizen",
            )
        if count:
            self.on_way_all += reward
            self._on_way[address.lower()] = on_way_mine + reward

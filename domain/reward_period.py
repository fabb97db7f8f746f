"""An approval's look at the chain's reward period (`check_reward_period`): is one open, can
its budget pay the reward, does the citizen stay within its cap per citizen, counting rewards
approved but not minted yet."""

from __future__ import annotations

import sqlite3

from web3.exceptions import Web3RPCError

from domain.context import Context
from heitje.errors import Refused
from heitje.money import format_heit
from node.token import Token
from store import outbox


def check_reward_period(ctx: Context, task: sqlite3.Row) -> None:
    """Refuse the reward of `task` up front when the chain would refuse to mint it.

    Counts what is on chain plus the rewards approved but not minted yet (mint intents pending,
    sent or blocked), each once: run inside the approval's write transaction, so no intent
    changes while it looks; the unconfirmed intents are read first and the chain at the block
    that was the head just after, so an intent confirmed before the read is in that block's
    state, and one that is not is counted from the database unless its transaction is already
    in that block.

    Errors: 409 `no_reward_period`; 422 `period_budget_exhausted`, `citizen_cap_exceeded`;
    503 `chain_unavailable`.
    """
    token = ctx.chain.token
    reward = int(task["reward"])
    address = str(task["claimed_by_address"])
    unconfirmed = outbox.unconfirmed_mints(ctx.db)
    for attempt in range(3):  # a reorganisation may take the block away while it is read
        try:
            block = int(token.w3.eth.block_number)
            period_id = token.current_period_id(block)
            if period_id == 0:
                raise Refused(
                    409,
                    "no_reward_period",
                    "no reward period is open on chain, so no reward can be minted; "
                    "the municipality has to open one first",
                )
            period = token.reward_period(period_id, block)
            earned = int(token.rewards_in_current_period(address, block))
            landed = _landed(token, unconfirmed, block)
            break
        except OSError:  # requests' connection errors and time-outs
            raise Refused(503, "chain_unavailable", "the chain is not reachable") from None
        except Web3RPCError:  # e.g. BlockOutOfRange: the block left the chain meanwhile
            if attempt == 2:
                raise Refused(
                    503, "chain_unavailable", "the chain kept changing while it was read; retry"
                ) from None
    on_way = [r for r in unconfirmed if r["id"] not in landed]
    on_way_all = sum(int(r["amount"]) for r in on_way)
    on_way_mine = sum(
        int(r["amount"]) for r in on_way if str(r["account"]).lower() == address.lower()
    )
    left = period.remaining - on_way_all
    if left < reward:
        raise Refused(
            422,
            "period_budget_exhausted",
            f"the reward period has {format_heit(max(left, 0))} HEIT left "
            f"({format_heit(period.remaining)} HEIT not minted yet, of which "
            f"{format_heit(on_way_all)} HEIT is approved and on its way); a reward of "
            f"{format_heit(reward)} HEIT does not fit",
        )
    if earned + on_way_mine + reward > period.cap_per_citizen:
        raise Refused(
            422,
            "citizen_cap_exceeded",
            f"{task['claimed_by_name']} has {format_heit(earned + on_way_mine)} HEIT in this "
            f"reward period ({format_heit(earned)} HEIT minted, {format_heit(on_way_mine)} HEIT "
            f"on its way); {format_heit(reward)} HEIT more would pass the period's cap of "
            f"{format_heit(period.cap_per_citizen)} HEIT per citizen",
        )


def _landed(token: Token, intents: list[sqlite3.Row], block: int) -> set[int]:
    """Ids of the `sent` intents among `intents` whose transaction is in the chain's state at
    `block` (one look per transaction: a batch mints all its rewards or none)."""
    by_tx: dict[str, list[sqlite3.Row]] = {}
    for r in intents:
        if r["status"] == "sent" and r["tx_hash"]:
            by_tx.setdefault(str(r["tx_hash"]), []).append(r)
    landed: set[int] = set()
    for rows in by_tx.values():
        if token.is_task_rewarded(bytes.fromhex(str(rows[0]["ref"])[2:]), block):
            landed.update(int(r["id"]) for r in rows)
    return landed

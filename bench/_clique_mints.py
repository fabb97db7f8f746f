"""The mints part of `network.py`: `--rounds` rounds of N approvals on the Clique network,
each timed until every reward is confirmed and in the mirror, against the chain's ceiling."""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from _common import figure, log, note
from approvals import (
    REWARD,
    Api,
    check_confirmed,
    check_minted,
    prepare,
    reward_txs,
    setup_users,
    timed_batch,
    timed_many,
    wait_outbox,
)
from eth_typing import HexStr
from web3.logs import DISCARD

from heitje.money import parse_heit
from indexer.mirror import Mirror
from node.network import Network
from scripts.replay.demo import NETWORK_CONFIRMATIONS
from scripts.stack import Stack


def wait_mirror_minted(path: Path, units: int, timeout: float = 300.0) -> None:
    """Wait until the mirror's total minted reaches `units` base units."""
    deadline = time.monotonic() + timeout
    with Mirror(path) as mirror:
        while mirror.total_minted() < units:
            if time.monotonic() > deadline:
                raise SystemExit(f"the mirror did not reach {units} minted within {timeout}s")
            time.sleep(0.05)


def how(args: argparse.Namespace) -> str:
    """How the tasks are approved."""
    if args.batch:
        return f"POST /tasks/approvals of {args.batch}"
    return f"{args.threads} client threads, one approval a request"


@dataclass
class Round:
    """One round's figures: mints/s until confirmed and until in the mirror, gas per mint in
    batches, and the blocks from the first to the last mint."""

    sustained: float
    mirrored: float
    per_mint: float
    span: int


def one_round(api: Api, stack: Stack, citizens: list[str], prefix: str, args: argparse.Namespace,
              minted_before: int) -> Round:  # fmt: skip
    """Prepare `args.tasks` tasks (untimed), approve them all, time until confirmed and in the
    mirror, and note how the mints went into blocks."""
    w3 = stack.token.w3
    log(f"mints: round {prefix}: preparing {args.tasks} tasks")
    refs = prepare(api, citizens, prefix, args.tasks)
    log(f"mints: round {prefix}: approving {args.tasks} tasks, {how(args)}")
    first_block = int(w3.eth.block_number)
    started = time.perf_counter()
    if args.batch:
        answered, confirmed = timed_many(api, refs, args.batch)
    else:
        answered, confirmed = timed_batch(api, refs, args.threads)
    wait_mirror_minted(stack.paths.mirror_db, minted_before + parse_heit(REWARD) * len(refs))
    in_mirror = time.perf_counter() - started
    last_block = int(w3.eth.block_number)
    per_tx = Counter(reward_txs(api, refs).values())
    receipts = {tx: w3.eth.get_transaction_receipt(HexStr(tx)) for tx in per_tx}
    blocks = Counter(int(r["blockNumber"]) for r in receipts.values())
    block_gas = {n: int(w3.eth.get_block(n)["gasUsed"]) for n in blocks}
    mined_at = {n: int(w3.eth.get_block(n)["timestamp"]) for n in blocks}
    per_block: Counter[int] = Counter()
    for t, n in per_tx.items():
        per_block[int(receipts[t]["blockNumber"])] += n
    first_at = min(mined_at.values())
    shown = ", ".join(f"{n}: {per_block[n]} (+{mined_at[n] - first_at} s)" for n in sorted(blocks))
    sizes = sorted(per_tx.values())
    note(
        f"round {prefix}: {len(refs)} approve requests answered in {answered:.2f} s "
        f"({len(refs) / answered:.1f}/s); every reward_status confirmed after {confirmed:.2f} s;"
        f" every reward in the mirror ({NETWORK_CONFIRMATIONS} confirmations) after "
        f"{in_mirror:.2f} s"
    )
    note(f"  mints per block (block: mints, seconds after the first): {shown}")
    note(
        f"  {len(per_tx)} transactions (mints per transaction: min {sizes[0]}, median "
        f"{statistics.median(sizes):g}, max {sizes[-1]}) in {len(blocks)} blocks "
        f"({first_block}..{last_block} passed); fullest block used "
        f"{max(block_gas.values()):,} gas"
    )
    gas = sum(int(r["gasUsed"]) for r in receipts.values())
    return Round(
        len(refs) / confirmed, len(refs) / in_mirror, gas / len(refs), max(blocks) - min(blocks) + 1
    )


def mints(args: argparse.Namespace, net: Network, stack: Stack) -> None:
    """`--rounds` rounds (`one_round`), then a task approved alone (a single `mintReward`);
    the medians against the ceilings, and the check that the chain minted every reward."""
    w3 = stack.token.w3
    api = Api(stack.api_url)
    log(f"mints: signing up {args.citizens} citizens")
    started = time.perf_counter()
    citizens = setup_users(api, stack, args.citizens)
    note(
        f"set-up: {args.citizens} citizens signed up and registered on chain in "
        f"{time.perf_counter() - started:.1f} s"
    )
    reward = parse_heit(REWARD)
    rounds: list[Round] = []
    for r in range(args.rounds):
        rounds.append(one_round(api, stack, citizens, f"net{r + 1}", args, reward * r * args.tasks))

    log("mints: one task approved alone (a single mintReward)")
    single = prepare(api, citizens, "single", 1)
    api.call("coord", "POST", f"/tasks/{single[0]}/approve")
    wait_outbox(api, "the single mint")
    check_confirmed(api, single)
    single_receipt = w3.eth.get_transaction_receipt(HexStr(reward_txs(api, single)[single[0]]))
    gas_single = int(single_receipt["gasUsed"])
    minted_event = stack.token.contract.events.RewardMinted()
    single_items = len(minted_event.process_receipt(single_receipt, errors=DISCARD))

    gas_limit = int(w3.eth.get_block("latest")["gasLimit"])
    period = net.period
    per_mint = statistics.median(r.per_mint for r in rounds)
    sustained = statistics.median(r.sustained for r in rounds)
    steady = statistics.median(args.tasks / (r.span * period) for r in rounds)
    ceiling_batched = gas_limit / per_mint / period
    note(
        f"gas: {per_mint:,.0f} per mint in batches (median of the rounds); a single mintReward "
        f"({single_items} reward) used {gas_single:,}; block gas limit {gas_limit:,}, period "
        f"{period} s (from the network's genesis)"
    )
    n = f"median of {len(rounds)}"
    figure(
        f"3 validators, period {period} s, {args.tasks} tasks a round, {how(args)}: reward mints/s "
        f"until confirmed ({n}: {', '.join(f'{r.sustained:.0f}' for r in rounds)})",
        f"{sustained:.1f}",
    )
    figure(
        f"mints/s until in the mirror ({NETWORK_CONFIRMATIONS} confirmations; {n})",
        f"{statistics.median(r.mirrored for r in rounds):.1f}",
    )
    figure(
        f"chain ceiling, batched mints (gas limit / {per_mint:,.0f} gas / {period} s)",
        f"{ceiling_batched:,.0f} mints/s",
    )
    figure(
        f"chain ceiling, single mintReward (gas limit / {gas_single:,} gas / {period} s)",
        f"{gas_limit / gas_single / period:,.0f} mints/s",
    )
    figure(
        f"sustained / batched ceiling ({n}: "
        f"{', '.join(f'{r.sustained / ceiling_batched:.3f}' for r in rounds)})",
        f"{sustained / ceiling_batched:.3f}",
    )
    figure(f"while minting: mints/s over the blocks from first to last mint ({n})", f"{steady:.0f}")
    figure("while minting / batched ceiling", f"{steady / ceiling_batched:.3f}")
    check_minted(stack, reward * (args.rounds * args.tasks + 1))

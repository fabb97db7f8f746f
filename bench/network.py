"""Figures of the permissioned network (issue 4): reward mints per second through the API on a
3-validator geth Clique network against the ceiling the chain allows, and the time a restarted
validator needs to catch up 1,000 blocks.

1. Mints (3 validators, period 1 s, `heitje network init`): the API and the indexer (2
   confirmations, as `heitje demo --rpc-url` runs it) follow node 1. K citizens sign up; N
   tasks are published, claimed and submitted (untimed), then approved with `POST
   /tasks/approvals` of `--batch` refs (0: `--threads` clients, one approval a request),
   timed until every `reward_status` is "confirmed" and until the mirror holds every reward;
   `--rounds` times (default 3), medians (`_clique_mints.py`). N defaults to 12,000 (13 full
   blocks): the ceiling is a throughput, and a burst's time also holds the wait for its first
   block and the two confirmations after its last (about 3 s), which a short burst (4,000:
   five blocks) cannot spread.
   Gas per mint is that of the dispatcher's `mintRewards` receipts divided by N (a task
   approved alone gives a single `mintReward`'s). Ceiling = block gas limit / gas per mint /
   block period; the ratios are the rate end to end, and while minting (N over the blocks
   from the first to the last mint), over that ceiling.
2. Catch-up (a second 3-validator network, period `--catchup-period`, default 0): node 3 is
   stopped, nodes 1 and 2 seal `--catchup-blocks` (default 1,000) blocks, node 3 is started
   again and the clock runs until its head is the others' head (same number and hash). With
   period 0 geth's Clique seals on demand, a block whenever a transaction is pending: the
   benchmark sends one 1-wei transfer, waits for the next block, and repeats, so 1,000 blocks
   take minutes instead of the ~17 min (plus out-of-turn delays) that period 1 needs; a
   restarted node syncs blocks the same way whatever their period. With period 0 the head
   stands still while node 3 catches up, so the target is fixed. `--catchup-period 1` measures
   the production setting the long way.

    .venv/bin/python bench/network.py [--tasks N] [--rounds R] [--batch B] [--citizens K]
        [--threads T] [--catchup-blocks B] [--catchup-period P] [--skip-mints]
        [--skip-catchup] [--keep]

Needs geth 1.13.15 (`make network-setup`).
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _clique_mints import mints
from _common import figure, footer, header, log, note
from eth_account import Account
from web3.types import TxParams, Wei

from node.keys import service_key
from node.network import Network, down, init_network, up
from node.signer import Signer
from node.token import connect
from scripts.replay.demo import NETWORK_CONFIRMATIONS
from scripts.stack import Stack, start_stack


def network_stack(net: Network, data_dir: Path) -> Stack:
    """The one `start_stack`, on the network's node 1 with its service keys."""
    return start_stack(
        data_dir,
        rpc_url=net.rpc_url,
        keys_dir=net.directory / "keys",
        confirmations=NETWORK_CONFIRMATIONS,
        poll=0.1,
        budget=10**15,
        cap_per_citizen=10**13,
        env={
            "HEITJE_ANNUAL_REWARD_CAP": "1000000000.00",
            "HEITJE_MONTHLY_REWARD_CAP": "",  # no monthly cap: the figures are the point
            # every citizen signs up from this machine: the throttle raised, not off
            "HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR": "100000",
            "HEITJE_SIGNUP_PER_HOUR": "100000",
            # one approval per reward: the bench measures minting, not review (four-eyes)
            "HEITJE_FOUR_EYES_THRESHOLD": "",
            "HEITJE_STAFF_SECOND_FACTOR": "false",  # staff log in by API, password only
        },
    )


def bench_mints(args: argparse.Namespace, tmp: Path) -> None:
    log("network: 3 validators, period 1 s")
    net = init_network(tmp / "mints-net", 3, period=1)
    try:
        up(net.directory)
        stack = network_stack(net, tmp / "mints-data")
        try:
            mints(args, net, stack)
        finally:
            stack.stop()
    finally:
        down(net.directory, grace=10)


# ----- catch-up ---------------------------------------------------------------------------------

_LOG_TIME = re.compile(r"^\w+ \[(\d\d)-(\d\d)\|(\d\d):(\d\d):(\d\d)\.(\d{3})\]")


def _log_time(line: str) -> datetime | None:
    m = _LOG_TIME.match(line)
    if m is None:
        return None
    mo, d, h, mi, s, ms = map(int, m.groups())
    return datetime(datetime.now().year, mo, d, h, mi, s, ms * 1000)


def import_span(log_path: Path, offset: int) -> tuple[float, float, int] | None:
    """From node 3's geth log after `offset`: (seconds from its first log line to its first
    imported segment, seconds from the first to the last imported segment, blocks imported)."""
    with log_path.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode(errors="replace").splitlines()
    times = [t for t in map(_log_time, lines) if t is not None]
    imports = [
        (t, int(m.group(1)))
        for line in lines
        if "Imported new chain segment" in line
        and (t := _log_time(line)) is not None
        and (m := re.search(r"blocks=(\d+)", line)) is not None
    ]
    if not times or not imports:
        return None
    first, last = imports[0][0], imports[-1][0]
    return (
        (first - times[0]).total_seconds(),
        (last - first).total_seconds(),
        sum(n for _, n in imports),
    )


def head(url: str) -> tuple[int, str]:
    block = connect(url).eth.get_block("latest")
    return int(block["number"]), "0x" + bytes(block["hash"]).hex()


def seal_blocks(net: Network, count: int, journal: Path) -> float:
    """Let nodes 1 and 2 seal `count` blocks; returns the seconds it took. Period 0: one 1-wei
    transfer per block, the next sent once the block is there. Period > 0: wait."""
    url = net.node(1).rpc_url
    w3 = connect(url)
    start = int(w3.eth.block_number)
    target = start + count
    signer = Signer(w3, service_key(net.directory / "keys", "relayer"), journal)
    recipient = Account.create().address
    started = time.perf_counter()
    last_report = started
    number = start
    while number < target:
        if net.period == 0:
            tx: TxParams = {"to": recipient, "value": Wei(1), "gas": 21_000}
            signer.send(tx)
            deadline = time.monotonic() + 30
            while (now := int(w3.eth.block_number)) == number:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no block after {number} within 30 s: the network stalled")
                time.sleep(0.005)
            number = now
        else:
            time.sleep(0.5)
            number = int(w3.eth.block_number)
        if time.perf_counter() - last_report > 30:
            last_report = time.perf_counter()
            log(f"catch-up: {number - start}/{count} blocks sealed")
    return time.perf_counter() - started


def bench_catchup(args: argparse.Namespace, tmp: Path) -> None:
    blocks, period = args.catchup_blocks, args.catchup_period
    log(f"catch-up: 3 validators, period {period} s")
    net = init_network(tmp / "catchup-net", 3, period=period)
    try:
        up(net.directory)
        # A few blocks with every signer first: at block 1 no signer has signed recently, so
        # with the in-turn signer down both others may seal a block 1 of equal weight at once,
        # and then neither may seal block 2 (a Clique stall, seen here once with period 0).
        seal_blocks(net, 3, tmp / "catchup-nonces.sqlite")
        down(net.directory, 3)
        log(f"catch-up: node 3 stopped; nodes 1 and 2 seal {blocks} blocks")
        behind_at = connect(net.node(1).rpc_url).eth.block_number
        sealing = seal_blocks(net, blocks, tmp / "catchup-nonces.sqlite")
        target_number, _ = head(net.node(1).rpc_url)
        note(
            f"node 3 stopped at block {behind_at}; nodes 1 and 2 sealed "
            f"{target_number - behind_at} blocks in {sealing:.1f} s "
            f"({(target_number - behind_at) / sealing:.1f} blocks/s)"
        )
        log_path = net.log_path(net.node(3))
        offset = log_path.stat().st_size
        log("catch-up: starting node 3")
        started = time.perf_counter()
        up(net.directory, 3)
        running = time.perf_counter() - started
        node1, node3 = connect(net.node(1).rpc_url), connect(net.node(3).rpc_url)
        goal = int(node1.eth.block_number)  # with period 0 the head stands still
        while True:
            number = int(node3.eth.block_number)
            if number >= goal:
                mine, theirs = node3.eth.get_block(goal)["hash"], node1.eth.get_block(goal)["hash"]
                if bytes(mine) == bytes(theirs):
                    break
            if time.perf_counter() - started > 600:
                raise SystemExit(f"node 3 did not catch up within 600 s (at {number}/{goal})")
            time.sleep(0.05)
        caught = time.perf_counter() - started
        behind = goal - int(behind_at)
        note(
            f"`heitje network up --node 3` returned after {running:.1f} s (geth started, key "
            f"unlocked, sealing, peered); node 3 reached block {goal} with the others' hash "
            f"{caught:.1f} s after the start"
        )
        span = import_span(log_path, offset)
        if span is not None:
            wait, importing, imported = span
            note(
                f"node 3's log: first imported segment {wait:.1f} s after its first log line "
                f"(geth syncs with fewer than 5 peers only on its 10 s forced-sync cycle), "
                f"{imported} blocks imported over {importing:.1f} s"
            )
        figure(
            f"restarted validator catches up {behind} blocks (period {period} s), "
            "from start to the same head hash",
            f"{caught:.1f} s",
        )
    finally:
        down(net.directory, grace=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--tasks", type=int, default=12000, help="N, tasks approved a round (default 12000)"
    )
    p.add_argument("--citizens", type=int, default=20, help="K citizens (default 20)")
    p.add_argument("--rounds", type=int, default=3, help="R rounds of N approvals (default 3)")
    p.add_argument(
        "--batch",
        type=int,
        default=100,
        help="refs per POST /tasks/approvals (default 100; 0: one approval a request)",
    )
    p.add_argument("--threads", type=int, default=4, help="approving clients with --batch 0 (4)")
    p.add_argument("--catchup-blocks", type=int, default=1000, help="default 1000")
    p.add_argument(
        "--catchup-period", type=int, default=0, help="period of the catch-up network (default 0)"
    )
    p.add_argument("--skip-mints", action="store_true")
    p.add_argument("--skip-catchup", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the directories (path printed)")
    args = p.parse_args()

    header("network: geth Clique, 3 validators on loopback")
    tmp = Path(tempfile.mkdtemp(prefix="heitje-bench-network-"))
    try:
        if not args.skip_mints:
            bench_mints(args, tmp)
        if not args.skip_catchup:
            bench_catchup(args, tmp)
    finally:
        if args.keep:
            note(f"directories kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    footer("network")


if __name__ == "__main__":
    main()

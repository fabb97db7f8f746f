"""Chaos: rewards and payments while the API is killed, the chain reorganises and the node
misbehaves; then recovery, and the count of money lost, doubled or stuck.

The stack (`scripts.stack.start_stack`) runs against an anvil started here, with the project's
fault-injecting JSON-RPC proxy (`scripts.faults.FaultProxy`) between the services and anvil.
Anvil does not mine by itself (automine off): a miner thread mines a block every
`--block-time` seconds, so the depth of a reorganisation is known exactly. Services count a
transaction at `--confirmations` blocks (default 12, the deepest reorganisation below).

1. Set-up (no faults): staff, citizens and shops sign up and are registered on chain; each
   citizen earns a few rewards, so payments have money to move.
2. Storm: client threads approve tasks (publish, claim, submit, approve) and pay (citizens pay
   shops, shops refund citizens; each payment has its own `Idempotency-Key`), while
   - the chaos thread SIGKILLs the API (and with it the outbox dispatcher) at random moments
     and starts it again (`--kills`, 200; every tenth kill takes the indexer down too), and
     after a kill now and then draws new proxy faults: refused, dropped, delayed and
     duplicated `eth_sendRawTransaction`, and front-running of relayed EIP-3009 payments
     (an attacker key sends the same authorization first);
   - the reorg thread reorganises anvil (`--reorgs`, 24): a snapshot, d blocks mined on top
     (with whatever the services sent meanwhile), a revert to the snapshot (those blocks and
     their transactions are gone), and d + 1 new blocks; d runs through 1..12 in a seeded order.
   Clients keep a model: an approval answered 200 (or `task_already_approved` when the answer
   was lost) is a reward owed; a payment answered 201/202/503 or cut off by the kill is retried
   with its key, now and then during the storm and until final after it.
3. Recovery: faults off, the API restarted cleanly, the outbox waited for (bounded) until no
   intent is pending, sent or blocked, every unfinished payment retried with its key until
   final (bounded), the mirror waited for.
4. Figures: rewards approved vs minted exactly once (per task `isTaskRewarded`, `RewardMinted`
   events per task reference, `totalMinted`), payments answered confirmed vs on chain (each
   confirmed answer's transaction succeeded on the canonical chain and used the payer's
   authorization), payments paid twice (`AuthorizationUsed` per payer against the model, and
   every account's balance against the model), intents still stuck after recovery, mirror
   equal to chain (`scripts.audit.audit`). Exit 0 only when nothing is lost, doubled, paid
   twice or stuck and the mirror equals the chain.

`--network` runs the same on a 3-validator geth Clique network (`make network-setup`; block
period 1 s, 2 confirmations as `heitje demo --rpc-url` uses) instead of anvil: there is no
snapshot to revert to, so instead of reorganisations a validator (node 1, whose RPC the
services use, node 2 or node 3 in turn) is SIGKILLed and started again 1 to 6 s later,
mid-stream; the attacker's key is funded by the admin key.

    .venv/bin/python bench/chaos.py [--short] [--seed N] [--kills N] [--reorgs N] [--network]
        [--confirmations N] [--block-time S] [--recovery-timeout S] [--keep]

`--short` (as `tests/test_chaos.py` runs it): 10 kills, 2 reorgs, fewer users. What the chaos
did when is written to `chaos-events.log` in the kept directory.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _chaos_checks import check
from _chaos_client import Api, Model, finish_payments, open_intents, setup, wait_for
from _chaos_storm import Miner, Plan, Rpc, Storm
from _common import figure, footer, header, log, note
from eth_account import Account
from web3.types import Wei

from heitje.datadir import DataDir
from indexer.mirror import Mirror
from node.anvil import Anvil, dev_private_key
from node.keys import service_key
from node.network import down, geth_binary, init_network, up
from node.signer import Signer
from node.token import connect
from scripts.deploy import ensure_dev_keys
from scripts.faults import FaultProxy, Faults
from scripts.replay.demo import NETWORK_CONFIRMATIONS
from scripts.stack import Stack, start_stack

ATTACKER_INDEX = 9  # a funded anvil dev account that is no service key (those are 0..5)


def plan_from(args: argparse.Namespace) -> Plan:
    short = bool(args.short)
    return Plan(
        kills=args.kills if args.kills is not None else (10 if short else 200),
        reorgs=args.reorgs if args.reorgs is not None else (2 if short else 24),
        citizens=3 if short else 6,
        shops=2 if short else 3,
        approvers=1 if short else 2,
        payers=2 if short else 3,
        funding_tasks=3,
        confirmations=args.confirmations,
        block_time=args.block_time,
        pause=(0.5, 3.0),
        front_runs=3 if short else 20,
        recovery_timeout=args.recovery_timeout,
        seed=args.seed,
    )


@dataclass
class Chain:
    """The chain the stack runs on: its node's URL (not through the proxy), the funded service
    keys, the attacker's key, anvil's miner or the Clique network's directory."""

    url: str
    keys_dir: Path
    attacker_key: str
    stop: Callable[[], None]
    miner: Miner | None = None
    network: Path | None = None


def start_anvil(tmp: Path, plan: Plan) -> Chain:
    """Anvil with dev keys, automine off and the miner started."""
    chain_dir = tmp / "chain-home"
    anvil = Anvil(chain_dir)
    rpc = Rpc(anvil.start())
    miner = Miner(rpc, plan.block_time)

    def stop() -> None:
        miner.stopping.set()
        anvil.stop()
        rpc.close()

    try:
        ensure_dev_keys(chain_dir)
        rpc("evm_setAutomine", [False])
        miner.start()
    except BaseException:
        stop()
        raise
    key = dev_private_key(chain_dir, ATTACKER_INDEX)
    return Chain(anvil.rpc_url, DataDir(chain_dir).keys, key, stop, miner=miner)


def start_network(tmp: Path) -> Chain:
    """A 3-validator Clique network (period 1 s); the attacker funded by the admin key."""
    geth_binary()  # NetworkError geth_missing without `make network-setup`
    net = init_network(tmp / "net", 3, period=1)
    up(net.directory)

    def stop() -> None:
        down(net.directory, grace=10)

    try:
        attacker = Account.create()
        keys = net.directory / "keys"
        admin = Signer(connect(net.rpc_url), service_key(keys, "admin"), tmp / "funding.sqlite")
        admin.transact({"to": attacker.address, "value": Wei(10**18)}, timeout=120)
    except BaseException:
        stop()
        raise
    key = "0x" + bytes(attacker.key).hex()
    return Chain(net.rpc_url, keys, key, stop, network=net.directory)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--short", action="store_true", help="10 kills, 2 reorgs, fewer users")
    p.add_argument("--seed", type=int, default=2024, help="seed of every random choice")
    p.add_argument("--kills", type=int, help="SIGKILLs of the API (default 200; --short 10)")
    p.add_argument(
        "--reorgs",
        type=int,
        help="reorganisations, or with --network validator restarts (default 24; --short 2)",
    )
    p.add_argument(
        "--confirmations",
        type=int,
        help=f"confirmation depth of the services (12; --network {NETWORK_CONFIRMATIONS})",
    )
    p.add_argument("--block-time", type=float, default=0.2, help="seconds per block (0.2)")
    p.add_argument(
        "--recovery-timeout", type=float, default=180.0, help="bound of each recovery wait (s)"
    )
    p.add_argument(
        "--network",
        action="store_true",
        help="a 3-validator geth Clique network instead of anvil (`make network-setup`)",
    )
    p.add_argument("--keep", action="store_true", help="keep the data dir (path printed)")
    args = p.parse_args()
    # SIGTERM (a supervisor, a time-out) ends the run like Ctrl-C: children stopped, dir kept
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.confirmations is None:
        args.confirmations = NETWORK_CONFIRMATIONS if args.network else 12
    plan = plan_from(args)

    header("chaos: kills, reorgs, node faults and front-running during approvals and payments")
    chain_label = (
        "a 3-validator Clique network, a block every 1 s, validator restarts"
        if args.network
        else f"anvil, a block every {plan.block_time} s, reorgs"
    )
    note(
        f"seed {plan.seed}; {plan.kills} kills, {plan.reorgs} {chain_label.rsplit(', ', 1)[1]}; "
        f"{plan.citizens} citizens, {plan.shops} shops; {plan.approvers} approving and "
        f"{plan.payers} paying client threads; {chain_label.rsplit(', ', 1)[0]}, "
        f"{plan.confirmations} confirmations"
    )
    wall = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="heitje-bench-chaos-"))
    data_dir = tmp / "data"
    code = 1
    stack: Stack | None = None
    proxy: FaultProxy | None = None
    chain = start_network(tmp) if args.network else start_anvil(tmp, plan)
    rpc = Rpc(chain.url)
    try:
        faults = Faults(seed=plan.seed, front_run_key=chain.attacker_key)
        proxy = FaultProxy(chain.url, faults).start()
        log("chaos: starting the stack behind the fault proxy")
        stack = start_stack(
            data_dir,
            rpc_url=proxy.url,
            keys_dir=chain.keys_dir,
            confirmations=plan.confirmations,
            env={
                "HEITJE_ANNUAL_REWARD_CAP": "1000000000.00",
                "HEITJE_MONTHLY_REWARD_CAP": "",  # no monthly cap: the figures are the point
                "HEITJE_INTENT_RETRY_MAX": "5",
                "HEITJE_RECEIPT_TIMEOUT": "30",
                # every client signs up from this machine: the throttle raised, not off
                "HEITJE_SIGNUP_PER_ADDRESS_PER_HOUR": "1000",
                "HEITJE_SIGNUP_PER_HOUR": "1000",
                # one approval per reward: the bench measures minting, not review (four-eyes)
                "HEITJE_FOUR_EYES_THRESHOLD": "",
                "HEITJE_STAFF_SECOND_FACTOR": "false",  # staff log in by API, password only
            },
        )
        api = Api(stack.api_url)
        model = Model()
        log("chaos: signing up users, first rewards")
        citizens, shops = setup(api, stack, model, plan.citizens, plan.shops, plan.funding_tasks)
        storm = Storm(api, stack, proxy, rpc, chain.miner, model, plan, citizens, shops)
        storm.network = chain.network
        log("chaos: storm")
        storm_seconds = storm.run()

        log("chaos: recovery: waiting for the outbox")
        recovery = time.monotonic()
        if chain.network is not None:
            up(chain.network)  # every validator running
        wait_for("an empty outbox", lambda: open_intents(api) == [], plan.recovery_timeout, 0.5)
        stuck_intents = open_intents(api)
        log("chaos: recovery: finishing payments")
        finish_payments(api, model, plan.recovery_timeout)
        target = rpc.head() - plan.confirmations
        with Mirror(DataDir(data_dir).mirror_db) as mirror:
            mirror_ok = wait_for(
                "the mirror",
                lambda: (mirror.checkpoint_block() or 0) >= target,
                plan.recovery_timeout,
            )
        recovery_seconds = time.monotonic() - recovery
        findings = check(storm, chain.url, stuck_intents, mirror_ok)
        (tmp / "chaos-events.log").write_text("\n".join(storm.events) + "\n")

        for label, value in findings.lines:
            figure(label, value)
        fired = proxy.faults.fired
        figure(
            "faults fired",
            ", ".join(f"{k} {v}" for k, v in fired.items())
            + f" ({len(proxy.faults.front_runs)} attacker transactions sent)",
        )
        chain_faults = (
            f"{len(storm.validator_restarts)} validator restarts (nodes "
            f"{sorted(storm.validator_restarts)})"
            if chain.network is not None
            else f"{len(storm.reorg_depths)} reorgs, depths {sorted(storm.reorg_depths)}"
        )
        figure(
            "kills and reorgs",
            f"API killed {storm.kills} times (indexer {storm.indexer_kills}); {chain_faults}",
        )
        approved = sum(t.approved for t in model.tasks)
        figure(
            "wall time",
            f"{time.monotonic() - wall:.0f} s (storm {storm_seconds:.0f} s, recovery "
            f"{recovery_seconds:.0f} s); {approved} approvals, {len(model.payments)} payments",
        )
        if storm.restart_seconds:
            rs = sorted(storm.restart_seconds)
            note(
                f"API restarts: median {rs[len(rs) // 2]:.1f} s, max {rs[-1]:.1f} s; "
                f"{storm.restarts_failed} failed starts; {storm.profiles} fault profiles drawn"
            )
        if api.server_errors:
            note(f"5xx answers during the run: {dict(api.server_errors.most_common())}")
        for e in storm.errors:
            findings.failures.append(e)
        for d in findings.details[:40]:
            note(d)
        if findings.failures:
            note("RESULT: FAIL: " + "; ".join(findings.failures))
            args.keep = True
        else:
            note("RESULT: PASS (0 lost, 0 doubled, 0 paid twice, 0 stuck, mirror equal)")
            code = 0
    except BaseException as e:
        args.keep = True
        note(f"RESULT: FAIL: {e!r}")
        raise
    finally:
        if stack is not None:
            stack.stop()
        if proxy is not None:
            proxy.stop()
        chain.stop()
        rpc.close()
        if args.keep:
            note(f"data dir kept (logs in data/logs/, the chaos in chaos-events.log): {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        footer("chaos")
    sys.exit(code)


if __name__ == "__main__":
    main()

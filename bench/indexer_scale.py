"""Indexer at scale: events/s and peak RSS from an empty mirror to head, against a baseline.

Fills one anvil chain with N kept token events (real logs: `mintRewards` batches of `--batch`
rewards sent with the deployer's minter key, one transaction a block, two logs each, `Transfer`
and `RewardMinted`; plus the `AccountRegistered` of the citizens), then, for each N, runs
alternately (`--runs` times each, interleaved, in child processes so each RSS is its own):

- the indexer: `Indexer(...).sync_once()` from an empty mirror file to the head;
- the baseline: the project's own small script doing the same work with nothing extra:
  `eth_getLogs` over fixed block ranges sized for this chain (about `BASELINE_LOGS` logs a call,
  known in advance), one JSON-RPC batch of `eth_getBlockByNumber` for the timestamps, decode,
  `sqlite3` `executemany` into the same schema (`indexer/baseline.py`), rows, headers and checkpoint
  in one transaction per range.

Each figure is the median; the ratio is indexer / baseline events/s. Peak RSS is sampled by
psutil every 10 ms (the child's own `ru_maxrss` is printed beside it). Both results are checked
to hold the same rows. The chain grows from one N to the next (10k, 100k; `--full`: 1M too).

    .venv/bin/python bench/indexer_scale.py [--sizes 10000 100000] [--full] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from _common import REPO, figure, footer, header, log, median, note

from indexer.baseline import count_rows, fingerprint

MIB = 1024 * 1024
BASELINE_LOGS = 5_000
"""Logs per `eth_getLogs` call the baseline aims at (it knows the chain's density)."""
CITIZENS = 400
GAS_PER_REWARD = 90_000
"""Gas a `mintRewards` transaction is given per reward (it uses about half), plus 100,000."""


# ----- the two sides (the baseline is indexer/baseline.py) -----


def indexer(rpc_url: str, token: str, start: int, path: Path) -> int:
    """Index `start..head` with the project's indexer; returns the number of event rows."""
    from indexer.index import Indexer
    from node.token import connect

    ix = Indexer(connect(rpc_url), token, path, start)
    ix.sync_once()
    ix.close()
    return count_rows(path)


def child(args: argparse.Namespace) -> None:
    """Run one side in this (child) process and print its result as JSON."""
    if args.indexer_path:  # measure another copy of the indexer package (the "before" figure)
        sys.path.insert(0, args.indexer_path)
        for name in [m for m in sys.modules if m == "indexer" or m.startswith("indexer.")]:
            del sys.modules[name]
    import indexer as package  # noqa: F401 (imports before the clock starts)
    from indexer.index import Indexer  # noqa: F401
    from node.token import connect  # noqa: F401

    path = Path(args.mirror)
    started = time.perf_counter()
    if args.child == "baseline":
        from indexer.baseline import baseline

        events = baseline(args.rpc, args.token, args.start, args.head, path, args.span)
    else:
        events = indexer(args.rpc, args.token, args.start, path)
    seconds = time.perf_counter() - started
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"events": events, "seconds": seconds, "maxrss": maxrss}))


# ----- the chain -----


class Chain:
    """An anvil with the token deployed, a reward period and `CITIZENS` registered citizens."""

    def __init__(self, data: Path, batch: int) -> None:
        from eth_account import Account

        from heitje.datadir import DataDir
        from node.anvil import Anvil
        from node.contract import AccountKind
        from node.keys import service_key
        from node.signer import Signer
        from node.token import Token, connect
        from scripts.deploy import deploy, ensure_dev_keys, open_reward_period

        self.anvil = Anvil(data)
        _start_without_state(self.anvil, gas_limit=max(30_000_000, _gas(batch) + 1_000_000))
        self.w3 = connect(self.anvil.rpc_url)
        ensure_dev_keys(data)
        manifest = deploy(self.w3, data)
        self.deploy_block = manifest.deploy_block
        open_reward_period(self.w3, data, budget=10**15, cap_per_citizen=10**13)
        self.token = Token(self.w3, manifest.token)
        paths = DataDir(data)
        registrar = Signer(self.w3, service_key(paths.keys, "registrar"), paths.nonce_journal)
        self.citizens = [Account.create().address for _ in range(CITIZENS)]
        for i in range(0, CITIZENS, 100):
            registrar.transact(
                self.token.register_accounts_tx(self.citizens[i : i + 100], AccountKind.CITIZEN)
            )
        self.minter = service_key(paths.keys, "minter")
        self.nonce = int(self.w3.eth.get_transaction_count(self.minter.address))
        self.rewards = 0
        self.minted = 0
        self.events = CITIZENS  # AccountRegistered

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    def stop(self) -> None:
        self.anvil.stop()

    def fill(self, events: int, batch: int) -> float:
        """Mint until the chain holds `events` kept events; returns the seconds it took."""
        from eth_utils.crypto import keccak

        started = time.perf_counter()
        chain_id = self.w3.eth.chain_id
        last = None
        shown = self.events // 100_000
        while self.events < events:
            n = min(batch, max(1, (events - self.events + 1) // 2))
            items = []
            for _ in range(n):
                self.rewards += 1
                amount = 100 + self.rewards % 997
                to = self.citizens[self.rewards % CITIZENS]
                items.append((to, amount, keccak(text=f"bench reward {self.rewards}")))
                self.minted += amount
            tx = dict(self.token.mint_rewards_tx(items))
            tx.update(
                {
                    "from": self.minter.address,
                    "nonce": self.nonce,
                    "gas": _gas(n),
                    "maxFeePerGas": 50 * 10**9,
                    "maxPriorityFeePerGas": 10**9,
                    "chainId": chain_id,
                }
            )
            signed = self.minter.sign_transaction(tx)  # type: ignore[arg-type]
            last = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            self.nonce += 1
            self.events += 2 * n
            if self.nonce % 10 == 0:  # keep anvil's backlog short: wait for this one
                self.w3.eth.wait_for_transaction_receipt(last, timeout=600)
                if self.events // 100_000 > shown:
                    shown = self.events // 100_000
                    rss = psutil.Process(self.anvil.process.pid).memory_info().rss  # type: ignore[union-attr]
                    log(f"  filled {self.events:,} events; anvil RSS {rss / MIB:,.0f} MiB")
        if last is not None:
            receipt = self.w3.eth.wait_for_transaction_receipt(last, timeout=600)
            assert receipt["status"] == 1, "a mint batch reverted"
        assert self.token.total_minted() == self.minted, "not every mint batch was mined"
        return time.perf_counter() - started


def _gas(rewards: int) -> int:
    """Gas limit of a `mintRewards` transaction of `rewards` rewards."""
    return GAS_PER_REWARD * rewards + 100_000


def _start_without_state(anvil: Any, gas_limit: int) -> None:
    """Start `anvil` as `node.anvil.Anvil` does, but without its state file and historical
    states, and with a block gas limit of `gas_limit`.

    Dumping the state file every 5 s stalls anvil for seconds once it holds a million events,
    and every historical state is a full copy of the contract's storage (one slot more per
    reward): kept, they grew anvil to 3 GiB at 200,000 events, 1 GiB more every 50,000 (and
    so past the machine's memory before 1M); `--prune-history` keeps none (the indexer and
    the baseline only read logs and headers). Anvil also rebuilds the whole state trie for
    each block (about 0.4 s a block at 300,000 events), so the chain is filled with few,
    large blocks (`--batch`, above the default 30M gas when needed). Otherwise this would
    measure anvil, not the indexer."""
    real = subprocess.Popen
    dropped = {"--state": 1, "--state-interval": 1, "--preserve-historical-states": 0}
    added = ["--prune-history", "--gas-limit", str(gas_limit)]

    def popen(cmd: list[str], *args: Any, **kwargs: Any) -> Any:
        kept, skip = [], 0
        for arg in cmd:
            if skip:
                skip -= 1
            elif arg in dropped:
                skip = dropped[arg]
            else:
                kept.append(arg)
        return real(kept + added, *args, **kwargs)

    subprocess.Popen = popen  # type: ignore[assignment,misc]
    try:
        anvil.start()
    finally:
        subprocess.Popen = real  # type: ignore[misc]


# ----- runs -----


def run_child(
    side: str, chain: Chain, directory: Path, head: int, span: int, indexer_path: str | None
) -> dict[str, Any]:
    mirror = directory / f"{side}-{time.monotonic_ns()}.sqlite"
    cmd = [
        sys.executable, __file__, "--child", side, "--rpc", chain.rpc_url,
        "--token", chain.token.address, "--start", str(chain.deploy_block),
        "--head", str(head), "--span", str(span), "--mirror", str(mirror),
    ]  # fmt: skip
    if indexer_path and side == "indexer":
        cmd += ["--indexer-path", indexer_path]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, env={**os.environ})
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.01)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{side} run failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    result["peak"] = peak
    result["fingerprint"] = fingerprint(mirror)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{mirror}{suffix}").unlink(missing_ok=True)
    return result


def measure(
    chain: Chain, directory: Path, runs: int, span: int, indexer_path: str | None
) -> dict[str, list[dict[str, Any]]]:
    head = int(chain.w3.eth.block_number)
    results: dict[str, list[dict[str, Any]]] = {"baseline": [], "indexer": []}
    for i in range(runs):
        order = ("baseline", "indexer") if i % 2 == 0 else ("indexer", "baseline")
        for side in order:
            r = run_child(side, chain, directory, head, span, indexer_path)
            results[side].append(r)
            log(
                f"  {side}: {r['events']:,} events in {r['seconds']:.2f} s, "
                f"peak {r['peak'] / MIB:.1f} MiB"
            )
    fingerprints = {r["fingerprint"] for rs in results.values() for r in rs}
    assert len(fingerprints) == 1, f"the runs disagree: {fingerprints}"
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--full", action="store_true", help="add N = 1,000,000")
    p.add_argument("--runs", type=int, default=3, help="runs of each side per size")
    p.add_argument("--full-runs", type=int, help="runs of each side for 1M (default: --runs)")
    p.add_argument(
        "--batch", type=int, default=900, help="rewards per mintRewards transaction and block"
    )
    p.add_argument("--indexer-path", help="a directory holding another `indexer` package")
    p.add_argument("--child", choices=["baseline", "indexer"], help=argparse.SUPPRESS)
    for name in ("--rpc", "--token", "--mirror"):
        p.add_argument(name, help=argparse.SUPPRESS)
    for name in ("--start", "--head", "--span"):
        p.add_argument(name, type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return

    sizes = sorted(set(args.sizes + ([1_000_000] if args.full else [])))
    header("indexer_scale: empty mirror to head, indexer vs eth_getLogs + executemany baseline")
    span = max(1, round(BASELINE_LOGS / (2 * args.batch)))
    note(
        f"{args.batch} rewards per block ({2 * args.batch} logs); baseline: {span} blocks per "
        f"eth_getLogs; {args.runs} runs each, interleaved"
    )
    if args.indexer_path:
        note(f"indexer package from {args.indexer_path}")
    with tempfile.TemporaryDirectory(prefix="heitje-bench-indexer-") as tmp:
        directory = Path(tmp)
        chain = Chain(directory / "stack", args.batch)
        try:
            for n in sizes:
                log(f"indexer_scale: filling the chain to {n:,} events")
                filled = chain.fill(n, args.batch)
                started = time.perf_counter()
                runs = args.full_runs if n >= 1_000_000 and args.full_runs else args.runs
                results = measure(chain, directory, runs, span, args.indexer_path)
                took = time.perf_counter() - started
                base = median([r["events"] / r["seconds"] for r in results["baseline"]])
                ours = median([r["events"] / r["seconds"] for r in results["indexer"]])
                events = results["indexer"][0]["events"]
                label = f"{events:,} events"
                figure(f"{label}: indexer events/s", f"{ours:,.0f}")
                figure(f"{label}: baseline events/s", f"{base:,.0f}")
                figure(f"{label}: ratio indexer/baseline", f"{ours / base:.2f}")
                peak = median([r["peak"] for r in results["indexer"]]) / MIB
                figure(f"{label}: indexer peak RSS", f"{peak:.1f} MiB")
                note(
                    f"{label}: baseline peak RSS "
                    f"{median([r['peak'] for r in results['baseline']]) / MIB:.1f} MiB; "
                    "indexer ru_maxrss "
                    f"{max(r['maxrss'] for r in results['indexer']) / MIB:.1f} MiB; "
                    f"{runs} runs each; chain filled in {filled:.0f} s, measured in {took:.0f} s"
                )
        finally:
            chain.stop()
    footer("indexer_scale")


if __name__ == "__main__":
    main()

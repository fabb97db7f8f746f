"""The chaos benchmark's storm (`bench/chaos.py`): client threads approving and paying while the
chaos thread kills the API and draws proxy faults, and the chain-fault thread reorganises anvil
(or kills and restarts a Clique validator)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _chaos_client import Api, Model, Payment, Task, attempt, lifecycle
from _common import log

from heitje.money import parse_heit
from node.network import kill, up
from scripts.faults import FaultProxy
from scripts.stack import ServiceStartError, Stack, start_indexer

REFUSALS = (
    "insufficient funds for gas * price + value",
    "replacement transaction underpriced",
    "nonce too low",
    "txpool is full",
)
"""Node refusals the proxy answers (each handled differently by the transaction manager)."""


@dataclass
class Plan:
    """What one run does (`bench/chaos.py` options; `--short` picks the small one)."""

    kills: int
    reorgs: int
    citizens: int
    shops: int
    approvers: int
    payers: int
    funding_tasks: int
    confirmations: int
    block_time: float
    pause: tuple[float, float]  # seconds between a restart and the next kill
    front_runs: int  # payments front-run for sure (more at the rates the profiles draw)
    recovery_timeout: float
    seed: int


# ----- the chain: raw JSON-RPC to anvil, the miner -----


class Rpc:
    """JSON-RPC straight to anvil (not through the proxy), one keep-alive connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(timeout=30)
        self._lock = threading.Lock()

    def __call__(self, method: str, params: list[Any] | None = None) -> Any:
        with self._lock:
            reply = self._http.post(
                self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
            ).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def head(self) -> int:
        return int(self("eth_blockNumber"), 16)

    def close(self) -> None:
        self._http.close()


class Miner(threading.Thread):
    """Mines one block every `interval` seconds (anvil's automine is off). Holding `lock`
    stops it (the reorg thread mines by hand meanwhile)."""

    def __init__(self, rpc: Rpc, interval: float) -> None:
        super().__init__(name="miner", daemon=True)
        self.rpc = rpc
        self.interval = interval
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.errors = 0

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            with self.lock:
                try:
                    self.rpc("evm_mine")
                except Exception:
                    self.errors += 1


# ----- the storm -----


@dataclass
class Storm:
    api: Api
    stack: Stack
    proxy: FaultProxy
    rpc: Rpc
    miner: Miner | None  # anvil's miner; None on the Clique network
    model: Model
    plan: Plan
    citizens: list[str]
    shops: list[str]
    over: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)
    kills: int = 0
    indexer_kills: int = 0
    restarts_failed: int = 0
    restart_seconds: list[float] = field(default_factory=list)
    reorg_depths: list[int] = field(default_factory=list)
    network: Path | None = None  # the Clique network's directory (`--network`)
    validator_restarts: list[int] = field(default_factory=list)
    profiles: int = 0
    errors: list[str] = field(default_factory=list)
    refunded: set[int] = field(default_factory=set)  # payment ids a refund named
    events: list[str] = field(default_factory=list)  # what the chaos did when (events log)

    def event(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S") + f".{int(time.time() * 1000) % 1000:03d}"
        self.events.append(f"{stamp} {text}")

    def restart_api(self) -> None:
        for _ in range(3):
            started = time.monotonic()
            try:
                self.stack.restart_api()
            except ServiceStartError as e:
                self.restarts_failed += 1
                self.errors.append(f"API restart: {e}")
                continue
            self.restart_seconds.append(time.monotonic() - started)
            self.api.up.set()
            return
        self.abort.set()
        raise RuntimeError("the API did not come back after three starts")

    def restart_indexer(self) -> None:
        self.stack.indexer.kill()
        self.indexer_kills += 1
        self.stack.indexer = start_indexer(
            self.stack.data_dir,
            self.stack.rpc_url,
            confirmations=self.plan.confirmations,
            poll=0.05,
        )

    def faults_profile(self, rng: random.Random) -> None:
        """Draw the next proxy faults: none, or some of each kind at random rates."""
        f = self.proxy.faults
        self.profiles += 1
        if rng.random() < 0.3:
            rate, left = f.front_run_rate, f.front_run
            f.off()  # no faults for a while, but the front-runs still owed
            f.front_run, f.front_run_rate = left, rate if rng.random() < 0.5 else 0.0
        else:
            f.refuse_message = rng.choice(REFUSALS)
            f.refuse_rate = rng.choice((0.0, 0.05, 0.15))
            f.drop_rate = rng.choice((0.0, 0.05, 0.15))
            f.duplicate_rate = rng.choice((0.0, 0.1, 0.3))
            f.delay = rng.choice((0.0, 0.3, 1.5))
            f.delay_rate = 0.3
            f.front_run_rate = rng.choice((0.0, 0.2, 0.5))
        self.event(
            f"faults: refuse {f.refuse_rate} ({f.refuse_message!r}), drop {f.drop_rate}, "
            f"duplicate {f.duplicate_rate}, delay {f.delay} s at {f.delay_rate}, "
            f"front-run {f.front_run_rate} (+{f.front_run} owed)"
        )

    def chaos(self) -> None:
        """Kill -9 the API at random moments, start it again; faults drawn anew now and then."""
        rng = random.Random(self.plan.seed * 7 + 1)
        try:
            for i in range(self.plan.kills):
                if self.abort.is_set():
                    break
                time.sleep(rng.uniform(*self.plan.pause))
                if rng.random() < 0.5:
                    self.faults_profile(rng)
                self.api.up.clear()
                self.stack.api.kill()
                self.kills += 1
                self.event(f"API killed (kill {self.kills})")
                if (i + 1) % 10 == 0:
                    self.restart_indexer()
                    self.event("indexer killed and started again")
                time.sleep(rng.uniform(0.0, 0.5))
                self.restart_api()
                self.event("API answers again")
                if self.kills % 10 == 0:
                    log(f"chaos: {self.kills}/{self.plan.kills} kills")
        except Exception as e:
            self.errors.append(f"chaos thread: {e!r}")
            self.abort.set()

    def chain_faults(self) -> None:
        """`plan.reorgs` chain faults spread over the kills, each at a random moment while the
        API answers: anvil reorganised (depths 1..12 in a seeded order), or on the Clique
        network a validator SIGKILLed and started again."""
        rng = random.Random(self.plan.seed * 11 + 2)
        depths: list[int] = []
        try:
            for j in range(self.plan.reorgs):
                if self.plan.kills:
                    due = (j + 1) * self.plan.kills / (self.plan.reorgs + 1)
                    while self.kills < due and not self.abort.is_set():
                        time.sleep(0.05)
                    self.api.up.wait(120)
                time.sleep(rng.uniform(0.2, 2.0) if self.plan.kills else rng.uniform(2.0, 6.0))
                if self.abort.is_set():
                    return
                if self.network is not None:
                    self.restart_validator(1 + j % 3, rng.uniform(1.0, 6.0))
                    continue
                if not depths:
                    depths = list(range(1, 13))
                    rng.shuffle(depths)
                self.reorg(depths.pop())
                log(f"chaos: reorg {j + 1}/{self.plan.reorgs}, depth {self.reorg_depths[-1]}")
        except Exception as e:
            self.errors.append(f"chain fault thread: {e!r}")
            self.abort.set()

    def reorg(self, d: int) -> None:
        """Anvil: a snapshot, `d` blocks mined on top (with what the services send meanwhile),
        back to the snapshot (those blocks and their transactions are gone), `d` + 1 blocks."""
        assert self.miner is not None
        bt = self.plan.block_time
        with self.miner.lock:
            self.event(f"reorg of depth {d} from block {self.rpc.head()}")
            snapshot = self.rpc("evm_snapshot")
            for _ in range(d):
                time.sleep(bt)
                self.rpc("evm_mine")
            if self.rpc("evm_revert", [snapshot]) is not True:
                raise RuntimeError("evm_revert refused")
            self.event(f"reverted to block {self.rpc.head()} (depth {d})")
            for _ in range(d + 1):  # a longer chain takes the old one's place
                time.sleep(bt / 2)
                self.rpc("evm_mine")
        self.reorg_depths.append(d)

    def restart_validator(self, index: int, down_for: float) -> None:
        """The Clique network: SIGKILL validator `index`, start it again `down_for` s later."""
        assert self.network is not None
        kill(self.network, index)
        self.event(f"validator {index} killed")
        time.sleep(down_for)
        up(self.network, index)
        self.event(f"validator {index} started again after {down_for:.1f} s")
        self.validator_restarts.append(index)
        log(f"chaos: validator {index} restarted ({len(self.validator_restarts)})")

    def approver(self, n: int) -> None:
        rng = random.Random(self.plan.seed * 13 + n)
        http = httpx.Client(base_url=self.api.base_url, timeout=90)
        i = 0
        try:
            while not self.over.is_set():
                citizen = self.citizens[(n + i) % len(self.citizens)]
                reward = parse_heit(rng.choice(("1.00", "2.50", "5.00", "7.25")))
                task = Task(f"chaos-{n}-{i:05d}", citizen, reward)
                self.model.add_task(task)
                lifecycle(self.api, http, task)
                i += 1
                time.sleep(rng.uniform(0.0, 0.02))
        except Exception as e:
            self.errors.append(f"approver {n}: {e!r}")
        finally:
            http.close()

    def payer(self, n: int, payers: list[str]) -> None:
        rng = random.Random(self.plan.seed * 17 + n)
        http = httpx.Client(base_url=self.api.base_url, timeout=90)
        open_: list[Payment] = []
        try:
            while not self.over.is_set():
                if open_ and rng.random() < 0.4:
                    p = open_.pop(0)
                else:
                    payer = rng.choice(payers)
                    key = str(uuid.UUID(int=rng.getrandbits(128)))
                    if payer in self.shops:  # a refund: of a confirmed payment, at most all of it
                        paid = self.model.refundable(payer, self.refunded)
                        if paid is None:
                            time.sleep(0.05)
                            continue
                        units = rng.randint(1, paid.units)
                        assert paid.id is not None
                        p = Payment(key, payer, paid.payer, units, refund_of=[paid.id])
                    else:
                        payee = rng.choice(self.shops)
                        units = rng.randint(1, 200)
                        p = Payment(key, payer, payee, units)
                    self.model.add_payment(p)
                attempt(self.api, http, p)
                if not p.final:
                    open_.append(p)
                time.sleep(rng.uniform(0.0, 0.05))
        except Exception as e:
            self.errors.append(f"payer {n}: {e!r}")
        finally:
            http.close()

    def run(self) -> float:
        """The storm; returns its seconds."""
        started = time.monotonic()
        workers = [
            threading.Thread(target=self.approver, args=(n,), name=f"approver{n}", daemon=True)
            for n in range(self.plan.approvers)
        ]
        everyone = self.citizens + self.shops
        for n in range(self.plan.payers):
            mine = everyone[n :: self.plan.payers]
            workers.append(
                threading.Thread(target=self.payer, args=(n, mine), name=f"payer{n}", daemon=True)
            )
        self.proxy.faults.front_run = self.plan.front_runs
        chaos = threading.Thread(target=self.chaos, name="chaos", daemon=True)
        reorgs = threading.Thread(target=self.chain_faults, name="chain-faults", daemon=True)
        for t in (*workers, chaos, reorgs):
            t.start()
        chaos.join()
        reorgs.join()
        seconds = time.monotonic() - started
        self.over.set()
        self.proxy.faults.off()
        self.event("storm over: faults off")
        log("chaos: storm over; faults off, API restarted cleanly")
        self.api.up.clear()
        self.restart_api()
        for t in workers:
            t.join(timeout=self.plan.recovery_timeout)
            if t.is_alive():
                self.errors.append(f"{t.name} did not finish within the recovery timeout")
        return seconds

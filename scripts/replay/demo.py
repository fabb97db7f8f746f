"""Replay a programme year (heitje-scenario/1) through the real product.

Starts a fresh embedded chain (or uses `rpc_url`), deploys the token, starts the indexer and the
API as child processes, then plays every event as that user's own client would over HTTP:
coordinators publish and judge tasks, citizens claim, submit and pay, shops refund and redeem;
the finance officer settles (`domain.settlement.run_settlement`). Then it audits and returns the
report described in shared/scenarios/README.md (a JSON-ready dict).

The API runs in rehearsal mode: each request carries the event's time (`X-Heitje-Time`), so the
yearly cap counts the scenario's calendar years. Chain time stays real; settlement cuts off by
chain position (`through_block`): the head block reached when the last event at or before the
settle's `through` was replayed, or the block of the last redemption at or before `through` if
that is later (a block the network replaced may have moved it).

On an external chain (`rpc_url`, e.g. the geth Clique network of `heitje network`) the service
keys come from `keys_dir` (the network's `DIR/keys`, written by `heitje network init`) and are
copied into the data dir; only standard JSON-RPC is used. The indexer stays `confirmations`
blocks behind the head (default 2 there, 0 on the embedded anvil chain), so a block Clique
replaces (an out-of-turn block that lost to the in-turn one) never reaches the mirror; the
replay waits for the chain to grow that far past a settlement's cut-off, and before a citizen
or shop pays or redeems, for the last transaction that changed its balance to be that deep (the
API checks the balance against the head, which such a replaced block could briefly lack).
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from eth_typing import HexStr
from web3.exceptions import TransactionNotFound

from domain.settlement import run_settlement
from heitje.errors import ConfigError, HeitjeError, InvalidAmount
from heitje.money import format_eur, format_heit, parse_heit
from indexer.mirror import Mirror
from node.token import Token
from scripts.audit import audit
from scripts.replay.client import Client, Refusal
from scripts.replay.scenario import Scenario, load_scenario
from scripts.stack import Stack, start_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCENARIO = REPO_ROOT / "scenarios" / "example-year.json"

NETWORK_CONFIRMATIONS = 2
"""The indexer's confirmation depth on an external chain: geth Clique replaces at most the newest
block or two (an out-of-turn block that lost to the in-turn one)."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _mirror_block(mirror: Mirror) -> int:
    cp = mirror.checkpoint()
    return -1 if cp is None else cp.block_number


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise HeitjeError(f"timed out waiting for {what}", code="replay_timeout")
        time.sleep(0.02)


class Replayer:
    """Plays a scenario against a running API; keeps the report's facts."""

    def __init__(
        self,
        scenario: Scenario,
        client: Client,
        token: Token,
        data_dir: Path,
        mirror_block: Callable[[], int],
        confirmations: int = 0,
    ) -> None:
        self.s = scenario
        self.c = client
        self.token = token
        self.data_dir = data_dir
        self.mirror_block = mirror_block
        self.confirmations = confirmations
        self.tasks = {t.id: t for t in scenario.tasks}
        self.addresses: dict[str, str] = {}
        self.rejected: list[dict[str, Any]] = []
        self.rejected_registrations: list[dict[str, str]] = []
        self.settlement_files: list[str] = []
        self.heads: list[tuple[datetime, int]] = []
        self.redemption_txs: list[tuple[datetime, str]] = []
        self.last_tx: dict[str, str] = {}  # username -> last transaction changing its balance

    # ----- set-up: staff and sign-ups -----

    def setup(self, admin_password: str) -> None:
        c = self.c
        c.passwords["admin"] = admin_password
        staff = [(co.id, co.name, "coordinator") for co in self.s.coordinators]
        staff += [("finance", "Finance officer", "finance"), ("auditor", "Auditor", "auditor")]
        for username, name, role in staff:
            pw = secrets.token_urlsafe(16)
            r = c.call(
                "admin",
                "POST",
                "/staff",
                body={"username": username, "password": pw, "name": name, "role": role},
            )
            if isinstance(r, Refusal):
                raise HeitjeError(f"could not create {username}: {r.message}", code=r.code)
            c.passwords[username] = pw
        for cit in self.s.citizens:
            pw = secrets.token_urlsafe(16)
            r = c.call(
                None,
                "POST",
                "/citizens",
                body={
                    "username": cit.id,
                    "password": pw,
                    "name": cit.name,
                    "neighbourhood": cit.neighbourhood or "",
                },
            )
            self._signed_up(cit.id, pw, r)
        for shop in self.s.shops:
            pw = secrets.token_urlsafe(16)
            body = {
                "username": shop.id,
                "password": pw,
                "name": shop.name,
                "category": shop.category,
                "iban": shop.iban,
            }
            if shop.bic:
                body["bic"] = shop.bic
            self._signed_up(shop.id, pw, c.call(None, "POST", "/shops", body=body))
        _wait(self._registrations_done, "wallet registrations on chain")
        if self.confirmations:  # every registration is mined by now: let it get deep
            block = self.head() + self.confirmations
            _wait(lambda: self.head() >= block, f"the chain to reach block {block}")

    def _signed_up(self, username: str, pw: str, r: Any) -> None:
        if isinstance(r, Refusal):
            self.rejected_registrations.append(
                {"id": username, "code": r.code, "message": r.message}
            )
            return
        self.c.passwords[username] = pw
        self.addresses[username] = r["address"]

    def _registrations_done(self) -> bool:
        for status in ("pending", "sent"):
            r = self.c.call("auditor", "GET", f"/audit/intents?status={status}&limit=1")
            if isinstance(r, Refusal) or r:
                return False
        return True

    # ----- events -----

    def play(self, on_event: Callable[[int], None] | None = None) -> None:
        for index, ev in enumerate(self.s.events):
            outcome = self._event(ev)
            if isinstance(outcome, Refusal):
                self.rejected.append(
                    {"index": index, "code": outcome.code, "message": outcome.message}
                )
            self.heads.append((ev.at, int(self.token.w3.eth.block_number)))
            if on_event is not None:
                on_event(index)

    def _event(self, ev: Any) -> Any:
        c, at = self.c, ev.at
        t = ev.type
        if t == "publish":
            task = self.tasks.get(ev.task)
            if task is None:
                return Refusal("unknown_task", f"task {ev.task!r} is not in the scenario")
            return c.call(
                ev.by,
                "POST",
                "/tasks",
                at=at,
                body={
                    "ref": task.id,
                    "kind": task.kind,
                    "title": task.title,
                    "reward": task.reward,
                    "neighbourhood": task.neighbourhood or "",
                },
            )
        if t in ("claim", "submit"):
            return c.call(ev.citizen, "POST", f"/tasks/{ev.task}/{t}", at=at)
        if t == "approve":
            r = c.call(ev.by, "POST", f"/tasks/{ev.task}/approve", at=at)
            if not isinstance(r, Refusal):
                _wait(lambda: self._reward_confirmed(ev.task), f"the reward of {ev.task}")
            return r
        if t == "reject":
            return c.call(ev.by, "POST", f"/tasks/{ev.task}/reject", at=at)
        if t == "pay":
            self._wait_deep(ev.from_)
            r = c.call(
                ev.from_, "POST", "/payments", at=at, body={"to": ev.to, "amount": ev.amount}
            )
            if isinstance(r, dict) and r.get("tx_hash"):
                self.last_tx[ev.from_] = self.last_tx[ev.to] = str(r["tx_hash"])
            return r
        if t == "redeem":
            self._wait_deep(ev.shop)
            r = c.call(ev.shop, "POST", "/redemptions", at=at, body={"amount": ev.amount})
            if isinstance(r, dict):
                self.redemption_txs.append((at, str(r["tx_hash"])))
                self.last_tx[ev.shop] = str(r["tx_hash"])
            return r
        if t == "settle":
            return self._settle(ev.at, ev.through)
        return Refusal("unknown_event", f"unknown event type {t!r}")

    def _reward_confirmed(self, ref: str) -> bool:
        r = self.c.call(None, "GET", f"/tasks/{ref}")
        if not (isinstance(r, dict) and r["reward_status"] == "confirmed"):
            return False
        if r.get("claimed_by") and r.get("reward_tx"):
            self.last_tx[str(r["claimed_by"])] = str(r["reward_tx"])
        return True

    def _deep(self, tx_hash: str) -> bool:
        """`tx_hash` is mined `confirmations` blocks below the head (where it is now)."""
        try:
            receipt = self.token.w3.eth.get_transaction_receipt(HexStr(tx_hash))
        except TransactionNotFound:  # its block was replaced; it is mined again shortly
            return False
        return self.head() >= int(receipt["blockNumber"]) + self.confirmations

    def _wait_deep(self, user: str) -> None:
        """Before `user` spends: wait until the last transaction that changed `user`'s
        balance is `confirmations` deep, so the API checks the balance against blocks the
        network no longer replaces (a no-op on anvil)."""
        tx_hash = self.last_tx.get(user)
        if self.confirmations and tx_hash is not None:
            what = f"{tx_hash} ({user}) to be {self.confirmations} blocks deep"
            _wait(lambda: self._deep(tx_hash), what)

    def head(self) -> int:
        """The chain's head block number."""
        return int(self.token.w3.eth.block_number)

    def wait_for_mirror(self, block: int) -> None:
        """Wait until the mirror holds `block`: the indexer stays `confirmations` blocks behind
        the head, so the chain has to reach `block + confirmations` first."""
        if self.confirmations:
            what = (
                f"the chain to reach block {block + self.confirmations} ({self.confirmations} "
                f"confirmations of block {block}; is the chain sealing blocks?)"
            )
            _wait(lambda: self.head() >= block + self.confirmations, what)
        _wait(lambda: self.mirror_block() >= block, f"the SQL mirror to reach block {block}")

    def _redemption_block(self, tx_hash: str) -> int:
        """The block that holds `tx_hash` now (waiting while a replaced block put it back in
        the pool)."""
        found: list[int] = []

        def mined() -> bool:
            try:
                receipt = self.token.w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                return False
            found.append(int(receipt["blockNumber"]))
            return True

        _wait(mined, f"{tx_hash} to be mined")
        return found[-1]

    def _through_block(self, through: datetime) -> int:
        """The settlement's block cut-off for business time `through`: the head reached when
        the last event at or before `through` was replayed, or, if later, the block that holds
        the last redemption at or before `through` once it is `confirmations` deep (a block the
        network replaced may have moved it). Raises `HeitjeError` (`replay_reorder`) when a
        later redemption ended up at or below that block."""
        heads = max((b for t, b in self.heads if t <= through), default=0)
        before = [tx for t, tx in self.redemption_txs if t <= through]
        after = [tx for t, tx in self.redemption_txs if t > through]
        through_block = heads
        while True:
            if before:
                through_block = max(heads, max(map(self._redemption_block, before)))
            self.wait_for_mirror(through_block)  # `confirmations` deep: receipts are final
            if not before or max(map(self._redemption_block, before)) <= through_block:
                break
        if after and min(map(self._redemption_block, after)) <= through_block:
            raise HeitjeError(
                f"a redemption made after {through.isoformat()} is in block {through_block} "
                "or earlier: no block cut-off separates the periods",
                code="replay_reorder",
            )
        return through_block

    def _settle(self, at: datetime, through: datetime) -> Any:
        through_block = self._through_block(through)
        m = self.s.municipality
        try:
            result = run_settlement(
                self.data_dir,
                through=None,
                through_block=through_block,
                name=m.name,
                iban=m.iban,
                bic=m.bic,
                eur_per_heitje=m.eur_per_heitje,
                now=at,
                rpc_url=str(getattr(self.token.w3.provider, "endpoint_uri", "")) or None,
            )
        except HeitjeError as e:
            return Refusal(e.code, e.message)
        if result is not None and result.get("batch_id"):
            self.settlement_files.append(str(result["xml_path"]))
        return result


def programme_period(scenario: Scenario) -> tuple[int, int]:
    """The on-chain reward period a rehearsal opens: (budget, cap per citizen) in base units.

    The budget is the sum of every valid task reward (nothing more can be minted); the chain's
    cap per citizen is the yearly cap times the calendar years the events span, because chain
    time is real time during a replay while the API checks the yearly cap in scenario time.
    """
    budget = 0
    for task in scenario.tasks:
        try:
            budget += parse_heit(task.reward)
        except InvalidAmount:
            continue
    years = {ev.at.year for ev in scenario.events} or {0}
    cap = parse_heit(scenario.policy.annual_reward_cap) * len(years)
    return max(budget, 1), cap


def run_demo(
    scenario_path: Path,
    *,
    data_dir: Path | None = None,
    rpc_url: str | None = None,
    keys_dir: Path | None = None,
    confirmations: int | None = None,
) -> dict[str, Any]:
    """Replay `scenario_path` end to end and return the report (see module docstring).

    `data_dir` must be new or empty (a temporary one, removed afterwards, if None). Without
    `rpc_url` an embedded anvil chain is started with dev keys; with it, `keys_dir` (required)
    holds the chain's funded service keys, copied to `data_dir/keys`. `confirmations` is the
    indexer's depth (default 0 on anvil, `NETWORK_CONFIRMATIONS` with `rpc_url`).
    Raises `HeitjeError` subclasses: `invalid_scenario`, `chain_start_failed`,
    `service_start_failed`, `replay_timeout`, `data_dir_not_empty`, `invalid_input`,
    `missing_key`, `keys_not_funded`.
    """
    scenario = load_scenario(scenario_path)
    if confirmations is None:
        confirmations = 0 if rpc_url is None else NETWORK_CONFIRMATIONS
    if confirmations < 0:
        raise ConfigError("--confirmations must not be negative", code="invalid_input")
    temporary = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="heitje-demo-")) if data_dir is None else data_dir
    if data_dir.exists() and any(data_dir.iterdir()):
        raise HeitjeError(
            f"{data_dir} is not empty: give a new directory", code="data_dir_not_empty"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir = data_dir.resolve()
    stack: Stack | None = None
    try:
        started = time.monotonic()
        budget, cap_per_citizen = programme_period(scenario)
        m, policy = scenario.municipality, scenario.policy
        stack = start_stack(
            data_dir,
            rpc_url=rpc_url,
            keys_dir=keys_dir,
            confirmations=confirmations,
            poll=0.1,
            budget=budget,
            cap_per_citizen=cap_per_citizen,
            env={
                "HEITJE_ANNUAL_REWARD_CAP": policy.annual_reward_cap,
                "HEITJE_EUR_PER_HEITJE": m.eur_per_heitje,
                "HEITJE_MUNICIPALITY_NAME": m.name,
                "HEITJE_MUNICIPALITY_IBAN": m.iban,
                "HEITJE_MUNICIPALITY_BIC": m.bic or "",
            },
        )
        rpc_url, token, paths = stack.rpc_url, stack.token, stack.paths
        _log(f"chain {rpc_url}, token {token.address} (block {stack.manifest.deploy_block})")
        _log(f"API on {stack.api_url} (docs at /docs)")
        admin_password = stack.admin_password
        _wait(lambda: paths.mirror_db.exists(), "the indexer")
        mirror = Mirror(paths.mirror_db)
        replay = Replayer(
            scenario,
            Client(stack.api_url, timeout=120),
            token,
            data_dir,
            lambda: _mirror_block(mirror),
            confirmations,
        )
        replay.setup(admin_password)
        total = len(scenario.events)
        events_started = time.monotonic()
        _log(
            f"set-up took {events_started - started:.1f}s; replaying {total} events of "
            f"{scenario.name or scenario_path.name} (indexer {confirmations} blocks behind)"
        )
        step = max(1, total // 20)
        replay.play(
            lambda i: (
                _log(f"  {i + 1}/{total} events") if (i + 1) % step == 0 or i + 1 == total else None
            )
        )
        _log(f"events took {time.monotonic() - events_started:.1f}s")
        replay.wait_for_mirror(replay.head())
        report = audit(data_dir, rpc_url)
        accounts = {u: format_heit(token.balance_of(a)) for u, a in replay.addresses.items()}
        ledger_total = report.settled_cents
        out: dict[str, Any] = {
            "accounts": accounts,
            "minted": format_heit(token.total_minted()),
            "redeemed": format_heit(token.total_redeemed()),
            "total_supply": format_heit(token.total_supply()),
            "settled_eur": format_eur(ledger_total),
            "rejected": replay.rejected,
            "rejected_registrations": replay.rejected_registrations,
            "settlement_files": replay.settlement_files,
            "reconciled": not report.differences,
        }
        if report.differences:
            out["differences"] = report.differences
        _log(f"done in {time.monotonic() - started:.1f}s; reconciled: {out['reconciled']}")
        return out
    finally:
        if stack is not None:
            stack.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)

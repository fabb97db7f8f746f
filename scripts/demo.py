"""Replay a programme year (heitje-scenario/1) through the real product.

Starts a fresh embedded chain (or uses `rpc_url`), deploys the token, starts the indexer and the
API as child processes, then plays every event as that user's own client would over HTTP:
coordinators publish and judge tasks, citizens claim, submit and pay, shops refund and redeem;
the finance officer settles (`scripts.finance.run_settlement`). Then it audits and returns the
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
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from eth_typing import HexStr
from web3.exceptions import TransactionNotFound

from heitje.errors import ConfigError, HeitjeError, InvalidAmount
from heitje.money import format_eur, format_heit, parse_heit
from heitje.scenario import Scenario, load_scenario
from indexer.mirror import Mirror
from node.anvil import Anvil, free_port
from node.keys import SERVICE_ROLES, load_key, write_key
from node.token import Token, connect
from scripts.audit import audit
from scripts.deploy import deploy, ensure_dev_keys, ensure_kek, open_reward_period
from scripts.finance import run_settlement
from scripts.services import Child, start_api, start_indexer

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SCENARIO = REPO_ROOT / "scenarios" / "example-year.json"

NETWORK_CONFIRMATIONS = 2
"""The indexer's confirmation depth on an external chain: geth Clique replaces at most the newest
block or two (an out-of-turn block that lost to the in-turn one)."""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Refusal:
    code: str
    message: str


@dataclass
class Client:
    """HTTP client of the API, one bearer token per user (as each user's own app would hold)."""

    base_url: str
    http: httpx.Client = field(init=False)
    tokens: dict[str, str] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=120)

    def login(self, user: str) -> str | Refusal:
        if user in self.tokens:
            return self.tokens[user]
        if user not in self.passwords:
            return Refusal("unknown_account", f"no account named {user!r}")
        r = self.http.post("/auth/token", json={"username": user, "password": self.passwords[user]})
        if r.status_code != 200:
            body = r.json()
            return Refusal(body.get("code", "login_failed"), body.get("message", r.text))
        token: str = r.json()["access_token"]
        self.tokens[user] = token
        return token

    def call(
        self,
        user: str | None,
        method: str,
        path: str,
        *,
        at: datetime | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any] | list[Any] | Refusal:
        headers: dict[str, str] = {}
        if user is not None:
            token = self.login(user)
            if isinstance(token, Refusal):
                return token
            headers["Authorization"] = f"Bearer {token}"
        if at is not None:
            headers["X-Heitje-Time"] = at.isoformat()
        r = self.http.request(method, path, json=body, headers=headers)
        data = r.json() if r.content else {}
        if r.status_code >= 400:
            return Refusal(data.get("code", f"http_{r.status_code}"), data.get("message", r.text))
        result: dict[str, Any] | list[Any] = data
        return result


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


def _require_keys(keys_dir: Path) -> None:
    """Raise `ConfigError` (`missing_key`) naming the service key files `keys_dir` lacks."""
    missing = [r for r in SERVICE_ROLES if not (keys_dir / f"{r}.key").is_file()]
    if missing:
        names = ", ".join(f"{r}.key" for r in missing)
        raise ConfigError(
            f"{keys_dir} lacks {names}: give the keys of the chain's service accounts with "
            "--keys-dir (`heitje network init` writes them to DIR/keys)",
            code="missing_key",
        )


def copy_service_keys(keys_dir: Path, data_dir: Path) -> None:
    """Copy the service keys (`<role>.key` for every role in SERVICE_ROLES) from `keys_dir` to
    `data_dir/keys`, mode 0600. Raises `ConfigError` (`missing_key`) naming the missing files."""
    _require_keys(keys_dir)
    for role in SERVICE_ROLES:
        source = keys_dir / f"{role}.key"
        if stat.S_IMODE(source.stat().st_mode) & 0o077:
            _log(f"warning: {source} is readable by others (chmod 600 it)")
        write_key(data_dir / "keys" / f"{role}.key", source.read_text().strip())


def check_funded(w3: Any, keys_dir: Path) -> None:
    """Every service account in `keys_dir` holds native coin on `w3`'s chain (the network's
    genesis funds them); raises `ConfigError` (`missing_key`, `keys_not_funded`)."""
    _require_keys(keys_dir)
    empty = [
        role
        for role in SERVICE_ROLES
        if int(w3.eth.get_balance(load_key(keys_dir / f"{role}.key").address)) == 0
    ]
    if empty:
        raise ConfigError(
            f"the service accounts {', '.join(empty)} hold no coin on chain "
            f"{int(w3.eth.chain_id)}: these keys do not belong to this chain (--keys-dir)",
            code="keys_not_funded",
        )


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
    if rpc_url is None and keys_dir is not None:
        raise ConfigError(
            "--keys-dir needs --rpc-url (the embedded chain uses its own dev keys)",
            code="invalid_input",
        )
    if rpc_url is not None and keys_dir is None:
        raise ConfigError(
            "--rpc-url needs the chain's service keys (--keys-dir)", code="missing_key"
        )
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
    chain: Anvil | None = None
    children: list[Child] = []
    try:
        started = time.monotonic()
        if rpc_url is None:
            chain = Anvil(data_dir)
            rpc_url = chain.start()
            ensure_dev_keys(data_dir)
        else:
            assert keys_dir is not None
            check_funded(connect(rpc_url), keys_dir)  # before anything lands in data_dir
            copy_service_keys(keys_dir, data_dir)
        ensure_kek(data_dir)
        w3 = connect(rpc_url)
        manifest = deploy(w3, data_dir)
        budget, cap_per_citizen = programme_period(scenario)
        open_reward_period(w3, data_dir, budget=budget, cap_per_citizen=cap_per_citizen)
        _log(f"chain {rpc_url}, token {manifest.token} (block {manifest.deploy_block})")
        token = Token(w3, manifest.token)
        children.append(start_indexer(data_dir, rpc_url, confirmations=confirmations))
        admin_password = secrets.token_urlsafe(16)
        m, policy = scenario.municipality, scenario.policy
        port = free_port()
        children.append(
            start_api(
                data_dir,
                rpc_url,
                port,
                {
                    "HEITJE_REHEARSAL": "true",
                    "HEITJE_COOKIE_SECURE": "false",
                    "HEITJE_ANNUAL_REWARD_CAP": policy.annual_reward_cap,
                    "HEITJE_EUR_PER_HEITJE": m.eur_per_heitje,
                    "HEITJE_MUNICIPALITY_NAME": m.name,
                    "HEITJE_MUNICIPALITY_IBAN": m.iban,
                    "HEITJE_MUNICIPALITY_BIC": m.bic or "",
                    "HEITJE_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
                },
            )
        )
        _log(f"API on http://127.0.0.1:{port} (docs at /docs)")

        _wait(lambda: (data_dir / "mirror.sqlite").exists(), "the indexer")
        mirror = Mirror(data_dir / "mirror.sqlite")
        replay = Replayer(
            scenario,
            Client(f"http://127.0.0.1:{port}"),
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
        for child in reversed(children):
            child.stop()
        if chain is not None:
            chain.stop()
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)

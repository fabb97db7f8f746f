"""Plays the events of a programme year against a running stack, as each user's own client
would over HTTP (see `scripts.replay.demo` for the whole replay and its report)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from eth_typing import HexStr
from web3.exceptions import TransactionNotFound

from domain.settlement import run_settlement
from heitje.errors import HeitjeError
from heitje.money import parse_heit
from indexer.mirror import Mirror
from node.token import Token
from scripts.replay.client import Client, Refusal
from scripts.replay.scenario import Scenario
from scripts.replay.signups import make_staff, send_sign_ups, sign_ups


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the report alone)."""
    print(message, file=sys.stderr, flush=True)


def mirror_block(mirror: Mirror) -> int:
    """The mirror's checkpoint block, -1 before the first."""
    cp = mirror.checkpoint()
    return -1 if cp is None else cp.block_number


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    """Poll `predicate` until true; `HeitjeError` (`replay_timeout`) naming `what` after
    `timeout` seconds."""
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
        self.shop_ids = {shop.id for shop in scenario.shops}
        self.addresses: dict[str, str] = {}
        self.rejected: list[dict[str, Any]] = []
        self.rejected_registrations: list[dict[str, str]] = []
        self.settlement_files: list[str] = []
        self.heads: list[tuple[datetime, int]] = []
        self.redemption_txs: list[tuple[datetime, str]] = []
        self.last_tx: dict[str, str] = {}  # username -> last transaction changing its balance
        self.unminted: dict[str, str | None] = {}  # approved task -> claimant, mint not seen yet
        self._index = 0  # of the event being played
        self._settler: ThreadPoolExecutor | None = None
        self._settling: tuple[int, Future[Any]] | None = None  # (event index, its settlement)

    # ----- set-up: staff and sign-ups -----

    def setup(self, admin_password: str) -> None:
        """The admin makes the staff accounts while every citizen and shop signs up (a few at
        a time; each keeps the session its sign-up answered with), the admin approves every
        shop that signed up, and the wallets' registrations are waited for on chain (and
        `confirmations` deep). Facts are kept in the scenario's order."""
        c = self.c
        c.passwords["admin"] = admin_password
        todo = sign_ups(self.s)
        answers = send_sign_ups(c, todo, lambda: make_staff(c, self.s))
        for s, r in zip(todo, answers, strict=True):
            self._signed_up(s.username, s.password, r)
            if s.path == "/shops" and not isinstance(r, Refusal):
                self._approve_shop(s.username)  # the municipality approves every listed shop
        wait_until(self._registrations_done, "wallet registrations on chain")
        if self.confirmations:  # every registration is mined by now: let it get deep
            block = self.head() + self.confirmations
            wait_until(lambda: self.head() >= block, f"the chain to reach block {block}")

    def _approve_shop(self, username: str) -> None:
        """The admin approves the shop `username` as it registers (scenarios README)."""
        r = self.c.call("admin", "POST", f"/admin/shops/{username}/approve")
        if isinstance(r, Refusal):
            raise HeitjeError(f"could not approve shop {username}: {r.message}", code=r.code)

    def _signed_up(self, username: str, pw: str, r: Any) -> None:
        if isinstance(r, Refusal):
            self.rejected_registrations.append(
                {"id": username, "code": r.code, "message": r.message}
            )
            return
        self.c.passwords[username] = pw
        self.c.adopt(username, r)
        self.addresses[username] = r["address"]

    def _registrations_done(self) -> bool:
        for status in ("pending", "sent", "blocked"):
            r = self.c.call("auditor", "GET", f"/audit/intents?status={status}&limit=1")
            if isinstance(r, Refusal) or r:
                return False
        return True

    # ----- events -----

    def play(self, on_event: Callable[[int], None] | None = None) -> None:
        """Play every event in order. A settlement runs beside the events after it (as the
        finance officer's run does while the town goes on: its cut-off block is fixed first),
        one at a time; at the end every settlement is done and every approved reward is
        confirmed. `rejected` lists the refused events by index."""
        with ThreadPoolExecutor(1, thread_name_prefix="settlement") as settler:
            self._settler = settler
            try:
                for index, ev in enumerate(self.s.events):
                    self._index = index
                    outcome = self._event(ev)
                    if isinstance(outcome, Refusal):
                        self._refused(index, outcome)
                    self.heads.append((ev.at, int(self.token.w3.eth.block_number)))
                    if on_event is not None:
                        on_event(index)
                self._settled()
            finally:
                self._settler = None
        self._await_rewards(None)
        self.rejected.sort(key=lambda r: int(r["index"]))

    def _refused(self, index: int, refusal: Refusal) -> None:
        self.rejected.append({"index": index, "code": refusal.code, "message": refusal.message})

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
            if not isinstance(r, Refusal):  # confirmed before the citizen spends (`_await_rewards`)
                claimant = r.get("claimed_by") if isinstance(r, dict) else None
                self.unminted[ev.task] = None if claimant is None else str(claimant)
            return r
        if t == "reject":
            return c.call(ev.by, "POST", f"/tasks/{ev.task}/reject", at=at)
        if t == "pay":
            self._await_rewards(ev.from_)
            self._wait_deep(ev.from_)
            body: dict[str, Any] = {"to": ev.to, "amount": ev.amount}
            if ev.from_ in self.shop_ids:
                named = self._refund_of(ev.from_, ev.to, ev.amount)
                if isinstance(named, Refusal):
                    return named
                if named:
                    body["refund_of"] = named
            r = c.call(ev.from_, "POST", "/payments", at=at, body=body)
            if isinstance(r, dict) and r.get("tx_hash"):
                self.last_tx[ev.from_] = self.last_tx[ev.to] = str(r["tx_hash"])
            return r
        if t == "redeem":
            self._await_rewards(ev.shop)
            self._wait_deep(ev.shop)
            r = c.call(ev.shop, "POST", "/redemptions", at=at, body={"amount": ev.amount})
            if isinstance(r, dict):
                self.redemption_txs.append((at, str(r["tx_hash"])))
                self.last_tx[ev.shop] = str(r["tx_hash"])
            return r
        if t == "settle":
            return self._settle(ev.at, ev.through)
        return Refusal("unknown_event", f"unknown event type {t!r}")

    def _refund_of(self, shop: str, citizen: str, amount: str) -> list[int] | Refusal:
        """The payments a refund of `amount` from `shop` to `citizen` names (the scenario
        rule): the citizen's most recent payments to the shop not yet refunded, newest first,
        as many as the amount needs; all of them when it needs more (the service refuses it),
        none when there are none or the amount is no amount (refused as well)."""
        if citizen not in self.addresses:  # not a registered account: the service says so
            return []
        r = self.c.call(shop, "GET", f"/payments/received?payer={citizen}")
        if isinstance(r, Refusal):
            return [] if r.code in ("unknown_account", "forbidden") else r
        try:
            needed = int(parse_heit(amount))
        except HeitjeError:
            return []
        named: list[int] = []
        payments: list[dict[str, Any]] = list(r) if isinstance(r, list) else []
        for payment in payments:  # newest first
            left = 0 if payment["refundable"] == "0.00" else int(parse_heit(payment["refundable"]))
            if left > 0 and payment["status"] == "confirmed":
                named.append(int(payment["id"]))
                needed -= left
                if needed <= 0:
                    break
        return named

    def _await_rewards(self, user: str | None) -> None:
        """Wait until the rewards approved for `user` (every approved reward with None; and
        any whose claimant the approval did not say) are confirmed on chain. An approval is not
        waited for at once: the dispatcher mints while the next events play; before a citizen
        pays or redeems (its balance) and at the end of the year its mints are waited for,
        each until `_reward_confirmed`."""
        for ref, claimant in list(self.unminted.items()):
            if user is None or claimant is None or claimant == user:
                wait_until(partial(self._reward_confirmed, ref), f"the reward of {ref}")
                del self.unminted[ref]

    def _reward_confirmed(self, ref: str) -> bool:
        r = self.c.call("auditor", "GET", f"/tasks/{ref}")  # staff see the claimant
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
            wait_until(lambda: self._deep(tx_hash), what)

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
            wait_until(lambda: self.head() >= block + self.confirmations, what)
        wait_until(lambda: self.mirror_block() >= block, f"the SQL mirror to reach block {block}")

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

        wait_until(mined, f"{tx_hash} to be mined")
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
        """The settle event: after the previous settlement is done, its cut-off block is
        worked out now (`_through_block`) and the run started beside the next events (in
        `play`; at once without it); its refusal is kept under this event's index."""
        self._settled()
        through_block = self._through_block(through)
        if self._settler is None:
            return self._run_settlement(at, through_block)
        future = self._settler.submit(self._run_settlement, at, through_block)
        self._settling = (self._index, future)
        return None

    def _settled(self) -> None:
        """Wait for the settlement running beside the events, if any; keep its refusal."""
        if self._settling is None:
            return
        index, future = self._settling
        self._settling = None
        outcome = future.result()
        if isinstance(outcome, Refusal):
            self._refused(index, outcome)

    def _run_settlement(self, at: datetime, through_block: int) -> Any:
        """`run_settlement` through `through_block` at business time `at`: its result (the
        file is kept in `settlement_files`), or a `Refusal`."""
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

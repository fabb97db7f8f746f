"""The chaos benchmark's clients (`bench/chaos.py`): the one API client told apart from a lost
answer, the model the clients keep (rewards owed, payments with their Idempotency-Keys), the task
life cycle and the payment attempt, set-up and recovery."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
from _common import log
from web3 import Web3

from heitje.money import format_heit, parse_heit
from scripts.replay.client import Client
from scripts.stack import Stack

AT = "2023-06-01T12:00:00+02:00"  # business time of task requests (rehearsal mode)
IBAN = "NL91ABNA0417164300"


class ApiDown(Exception):
    """No answer: the API is down, or was killed while answering."""


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def code(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("code") or self.body.get("status") or self.status)
        return str(self.status)


class Api(Client):
    """The one API client (`scripts.replay.client.Client`), telling a lost answer (`ApiDown`)
    from an answer, and retrying what a client retries: no answer, 5xx."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, timeout=90)
        self.up = threading.Event()
        self.up.set()
        self.server_errors: Counter[str] = Counter()  # 5xx answers by "status code"
        self._lock = threading.Lock()

    def answer(
        self,
        user: str | None,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> Answer:
        try:
            r = self.request(method, path, user, json=body, at=AT, headers=headers, via=http)
        except httpx.TransportError as e:
            raise ApiDown(str(e)) from None
        try:
            data = r.json() if r.content else {}
        except ValueError:
            data = {"code": f"http_{r.status_code}", "message": r.text[:200]}
        if r.status_code >= 500:
            with self._lock:
                self.server_errors[f"{r.status_code} {Answer(r.status_code, data).code}"] += 1
        return Answer(r.status_code, data)

    def until_answered(
        self,
        user: str | None,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        http: httpx.Client | None = None,
        timeout: float = 600.0,
    ) -> Answer:
        """`answer`, again while there is none or it is a 5xx; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                out = self.answer(user, method, path, body, http=http)
            except ApiDown:
                self.up.wait(60)
                time.sleep(0.05)
                continue
            if out.status < 500:
                return out
            time.sleep(0.2)
        raise TimeoutError(f"{method} {path}: no final answer within {timeout:.0f} s")


# ----- the clients' model -----


@dataclass
class Task:
    ref: str
    citizen: str
    reward: int  # base units
    approved: bool = False
    refusal: str | None = None  # an approval refused for good (unexpected)


@dataclass
class Payment:
    key: str
    payer: str
    payee: str
    units: int
    refund_of: list[int] | None = None  # a shop's refund names the citizen's payment
    state: str = "new"  # new | retry | pending | confirmed | refused
    id: int | None = None
    tx_hash: str | None = None
    refusal: str | None = None
    confirmed_hashes: set[str] = field(default_factory=set)
    answers: Counter[str] = field(default_factory=Counter)

    @property
    def final(self) -> bool:
        return self.state in ("confirmed", "refused")


@dataclass
class Model:
    tasks: list[Task] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)  # username -> address
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_task(self, task: Task) -> None:
        with self.lock:
            self.tasks.append(task)

    def add_payment(self, payment: Payment) -> None:
        with self.lock:
            self.payments.append(payment)

    def refundable(self, shop: str, taken: set[int]) -> Payment | None:
        """A confirmed payment of a citizen to `shop` with a known id that no refund named
        yet (its id is added to `taken`), or None."""
        with self.lock:
            for p in self.payments:
                if (
                    p.payee == shop
                    and p.refund_of is None
                    and p.state == "confirmed"
                    and p.id is not None
                    and p.id not in taken
                ):
                    taken.add(p.id)
                    return p
        return None


def lifecycle(api: Api, http: httpx.Client, task: Task) -> None:
    """Publish, claim, submit and approve `task`, each step again until it has an answer; an
    answer lost to a kill is recognised by the refusal of the repeated step."""
    body = {
        "ref": task.ref,
        "kind": "litter",
        "title": task.ref,
        "reward": format_heit(task.reward),
        "neighbourhood": "Centrum",
    }
    steps: list[tuple[str, str, dict[str, Any] | None, str]] = [
        ("pub", "/tasks", body, "task_already_published"),  # another coordinator approves
        (task.citizen, f"/tasks/{task.ref}/claim", None, "task_not_open"),
        (task.citizen, f"/tasks/{task.ref}/submit", None, "task_not_claimed"),
        ("coord", f"/tasks/{task.ref}/approve", None, "task_already_approved"),
    ]
    for user, path, payload, done_code in steps:
        out = api.until_answered(user, "POST", path, payload, http=http)
        if out.status < 300:
            continue
        if out.code == done_code and _step_done(api, http, task, path):
            continue
        task.refusal = f"{path} -> {out.status} {out.code}"
        return
    task.approved = True


def _step_done(api: Api, http: httpx.Client, task: Task, path: str) -> bool:
    """After a refusal that a repeated step gets: did the earlier attempt go through?"""
    out = api.until_answered("coord", "GET", f"/tasks/{task.ref}", http=http)  # staff see all
    t = out.body if isinstance(out.body, dict) else {}
    if path == "/tasks":
        return t.get("reward") == format_heit(task.reward)
    if path.endswith("/claim"):
        return t.get("claimed_by") == task.citizen
    if path.endswith("/submit"):
        return t.get("status") in ("submitted", "approved")
    return t.get("status") == "approved"


def attempt(api: Api, http: httpx.Client, p: Payment) -> None:
    """One `POST /payments` of `p` with its Idempotency-Key; updates `p.state`."""
    body: dict[str, Any] = {"to": p.payee, "amount": format_heit(p.units)}
    if p.refund_of is not None:
        body["refund_of"] = p.refund_of
    try:
        out = api.answer(p.payer, "POST", "/payments", body, {"Idempotency-Key": p.key}, http)
    except ApiDown:
        p.answers["no answer"] += 1
        p.state = "retry"
        api.up.wait(60)
        return
    p.answers[f"{out.status} {out.code}"] += 1
    b = out.body if isinstance(out.body, dict) else {}
    if out.status < 300:
        p.id = b.get("id", p.id)
        p.tx_hash = b.get("tx_hash") or p.tx_hash
        status = b.get("status")
        if status == "confirmed":
            p.state = "confirmed"
            if b.get("tx_hash"):
                p.confirmed_hashes.add(str(b["tx_hash"]))
        elif status == "failed":
            p.state, p.refusal = "refused", "status_failed"
        else:
            p.state = "pending"
    elif out.status < 500:
        p.state, p.refusal = "refused", out.code
    else:
        p.state = "retry"


# ----- set-up and recovery -----


def wait_for(what: str, condition: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except (ApiDown, TimeoutError):
            pass
        time.sleep(every)
    log(f"chaos: timed out after {timeout:.0f} s waiting for {what}")
    return False


def setup(
    api: Api, stack: Stack, model: Model, citizens: int, shops: int, funding_tasks: int
) -> tuple[list[str], list[str]]:
    """Staff, `citizens` citizens and `shops` shops signed up, logged in and registered on
    chain (addresses into `model`); each citizen earns `funding_tasks` rewards of 10 HEIT.
    Returns the citizens' and the shops' usernames."""

    def must(user: str | None, path: str, body: dict[str, Any]) -> None:
        out = api.answer(user, "POST", path, body)
        if out.status >= 300:
            raise RuntimeError(f"POST {path} -> {out.status} {out.code}")

    api.passwords["admin"] = stack.admin_password
    api.login("admin")
    staff = (("coord", "coordinator"), ("pub", "coordinator"), ("auditor", "auditor"))
    for username, role in staff:
        api.passwords[username] = uuid.uuid4().hex
        body = {"username": username, "password": api.passwords[username], "name": username}
        must("admin", "/staff", {**body, "role": role})
    citizen_names = [f"citizen{i}" for i in range(citizens)]
    shop_names = [f"shop{i}" for i in range(shops)]
    for name in citizen_names + shop_names:
        api.passwords[name] = uuid.uuid4().hex
        body = {"username": name, "password": api.passwords[name], "name": name}
        if name in shop_names:
            must(None, "/shops", {**body, "iban": IBAN})
            must("admin", f"/admin/shops/{name}/approve", {})  # the municipality approves
        else:
            must(None, "/citizens", {**body, "neighbourhood": "Centrum"})
    for name in ("coord", "pub", "auditor", *citizen_names, *shop_names):
        api.login(name)

    def registered() -> bool:
        for name in citizen_names + shop_names:
            me = api.answer(name, "GET", "/auth/me").body
            if not me.get("registered"):
                return False
            model.addresses[name] = Web3.to_checksum_address(me["address"])
        return True

    if not wait_for("the wallets' registrations", registered, 180):
        raise RuntimeError("wallets not registered on chain")
    http = httpx.Client(base_url=api.base_url, timeout=90)
    for i in range(funding_tasks):
        for citizen in citizen_names:
            task = Task(f"fund-{citizen}-{i}", citizen, parse_heit("10.00"))
            model.add_task(task)
            lifecycle(api, http, task)
    http.close()
    if not wait_for("the first rewards", lambda: open_intents(api) == [], 180):
        raise RuntimeError("the first rewards were not minted")
    return citizen_names, shop_names


def open_intents(api: Api) -> list[dict[str, Any]]:
    """Outbox intents still pending, sent or blocked."""
    out: list[dict[str, Any]] = []
    for status in ("pending", "sent", "blocked"):
        a = api.answer("auditor", "GET", f"/audit/intents?status={status}&limit=1000")
        if a.status != 200:
            raise ApiDown(f"/audit/intents -> {a.status} {a.code}")
        out += a.body
    return out


def finish_payments(api: Api, model: Model, timeout: float, workers: int = 8) -> None:
    """Retry every unfinished payment with its Idempotency-Key until final (bounded), as the
    payers' many phones would: `workers` at a time."""
    deadline = time.monotonic() + timeout
    http = httpx.Client(
        base_url=api.base_url, timeout=90, limits=httpx.Limits(max_connections=workers)
    )

    def one(p: Payment) -> None:
        while not p.final and time.monotonic() < deadline:
            attempt(api, http, p)
            if not p.final:
                time.sleep(1.0)

    try:
        left = [p for p in model.payments if not p.final]
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, left))
    finally:
        http.close()

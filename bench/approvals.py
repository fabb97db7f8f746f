"""Approvals per second through the API until the mint is confirmed on anvil.

Sets up a stack (anvil + deployed token + API + indexer, `scripts.stack.start_stack`), signs
up K citizens, and publishes, claims and submits the tasks of each phase beforehand (untimed).

The main figure (issue 12, item 2), `--rounds` (3) times interleaved, medians and the ratio:

- batched approvals: N tasks (`--batch-tasks`, 1000) approved with `POST /tasks/approvals`
  of `--batch` (100) refs a request, one client, timed until every mint intent is confirmed
  (the dispatcher sends `mintRewards` of up to `MINT_BATCH`);
- the chain's own batched mints, the baseline: the same number of rewards minted straight to
  the same anvil by a key of the bench's own that was granted MINTER_ROLE, `mintRewards` of
  `MINT_BATCH` rewards a transaction, signed locally with fixed gas and nonces, sent one
  after another and timed until the last receipt (the stack's confirmation depth: 0 on
  anvil, whose automine mines each transaction as it comes).

Then, as before, one approval per request (`POST /tasks/{ref}/approve`):

- sequential: one client approves the M tasks one after another, then waits;
- concurrent: `--threads` clients (default 4) approve another M tasks in parallel, then wait;
- demo-style latency (`--latency-tasks`, default 30; 0 skips): approve one task and poll
  `GET /tasks/{ref}` until it is confirmed before the next, as `heitje demo` does.

The wait polls the outbox (`/audit/intents?status=pending|sent`) every 20 ms; after it, every
task is checked to be "confirmed" and `token.total_minted` to equal the sum of the rewards.

    .venv/bin/python bench/approvals.py [--batch-tasks N] [--batch B] [--rounds R]
        [--tasks M] [--citizens K] [--threads T]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _chain_mints import ChainMints
from _common import figure, footer, header, log, note

from heitje.money import parse_heit
from scripts.replay.client import Client, Refusal
from scripts.stack import Stack, start_stack

AT = "2023-06-01T12:00:00+02:00"  # business time of every request (rehearsal mode)
REWARD = "5.00"


class Api(Client):
    """The one API client (`scripts.replay.client.Client`) at business time AT, raising on any
    refusal: a benchmark stops at the first."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url, timeout=120)

    def sign_in(self, user: str, password: str) -> None:
        self.passwords[user] = password
        if isinstance(token := self.login(user), Refusal):
            raise RuntimeError(f"{user} cannot log in: {token.code}")

    def call(  # type: ignore[override]
        self,
        user: str | None,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        http: httpx.Client | None = None,
    ) -> Any:
        out = super().call(user, method, path, at=AT, body=body, via=http)
        if isinstance(out, Refusal):
            raise RuntimeError(f"{method} {path} -> {out.code}: {out.message}")
        return out


def outbox_empty(api: Api) -> bool:
    """No registration or mint intent is pending or sent (all confirmed)."""
    return all(
        not api.call("auditor", "GET", f"/audit/intents?status={s}&limit=1")
        for s in ("pending", "sent", "blocked")
    )


class Stuck(Exception):
    """The outbox did not drain in time."""


def wait_outbox(api: Api, what: str, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not outbox_empty(api):
        if time.monotonic() > deadline:
            left = [
                i
                for s in ("pending", "sent", "blocked")
                for i in api.call("auditor", "GET", f"/audit/intents?status={s}&limit=500")
            ]
            raise Stuck(
                f"timed out after {timeout:.0f} s waiting for {what}; "
                f"{len(left)} intents left, e.g. {left[:3]}"
            )
        time.sleep(0.02)


def setup_users(api: Api, stack: Stack, citizens: int) -> list[str]:
    api.sign_in("admin", stack.admin_password)
    staff = (("coord", "coordinator"), ("pub", "coordinator"), ("auditor", "auditor"))
    for username, role in staff:  # `pub` publishes, `coord` approves (separation of duties)
        pw = secrets.token_urlsafe(12)
        api.call(
            "admin",
            "POST",
            "/staff",
            {"username": username, "password": pw, "name": username, "role": role},
        )
        api.sign_in(username, pw)
    names = [f"citizen{i:03d}" for i in range(citizens)]
    for name in names:
        pw = secrets.token_urlsafe(12)
        api.call(
            None,
            "POST",
            "/citizens",
            {"username": name, "password": pw, "name": name, "neighbourhood": "Centrum"},
        )
        api.sign_in(name, pw)
    wait_outbox(api, "citizen registrations")
    return names


def check_minted(stack: Stack, expected: int) -> None:
    """Note `token.total_minted` against `expected` base units; exit 1 when they differ."""
    minted = int(stack.token.total_minted())
    note(
        f"check: token.total_minted = {minted} base units, sum of rewards = {expected} "
        f"({'equal' if minted == expected else 'DIFFERENT'})"
    )
    if minted != expected:
        raise SystemExit("total_minted does not equal the sum of approved rewards")


def prepare(api: Api, citizens: list[str], prefix: str, count: int) -> list[str]:
    """Publish, claim and submit `count` tasks; returns their refs (untimed)."""
    refs = [f"{prefix}-{i:04d}" for i in range(count)]
    for i, ref in enumerate(refs):
        citizen = citizens[i % len(citizens)]
        api.call(
            "pub",
            "POST",
            "/tasks",
            {
                "ref": ref,
                "kind": "litter",
                "title": ref,
                "reward": REWARD,
                "neighbourhood": "Centrum",
            },
        )
        api.call(citizen, "POST", f"/tasks/{ref}/claim")
        api.call(citizen, "POST", f"/tasks/{ref}/submit")
    return refs


def check_confirmed(api: Api, refs: list[str]) -> None:
    """Every task of `refs` is approved with its reward confirmed (one listing, paged)."""
    status: dict[str, str | None] = {}
    offset = 0
    while True:
        page = api.call(None, "GET", f"/tasks?status=approved&limit=500&offset={offset}")
        status.update({t["ref"]: t["reward_status"] for t in page})
        if len(page) < 500:
            break
        offset += 500
    bad = [r for r in refs if status.get(r) != "confirmed"]
    if bad:
        raise SystemExit(f"{len(bad)} tasks not confirmed, e.g. {bad[:3]}")


def reward_txs(api: Api, refs: list[str]) -> dict[str, str]:
    """ref -> hash of the transaction that minted its reward (one listing, paged)."""
    wanted, found, offset = set(refs), {}, 0
    while True:
        page = api.call(None, "GET", f"/tasks?status=approved&limit=500&offset={offset}")
        found.update({t["ref"]: t["reward_tx"] for t in page if t["ref"] in wanted})
        if len(page) < 500:
            return found
        offset += 500


def timed_batch(api: Api, refs: list[str], threads: int) -> tuple[float, float]:
    """Approve `refs` with `threads` clients; returns (seconds until every approve request
    was answered, seconds until every mint was confirmed)."""
    started = time.perf_counter()
    if threads <= 1:
        for ref in refs:
            api.call("coord", "POST", f"/tasks/{ref}/approve")
    else:
        local = threading.local()

        def approve(ref: str) -> None:
            if not hasattr(local, "http"):
                local.http = httpx.Client(base_url=api.base_url, timeout=120)
            api.call("coord", "POST", f"/tasks/{ref}/approve", http=local.http)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(approve, refs))
    answered = time.perf_counter() - started
    wait_outbox(api, "mints")
    confirmed = time.perf_counter() - started
    check_confirmed(api, refs)
    return answered, confirmed


def latency(api: Api, refs: list[str]) -> list[float]:
    """Approve one task, wait for its mint to be confirmed, next (as the demo replays)."""
    out: list[float] = []
    for ref in refs:
        started = time.perf_counter()
        api.call("coord", "POST", f"/tasks/{ref}/approve")
        while api.call(None, "GET", f"/tasks/{ref}")["reward_status"] != "confirmed":
            time.sleep(0.02)
        out.append(time.perf_counter() - started)
    return out


def timed_many(api: Api, refs: list[str], batch: int) -> tuple[float, float]:
    """Approve `refs` with `POST /tasks/approvals` of `batch` refs, one client; returns
    (seconds until every request was answered, seconds until every mint was confirmed)."""
    started = time.perf_counter()
    for i in range(0, len(refs), batch):
        out = api.call("coord", "POST", "/tasks/approvals", {"refs": refs[i : i + batch]})
        if out["refused"] or out["first_approvals"]:
            raise SystemExit(f"batch approval refused some: {out['results'][:3]}")
    answered = time.perf_counter() - started
    wait_outbox(api, "mints")
    confirmed = time.perf_counter() - started
    check_confirmed(api, refs)
    return answered, confirmed


def batched_vs_chain(
    api: Api, stack: Stack, citizens: list[str], args: argparse.Namespace
) -> tuple[list[str], int]:
    """The interleaved main figure; returns the refs approved and the baseline's base units."""
    from domain.outbox import MINT_BATCH

    addresses = [api.call(c, "GET", "/wallet")["address"] for c in citizens]
    chain = ChainMints(stack, addresses)
    reward = parse_heit(REWARD)
    n = args.batch_tasks
    approved: list[str] = []
    ours: list[float] = []
    base: list[float] = []
    answered: list[float] = []
    for r in range(args.rounds):
        log(f"approvals: round {r + 1}: preparing {n} tasks")
        refs = prepare(api, citizens, f"many{r}", n)
        log(f"approvals: round {r + 1}: the chain's own mintRewards of {MINT_BATCH}")
        base.append(n / chain.run(n, MINT_BATCH, reward))
        log(f"approvals: round {r + 1}: POST /tasks/approvals of {args.batch}")
        a, c = timed_many(api, refs, args.batch)
        ours.append(n / c)
        answered.append(n / a)
        approved += refs
    note(
        f"batched approvals, {n} tasks a round: approvals/s until confirmed {fmt(ours)}; "
        f"approve requests answered at {fmt(answered)} approvals/s; chain's own mintRewards "
        f"of {MINT_BATCH}: {fmt(base)} rewards/s"
    )
    mine, theirs = statistics.median(ours), statistics.median(base)
    figure(
        f"{n} tasks, POST /tasks/approvals of {args.batch}: approvals/s until confirmed "
        f"(median of {args.rounds})",
        f"{mine:.0f}",
    )
    figure(f"chain's own mintRewards of {MINT_BATCH}: rewards/s (median)", f"{theirs:.0f}")
    figure("approvals until confirmed / chain's own batched mints", f"{mine / theirs:.2f}")
    return approved, chain.minted


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.0f}" for v in values) + "]"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--batch-tasks", type=int, default=1000, help="N, tasks a round of the main figure"
    )
    p.add_argument("--batch", type=int, default=100, help="B, refs per POST /tasks/approvals")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the main figure (3)")
    p.add_argument(
        "--tasks", type=int, default=300, help="M, tasks per one-at-a-time phase (300; 0 skips)"
    )
    p.add_argument("--citizens", type=int, default=20, help="K citizens (default 20)")
    p.add_argument("--threads", type=int, default=4, help="concurrent clients (default 4)")
    p.add_argument(
        "--latency-tasks",
        type=int,
        default=30,
        help="tasks for the demo-style latency figure (default 30; 0 skips)",
    )
    p.add_argument("--keep", action="store_true", help="keep the data dir (path printed)")
    args = p.parse_args()

    header("approvals: approve -> mint confirmed on anvil, through the API")
    tmp = Path(tempfile.mkdtemp(prefix="heitje-bench-approvals-"))
    stack = start_stack(
        tmp / "data",
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
    try:
        api = Api(stack.api_url)
        log(f"approvals: signing up {args.citizens} citizens")
        citizens = setup_users(api, stack, args.citizens)
        approved, baseline_units = batched_vs_chain(api, stack, citizens, args)
        phases = [
            ("sequential client", "seq", 1),
            (f"{args.threads} concurrent client threads", "par", args.threads),
        ]
        for label, prefix, threads in phases if args.tasks > 0 else []:
            log(f"approvals: preparing {args.tasks} tasks ({label})")
            refs = prepare(api, citizens, prefix, args.tasks)
            log(f"approvals: approving {args.tasks} tasks ({label})")
            answered, confirmed = timed_batch(api, refs, threads)
            approved += refs
            note(
                f"{label}: {len(refs)} approve requests answered in {answered:.2f} s "
                f"({len(refs) / answered:.1f}/s); all mints confirmed after {confirmed:.2f} s"
            )
            figure(
                f"{label}, {len(refs)} tasks: approvals/s until confirmed",
                f"{len(refs) / confirmed:.1f}",
            )
        if args.latency_tasks > 0:
            log(f"approvals: demo-style latency over {args.latency_tasks} tasks")
            refs = prepare(api, citizens, "lat", args.latency_tasks)
            lat = latency(api, refs)
            approved += refs
            lat.sort()
            p90 = lat[min(len(lat) - 1, int(len(lat) * 0.9))]
            note(
                f"demo-style (approve, wait for confirmed, next), {len(lat)} tasks: "
                f"median {statistics.median(lat) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms"
            )
            figure(
                f"demo-style one-at-a-time, {len(lat)} tasks: approvals/s",
                f"{len(lat) / sum(lat):.1f}",
            )
        check_minted(stack, parse_heit(REWARD) * len(approved) + baseline_units)
    except Stuck as e:
        args.keep = True
        note(f"FAILED: {e}")
        raise SystemExit(1) from None
    finally:
        stack.stop()
        if args.keep:
            note(f"data dir kept (logs in logs/): {tmp / 'data'}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    footer("approvals")


if __name__ == "__main__":
    main()

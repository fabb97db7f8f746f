"""Approving submitted work (`approve`, one piece; `approve_many`, several at once, as a
coordinator ticks them in the review queue): the rules of an approval (separation of duties,
four eyes, the yearly and monthly caps, the reward per hour, the chain's reward period), then
the task state, the staff log entry and the mint intent in one transaction; the outbox
dispatcher sends the mint (`domain.outbox`). A task is rewarded at most once (database and
contract both).
"""

from __future__ import annotations

import sqlite3
from typing import Literal

from domain import staff_log
from domain.allowance import check_monthly, check_per_hour
from domain.context import Caller, Context
from domain.reward_period import PeriodView
from domain.schemas import TaskPublic
from domain.task_schemas import ApprovalOutcome
from domain.tasks import check_duties, require_coordinator, task_public, task_row
from heitje.errors import Refused
from heitje.money import format_heit
from node.contract import task_ref
from store import outbox, tasks
from store.db import savepoint, transaction


def approve(ctx: Context, caller: Caller, ref: str) -> TaskPublic:
    """Approve submitted work: the reward is minted to the citizen.

    Refused when the citizen's approved rewards in the calendar year of `ctx.now` plus this
    reward would pass the yearly cap, or those in the calendar month of `ctx.now` the monthly
    cap (`monthly_reward_cap`; equal is allowed), or the reward per estimated hour passes
    `max_reward_per_hour` (`check_per_hour`, with today's setting), and then, from the chain
    (`domain.reward_period`), when no reward period is open, when the period's budget cannot
    pay it, or when it would take the citizen past the period's cap per citizen. The task
    state and the mint intent are written in one transaction; `reward_status` then follows the
    mint (pending -> sent -> confirmed, or blocked with `reward_error` while the chain refuses
    it).

    With `separation_of_duties` (the default) the coordinator who published the task, or
    claimed it, may not approve it (`_check_duties`). A reward at or above
    `four_eyes_threshold` (default 50 HEIT) needs two approvals by different coordinators:
    the first is recorded (`approvals` 1 of `approvals_needed` 2; the task stays
    `submitted`, nothing is minted), the second approves it and mints; every check above runs
    at both. The staff log records `task.first_approval` or `task.approve` in the same
    transaction.

    Errors: 404 `task_not_found`; 403 `approver_is_publisher`, `approver_is_claimant`; 409
    `task_already_approved`, `task_not_submitted`, `no_reward_period`,
    `second_approver_required` (the same coordinator approving twice); 422
    `annual_cap_exceeded`, `monthly_cap_exceeded`, `reward_per_hour_exceeded`,
    `period_budget_exhausted`, `citizen_cap_exceeded`; 503 `chain_unavailable`.
    """
    with transaction(ctx.db):
        row = task_row(ctx, ref)
        claimant = row["claimed_by_address"]
        _approve_one(ctx, caller, row, _LazyView(ctx, [str(claimant)] if claimant else []))
    ctx.wake()
    return task_public(ctx, task_row(ctx, ref), caller)


APPROVE_MANY_MAX = 200
"""Most tasks one `approve_many` decides."""


def approve_many(ctx: Context, caller: Caller, refs: list[str]) -> list[ApprovalOutcome]:
    """Approve several pieces of submitted work at once (a coordinator ticking work in the
    review queue): each ref is decided as `approve` decides it, in order, with every rule
    and check of `approve`, and the chain's reward period read once for the whole batch
    (`domain.reward_period.PeriodView`: the budget and the caps per citizen count the rewards
    approved earlier in the batch). A refusal refuses that ref only (its outcome carries the
    code and message `approve` would raise) and leaves the others; a ref given twice is
    decided once, the repeat answered as `approve` would (`task_already_approved`, or
    `second_approver_required`). Everything is written in one database transaction (each ref
    in its own savepoint), the staff log records each decision as `approve` does, and the
    dispatcher mints the approved rewards in batches (`mintRewards`).

    Returns one `ApprovalOutcome` per ref, in order: `result` approved | first_approval |
    refused.

    Errors (the whole batch, nothing written): 403 `forbidden`; 422 `invalid_request` (no
    refs, more than `APPROVE_MANY_MAX`); 503 `chain_unavailable`.
    """
    require_coordinator(caller)
    if not refs or len(refs) > APPROVE_MANY_MAX:
        raise Refused(
            422, "invalid_request", f"give 1 to {APPROVE_MANY_MAX} task refs, not {len(refs)}"
        )
    out: list[ApprovalOutcome] = []
    with transaction(ctx.db):
        view = _LazyView(ctx, tasks.claimant_addresses(ctx.db, refs))
        for ref in refs:
            try:
                with savepoint(ctx.db):  # a refusal undoes this ref's writes only
                    row = tasks.get(ctx.db, ref)
                    if row is None:
                        raise Refused(404, "task_not_found", f"no published task {ref!r}")
                    result = _approve_one(ctx, caller, row, view)
            except Refused as e:
                if e.code == "chain_unavailable":
                    raise  # the whole batch: nothing decided
                out.append(
                    ApprovalOutcome(ref=ref, result="refused", code=e.code, message=e.message)
                )
                continue
            out.append(ApprovalOutcome(ref=ref, result=result))
    if any(o.result == "approved" for o in out):
        ctx.wake()
    return out


class _LazyView:
    """What a batch of approvals reads once: the reward period from the chain, at the first
    approval that needs it (`approve` and `approve_many` refuse on the database's rules before
    asking the chain), and each citizen's approved totals of the year and month, kept up to
    date as the batch approves."""

    def __init__(self, ctx: Context, citizens: list[str] | None = None) -> None:
        self.ctx = ctx
        self.citizens = citizens or []
        """Addresses whose period totals are read in one go when the chain is first asked."""
        self.view: PeriodView | None = None
        self._year: dict[int, int] = {}
        self._month: dict[int, int] = {}

    def year_total(self, citizen: int) -> int:
        """Base units approved for `citizen` in the year of `now` (read once a batch)."""
        if citizen not in self._year:
            self._year[citizen] = tasks.approved_rewards(self.ctx.db, citizen, self.ctx.now.year)
        return self._year[citizen]

    def month_total(self, citizen: int) -> int:
        """Base units approved for `citizen` in the month of `now` (read once a batch)."""
        if citizen not in self._month:
            month = self.ctx.now.strftime("%Y-%m")
            self._month[citizen] = tasks.approved_in_month(self.ctx.db, citizen, month)
        return self._month[citizen]

    def approved(self, citizen: int, reward: int) -> None:
        """Count a reward just approved in the totals above."""
        self._year[citizen] = self.year_total(citizen) + reward
        self._month[citizen] = self.month_total(citizen) + reward

    def check(self, task: sqlite3.Row, *, count: bool = True) -> None:
        if self.view is None:
            self.view = PeriodView.load(self.ctx, self.citizens)
        self.view.check(task, count=count)


def _approve_one(
    ctx: Context, caller: Caller, task: sqlite3.Row, view: _LazyView
) -> Literal["approved", "first_approval"]:
    """Decide one approval inside the caller's transaction (the rules of `approve`): returns
    "approved" (task approved, mint intent queued, staff log written) or "first_approval" (the
    first of two, recorded). Raises `Refused` before writing anything."""
    ref = str(task["ref"])
    check_duties(ctx, caller, task, "approve")
    if task["status"] == "approved":
        raise Refused(409, "task_already_approved", f"task {ref!r} is already approved")
    if task["status"] != "submitted":
        raise Refused(409, "task_not_submitted", f"task {ref!r} is {task['status']}")
    year = ctx.now.year
    earned = view.year_total(int(task["claimed_by"]))
    cap = ctx.settings.cap_units()
    if earned + task["reward"] > cap:
        raise Refused(
            422,
            "annual_cap_exceeded",
            f"{task['claimed_by_name']} has {format_heit(earned)} HEIT in {year}; "
            f"{format_heit(task['reward'])} more would pass the cap of {format_heit(cap)}",
        )
    month = ctx.now.strftime("%Y-%m")
    check_monthly(
        str(task["claimed_by_name"]),
        month,
        view.month_total(int(task["claimed_by"])),
        int(task["reward"]),
        ctx.settings.monthly_cap_units(),
    )
    check_per_hour(
        int(task["reward"]), task["estimated_minutes"], ctx.settings.max_per_hour_units()
    )
    threshold = ctx.settings.four_eyes_units()
    needs_two = threshold is not None and int(task["reward"]) >= threshold
    first = task["first_approved_by"]
    if needs_two and first is not None and first == caller.id:
        raise Refused(
            409,
            "second_approver_required",
            f"you approved task {ref!r} already: a reward of "
            f"{format_heit(task['reward'])} HEIT needs a second coordinator",
        )
    if needs_two and first is None:  # the first of two approvals: recorded, nothing minted yet
        view.check(task, count=False)  # the chain must be able to pay it, later
        tasks.set_first_approval(ctx.db, task["id"], caller.id, ctx.now.isoformat())
        staff_log.record(ctx, caller, "task.first_approval", ref, reward=int(task["reward"]))
        return "first_approval"
    view.check(task)
    tasks.set_approved(ctx.db, task["id"], caller.id, ctx.now.isoformat(), year)
    staff_log.record(
        ctx,
        caller,
        "task.approve",
        ref,
        reward=int(task["reward"]),
        citizen_id=task["claimed_by"],
        first_approved_by=task["first_approved_by_name"],
    )
    outbox.add_mint(
        ctx.db,
        task["claimed_by"],
        task["id"],
        task["claimed_by_address"],
        task["reward"],
        "0x" + task_ref(f"{task['id']}:{task['ref']}").hex(),
    )
    view.approved(int(task["claimed_by"]), int(task["reward"]))
    return "approved"

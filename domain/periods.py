"""Reward periods and the pause, on chain: what the admin's page reads (the period in force
with its budget, what was minted and what is left, the cap per citizen, periods still to
start, whether the coin is paused) and what it does: open the next period with the admin key
(`DEFAULT_ADMIN_ROLE`), pause and unpause with the pauser key (`PAUSER_ROLE`: the contract
lets only that role pause, not the admin).

`open_reward_period` is the one code path that opens a period: `heitje period open` (the
command line) and the page both use it. Chain actions go in the staff log once their
transaction is mined (`period.open`, `chain.pause`, `chain.unpause`).

Amounts are integer base units (1 HEIT = 100); times are aware datetimes (UTC on chain, the
start day a day in Dutch time, `TIMEZONE`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from domain import staff_log
from domain.context import Caller, Context
from heitje.errors import ChainError, ConfigError, Refused
from heitje.money import MAX_UNITS
from node.keys import service_key
from node.signer import Signer
from node.token import RewardPeriod, Token
from store.db import transaction

TIMEZONE = ZoneInfo("Europe/Amsterdam")
"""A period's start day is a day in Dutch time: it starts at midnight there."""

MAX_UPCOMING = 24
"""The most periods still to start that `chain_state` reads."""

MAX_REASON = 500
"""The longest reason (characters) a pause or unpause takes."""

_CHAIN_ACTIONS = threading.Lock()
"""One admin chain action at a time in this process: each signs with a fresh `Signer` of its
key, whose own lock would not keep two of them from choosing the same nonce (a pause clicked
twice is then refused as `already_paused`, not sent twice)."""


@dataclass(frozen=True)
class Period:
    """Reward period `id` (from 1) as the chain has it: `start` (UTC), `budget`, `minted` and
    `cap_per_citizen` in base units."""

    id: int
    start: datetime
    budget: int
    cap_per_citizen: int
    minted: int

    @property
    def remaining(self) -> int:
        """Base units the period may still mint."""
        return max(0, self.budget - self.minted)


@dataclass(frozen=True)
class ChainState:
    """What the chain says now: the period in force (None: none), the periods that start
    later (soonest first), and whether the token is paused."""

    current: Period | None
    upcoming: list[Period]
    paused: bool


def _period(period_id: int, p: RewardPeriod) -> Period:
    return Period(
        period_id,
        datetime.fromtimestamp(p.start, UTC),
        int(p.budget),
        int(p.cap_per_citizen),
        int(p.minted),
    )


def is_paused(token: Token) -> bool:
    """True while the token is paused (`paused()`)."""
    return bool(token.contract.functions.paused().call())


def chain_state(ctx: Context) -> ChainState:
    """The reward periods and the pause, read from the chain at its head.

    Errors: 503 `chain_unavailable` (no chain service); whatever the node raises when it does
    not answer (`OSError`)."""
    token = ctx.chain.token
    current_id = token.current_period_id()
    current = _period(current_id, token.reward_period(current_id)) if current_id else None
    upcoming: list[Period] = []
    for period_id in range(current_id + 1, current_id + 1 + MAX_UPCOMING):
        try:
            upcoming.append(_period(period_id, token.reward_period(period_id)))
        except ContractLogicError:  # past the last period: the contract panics
            break
    return ChainState(current, upcoming, is_paused(token))


def open_reward_period(
    w3: Web3,
    token: Token,
    keys_dir: Path,
    nonce_journal: Path,
    *,
    budget: int,
    cap_per_citizen: int,
    start: int = 0,
    confirmations: int = 0,
    expire_after: float = 0.0,
) -> int:
    """Open a reward period with the admin key (`keys_dir/admin.key`, journaled in
    `nonce_journal`): from `start` (unix seconds; 0 = now) until the next period, at most
    `budget` base units minted in all and `cap_per_citizen` to one citizen. Waits until the
    transaction is final (`confirmations` deep); returns the new period's id.

    Raises `ChainError` when the chain refuses (`invalid_period`: the start is in the past or
    not after the last period's start; `missing_role`: the key is not the admin) or the
    transaction does not go through (`tx_*`); `ConfigError` `missing_key` when the admin key
    is not on this machine."""
    admin = Signer(
        w3,
        service_key(keys_dir, "admin"),
        nonce_journal,
        confirmations=confirmations,
        expire_after=expire_after,
    )
    receipt = admin.transact(token.open_reward_period_tx(start, budget, cap_per_citizen))
    events = token.contract.events.RewardPeriodOpened().process_receipt(receipt, errors=DISCARD)
    return int(events[0]["args"]["periodId"])


def start_of(day: date, today: date, now: datetime) -> int:
    """The unix second a period starting on `day` (Dutch time) starts: midnight of that day,
    or 0 (now, as the contract reads it) for `today`, whose midnight has passed.

    Errors: 422 `start_in_past` for a day before `today`."""
    if day < today:
        raise Refused(422, "start_in_past", "a period cannot start on a day that has passed")
    if day == today:
        return 0
    moment = datetime.combine(day, time(0), TIMEZONE)
    return max(int(moment.timestamp()), int(now.timestamp()))


def check_amount(units: int, what: str) -> None:
    """A period's budget or cap: more than 0 and at most 10^12 HEIT.

    Errors: 422 `invalid_amount`."""
    if units <= 0 or units > MAX_UNITS:
        raise Refused(422, "invalid_amount", f"the {what} must be more than 0")


def _signer(ctx: Context, role: str) -> Signer:
    settings = ctx.settings
    return Signer(
        ctx.chain.w3,
        service_key(settings.keys_dir, role),
        settings.nonce_journal,
        confirmations=settings.confirmations,
        expire_after=settings.tx_expire_after,
    )


def _key_refusal(e: ConfigError, role: str) -> Refused:
    if e.code == "missing_key":
        return Refused(503, "missing_key", f"the {role} key is not on this server")
    return Refused(503, e.code, str(e))


def open_period(
    ctx: Context,
    caller: Caller,
    *,
    start_day: date,
    budget: int,
    cap_per_citizen: int,
    reason: str = "",
) -> int:
    """An admin opens the next reward period from `start_day` (a day in Dutch time; today
    means now) with `budget` and `cap_per_citizen` in base units, signed with the admin key
    (`open_reward_period`). Once the transaction is mined, `period.open` goes in the staff log
    (subject: the period id; detail: start, budget, cap). Returns the period's id.

    Errors: 403 `forbidden` (not an admin); 422 `start_in_past`, `invalid_amount`; 422
    `invalid_period` (the chain's refusal: not after the last period's start), `missing_role`,
    other `ChainError` codes; 503 `missing_key` (no admin key on this server),
    `chain_unavailable`."""
    if caller.role != "admin":
        raise Refused(403, "forbidden", "only an admin opens a reward period")
    check_amount(budget, "budget")
    check_amount(cap_per_citizen, "cap per citizen")
    now = ctx.now.astimezone(TIMEZONE)
    start = start_of(start_day, now.date(), ctx.now)
    chain = ctx.chain
    settings = ctx.settings
    try:
        with _CHAIN_ACTIONS:
            period_id = open_reward_period(
                chain.w3,
                chain.token,
                settings.keys_dir,
                settings.nonce_journal,
                budget=budget,
                cap_per_citizen=cap_per_citizen,
                start=start,
                confirmations=settings.confirmations,
                expire_after=settings.tx_expire_after,
            )
    except ConfigError as e:
        raise _key_refusal(e, "admin") from None
    opened = chain.token.reward_period(period_id)
    with transaction(ctx.db):
        staff_log.record(
            ctx,
            caller,
            "period.open",
            str(period_id),
            reason,
            start=datetime.fromtimestamp(opened.start, UTC).isoformat(),
            budget=int(opened.budget),
            cap_per_citizen=int(opened.cap_per_citizen),
        )
    return period_id


def set_paused(ctx: Context, caller: Caller, paused: bool, reason: str) -> None:
    """An admin pauses (`paused`) or unpauses the token with the pauser key (`PAUSER_ROLE`),
    for `reason` (needed: 1 to `MAX_REASON` characters). While paused the chain refuses every
    mint, transfer, redemption, recovery and settlement record. Once the transaction is mined,
    `chain.pause` or `chain.unpause` goes in the staff log with the reason.

    Errors: 403 `forbidden` (not an admin); 422 `reason_required`, `too_long`; 409
    `already_paused`, `not_paused`; 422 `missing_role` and other `ChainError` codes; 503
    `missing_key` (no pauser key on this server), `chain_unavailable`."""
    if caller.role != "admin":
        raise Refused(403, "forbidden", "only an admin pauses the coin")
    reason = " ".join(reason.split())
    if not reason:
        raise Refused(422, "reason_required", "say why")
    if len(reason) > MAX_REASON:
        raise Refused(422, "too_long", f"at most {MAX_REASON} characters")
    token = ctx.chain.token
    try:
        pauser = _signer(ctx, "pauser")
    except ConfigError as e:
        raise _key_refusal(e, "pauser") from None
    with _CHAIN_ACTIONS:
        if is_paused(token) == paused:
            if paused:
                raise Refused(409, "already_paused", "the coin is paused already")
            raise Refused(409, "not_paused", "the coin is not paused")
        try:
            receipt = pauser.transact(token.pause_tx() if paused else token.unpause_tx())
        except ChainError as e:
            if e.code in ("paused", "expected_pause"):  # someone else was quicker
                code = "already_paused" if paused else "not_paused"
                raise Refused(409, code, str(e)) from None
            raise
    with transaction(ctx.db):
        staff_log.record(
            ctx,
            caller,
            "chain.pause" if paused else "chain.unpause",
            "token",
            reason,
            tx=receipt["transactionHash"].to_0x_hex(),
            block=int(receipt["blockNumber"]),
        )

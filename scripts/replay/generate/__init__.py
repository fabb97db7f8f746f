"""The generator of programme years in the `heitje-scenario/1` format (`heitje scenario generate`).

`generate_scenario(...)` builds a year in steps, all drawing from one `random.Random(seed)` in
a fixed order, so the same arguments always give the same file:

1. `people`: coordinators, citizens (a few do most tasks) and shops with their IBANs;
2. `tasks`: the task catalogue, and each task's lifecycle planned on the `calendar`
   (publish, claim, submit, approve or reject) within the yearly reward cap;
3. `spending` and `settlements`: month-end redemptions and settle events planned;
4. the plan played back day by day: rewards are spent at shops (`spending`: purchases,
   refunds, redemptions, never above a balance), each settle event is written, and now and
   then a deliberately refused event follows a valid one (`refusals`);
5. the municipality's account, and the whole as a JSON-ready dict.

The file format itself (models, loading, validation) is `scripts.replay.scenario`.
"""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from heitje.errors import InvalidInput
from heitje.money import format_heit, parse_heit, parse_rate
from scripts.replay.generate.calendar import (
    APPROVE,
    BUY,
    REDEEM,
    REFUND,
    SETTLE,
    Calendar,
    Plan,
)
from scripts.replay.generate.people import (
    make_citizens,
    make_coordinators,
    make_shops,
    municipality,
)
from scripts.replay.generate.refusals import refused_event
from scripts.replay.generate.settlements import plan_settlements, settle_event
from scripts.replay.generate.spending import Wallets
from scripts.replay.generate.tasks import (
    is_lifecycle,
    lifecycle_event,
    make_tasks,
    plan_lifecycles,
)
from scripts.replay.scenario import FORMAT

__all__ = ["generate_scenario"]

_DESCRIPTION = (
    "Generated replay of a Heerlens-Heitje-like reward programme: tasks published, claimed, "
    "done and approved; coins spent at local shops; shops redeemed and settled monthly in euros."
)


def generate_scenario(
    *,
    citizens: int = 24,
    shops: int = 8,
    tasks: int = 48,
    months: int = 9,
    seed: int = 2022,
    start: date = date(2022, 3, 1),
    annual_cap: str = "1500.00",
    eur_per_heitje: str = "1.00",
    municipality_name: str = "Gemeente Heerlen (scenario)",
    invalid_share: float = 0.01,
    name: str | None = None,
) -> dict[str, Any]:
    """Generate a realistic programme year as a `heitje-scenario/1` dict (JSON-ready).

    Deterministic for given arguments (one `random.Random(seed)`). The period runs from
    `start` to the last day of the `months`-th calendar month. Tasks are published,
    claimed, submitted and mostly approved (some rejected, some never claimed or never
    done); citizens spend rewards at shops (only what they hold), shops sometimes
    refund, shops holding HEIT redeem at each month end and a settle event follows at 23:30 with
    `through` 23:00. Times carry the Europe/Amsterdam offset (+01:00 / +02:00).
    Approvals never take a citizen above `annual_cap` in a calendar year.

    About `invalid_share` of the valid events is followed by a deliberately refused one at
    the same time (a second claim of a claimed task, a repeated approval, an approval by a
    non-coordinator, a payment above the balance or of a malformed amount, a payment to an
    unknown shop or between citizens, a redemption above the balance, a repeated settle).
    Refused events change nothing, so the rest of the year stays valid.

    Scales linearly: 5,000 citizens, 50,000 tasks, 12 months take a few seconds.
    Raises `InvalidInput` for sizes out of range and `InvalidAmount` for a bad cap or rate.
    """
    if citizens < 1 or shops < 1 or tasks < 0 or months < 1:
        raise InvalidInput("need citizens >= 1, shops >= 1, tasks >= 0 and months >= 1")
    if not 0.0 <= invalid_share <= 0.5:
        raise InvalidInput("invalid_share must be between 0 and 0.5")
    cap_units = parse_heit(annual_cap)
    parse_rate(eur_per_heitje)

    rng = random.Random(seed)
    calendar = Calendar(start, months)
    plan = Plan(calendar.ndays)

    # 1. People and shops, 2. tasks and their lifecycles.
    coordinator_list = make_coordinators(rng, tasks)
    citizen_list = make_citizens(rng, citizens)
    shop_list = make_shops(rng, shops)
    task_list = make_tasks(rng, tasks)
    plan_lifecycles(rng, plan, calendar, task_list, coordinator_list, citizen_list, cap_units)

    # 3. Month ends: redemptions from 17:00, settlement at 23:30 through 23:00.
    wallets = Wallets(rng, plan, citizen_list, shop_list)
    month_ends = calendar.month_ends()
    wallets.plan_redemptions(month_ends)
    plan_settlements(plan, month_ends)

    # 4. Play the plan back day by day, in time order, keeping balances.
    events: list[dict[str, Any]] = []
    for day in range(calendar.ndays):
        for minute, _, op, a, b, c in plan.day(day):
            stamp = calendar.at(day, minute)
            event: dict[str, Any] | None
            if is_lifecycle(op):
                event = lifecycle_event(stamp, op, a, b, task_list, coordinator_list, citizen_list)
                if op == APPROVE:
                    wallets.reward(day, c, task_list.rewards[a])
            elif op == BUY:
                event = wallets.buy(day, stamp, a)
            elif op == REFUND:
                event = wallets.refund(stamp, a, b, c)
            elif op == REDEEM:
                event = wallets.redeem(stamp, a)
            elif op == SETTLE:
                event = settle_event(calendar, day, stamp)
            else:  # pragma: no cover - every planned kind is handled above
                raise AssertionError(f"unknown planned action {op}")
            if event is None:
                continue
            events.append(event)

            if invalid_share and rng.random() < invalid_share:
                bad = refused_event(
                    rng,
                    event,
                    citizen_list.ids,
                    shop_list.ids,
                    wallets.citizen,
                    wallets.shop,
                )
                if bad is not None:
                    events.append(bad)

    # 5. The municipality (its IBAN drawn last) and the whole file.
    return {
        "format": FORMAT,
        "name": name if name is not None else f"heerlen-{start.year}-seed-{seed}",
        "description": _DESCRIPTION,
        "municipality": municipality(rng, municipality_name, eur_per_heitje),
        "policy": {"annual_reward_cap": format_heit(cap_units)},
        "coordinators": coordinator_list.rows,
        "citizens": citizen_list.rows,
        "shops": shop_list.rows,
        "tasks": task_list.rows,
        "events": events,
    }

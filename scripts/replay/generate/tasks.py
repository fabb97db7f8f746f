"""The tasks of a generated year and their lifecycles: publish, claim, submit, approve/reject.

A coordinator publishes each task; most are claimed within days, done and approved (the
reward is minted), some are rejected, some never claimed or never done. Claimants are chosen
in claim order so that approvals never take a citizen above the yearly cap.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from heitje.money import format_heit
from scripts.replay.generate.calendar import (
    APPROVE,
    CLAIM,
    MINUTES_PER_DAY,
    PUBLISH,
    REJECT,
    SUBMIT,
    Calendar,
    Plan,
)
from scripts.replay.generate.people import NEIGHBOURHOODS, Citizens, Coordinators, width

__all__ = ["Tasks", "is_lifecycle", "lifecycle_event", "make_tasks", "plan_lifecycles"]

# kind, title, reward in HEIT base units, how often it is published (weight).
# Paint a waste bin 15, polish playground equipment 12, paint a stone post 15 are from public
# reporting on Heerlens Heitje; the rest are set in proportion.
_TASK_KINDS: tuple[tuple[str, str, int, int], ...] = (
    ("paint-bin", "Paint a waste bin", 1500, 4),
    ("polish-playground", "Polish playground equipment", 1200, 3),
    ("paint-post", "Paint a stone post", 1500, 3),
    ("paint-bench", "Paint a park bench", 1500, 3),
    ("street-marking", "Refresh street markings", 1500, 2),
    ("litter-walk", "Pick litter along a street", 800, 4),
    ("weed-planter", "Weed a tree pit or planter", 600, 2),
    ("graffiti", "Remove graffiti from a wall", 2000, 1),
    ("night-watch", "Neighbourhood night-watch round", 2000, 1),
    ("park-walk", "Wheel elderly residents around the park", 1000, 2),
)

# What each lifecycle action writes, and whether its actor is a coordinator or a citizen.
_LIFECYCLE: dict[int, tuple[str, str]] = {
    PUBLISH: ("publish", "by"),
    CLAIM: ("claim", "citizen"),
    SUBMIT: ("submit", "citizen"),
    APPROVE: ("approve", "by"),
    REJECT: ("reject", "by"),
}


@dataclass(frozen=True)
class Tasks:
    ids: list[str]
    rows: list[dict[str, Any]]
    rewards: list[int]
    """Per task, the reward in HEIT base units."""


def make_tasks(rng: random.Random, n: int) -> Tasks:
    """`n` tasks of the catalogue's kinds (by weight), each in a neighbourhood."""
    kind_cum = list(accumulate(k[3] for k in _TASK_KINDS))
    w = width(n, 3)
    ids = [f"task-{i + 1:0{w}d}" for i in range(n)]
    rows: list[dict[str, Any]] = []
    rewards: list[int] = []
    for tid in ids:
        kind, title, reward, _ = _TASK_KINDS[bisect_right(kind_cum, rng.random() * kind_cum[-1])]
        hood = rng.choice(NEIGHBOURHOODS)
        rows.append(
            {
                "id": tid,
                "kind": kind,
                "title": f"{title} ({hood})",
                "reward": format_heit(reward),
                "neighbourhood": hood,
            }
        )
        rewards.append(reward)
    return Tasks(ids, rows, rewards)


def plan_lifecycles(
    rng: random.Random,
    plan: Plan,
    calendar: Calendar,
    tasks: Tasks,
    coordinators: Coordinators,
    citizens: Citizens,
    cap_units: int,
) -> None:
    """Plan every task's publication and, for the claimed ones, claim, submit and decision.

    Publications fall before the last two days; a claim 1-5 days later, the work 0-5 days
    after the claim, the decision 1-4 days after that (7 % rejected). Approve and reject
    actions carry (task, coordinator, citizen).
    """
    ndays = calendar.ndays
    n_coord = len(coordinators.ids)
    # (claim time, task, claim day, claim minute, submit day/minute, decision day/minute, ok)
    lifecycles: list[tuple[int, int, int, int, int, int, int, int, bool]] = []
    last_publish_day = max(0, ndays - 3)
    for t in range(len(tasks.ids)):
        pday = rng.randrange(last_publish_day + 1)
        plan.add(pday, 9 * 60 + rng.randrange(60), PUBLISH, t, rng.randrange(n_coord))
        r = rng.random()
        if r < 0.06:
            continue  # nobody claims it
        cday = pday + rng.randint(1, 5)
        cmin = 11 * 60 + rng.randrange(60)
        sday = cday + rng.randint(0, 5) if r >= 0.10 else ndays  # 4 %: claimed, never done
        smin = 16 * 60 + rng.randrange(60)
        dday = sday + rng.randint(1, 4)
        dmin = 10 * 60 + rng.randrange(60)
        approved = rng.random() >= 0.07
        if cday < ndays:
            lifecycles.append(
                (cday * MINUTES_PER_DAY + cmin, t, cday, cmin, sday, smin, dday, dmin, approved)
            )

    # Assign claimants in claim order, keeping approvals within the yearly cap.
    lifecycles.sort()
    committed: dict[tuple[int, int], int] = {}
    for _, t, cday, cmin, sday, smin, dday, dmin, approved in lifecycles:
        reward = tasks.rewards[t]
        will_mint = approved and dday < ndays
        year = calendar.dates[dday].year if will_mint else 0
        chosen = -1
        for _attempt in range(6):
            c = citizens.pick(rng)
            if not will_mint or committed.get((c, year), 0) + reward <= cap_units:
                chosen = c
                break
        if chosen < 0:
            continue  # everyone we asked is at the cap: the task stays open
        if will_mint:
            committed[(chosen, year)] = committed.get((chosen, year), 0) + reward
        plan.add(cday, cmin, CLAIM, t, chosen)
        plan.add(sday, smin, SUBMIT, t, chosen)
        plan.add(dday, dmin, APPROVE if approved else REJECT, t, rng.randrange(n_coord), chosen)


def lifecycle_event(
    stamp: str,
    kind: int,
    task: int,
    actor: int,
    tasks: Tasks,
    coordinators: Coordinators,
    citizens: Citizens,
) -> dict[str, Any]:
    """The event of a planned lifecycle action: `actor` indexes coordinators or citizens."""
    type_, role = _LIFECYCLE[kind]
    ids = coordinators.ids if role == "by" else citizens.ids
    return {"at": stamp, "type": type_, "task": tasks.ids[task], role: ids[actor]}


def is_lifecycle(kind: int) -> bool:
    """Whether a planned action is a step of a task's lifecycle."""
    return kind in _LIFECYCLE

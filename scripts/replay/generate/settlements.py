"""Settlements in a generated year: at each month end the municipality pays the month's
redemptions in euros.

The settle event comes at 23:30 on a month's last day, `through` 23:00, after that day's
redemptions (17:00-18:00), so every redemption of the month is paid exactly once.
"""

from __future__ import annotations

from typing import Any

from scripts.replay.generate.calendar import SETTLE, Calendar, Plan

__all__ = ["plan_settlements", "settle_event"]

_SETTLE_AT = 23 * 60 + 30
_THROUGH = 23 * 60


def plan_settlements(plan: Plan, month_ends: list[int]) -> None:
    for day in month_ends:
        plan.add(day, _SETTLE_AT, SETTLE)


def settle_event(calendar: Calendar, day: int, stamp: str) -> dict[str, Any]:
    return {"at": stamp, "type": "settle", "through": calendar.at(day, _THROUGH)}

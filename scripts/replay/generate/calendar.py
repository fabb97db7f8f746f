"""The days of a generated year, their local times, and the plan of what happens on each day.

Times carry the Europe/Amsterdam offset (+01:00 / +02:00). Every step of the generator puts
its actions on the `Plan`; the year is then played back day by day in (minute, planning order).
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = [
    "APPROVE",
    "BUY",
    "CLAIM",
    "MINUTES_PER_DAY",
    "PUBLISH",
    "REDEEM",
    "REFUND",
    "REJECT",
    "SETTLE",
    "SUBMIT",
    "Action",
    "Calendar",
    "Plan",
    "add_months",
]

MINUTES_PER_DAY = 24 * 60

# Kinds of planned actions, in a day's queue as (minute, seq, kind, a, b, c).
PUBLISH, CLAIM, SUBMIT, APPROVE, REJECT, BUY, REFUND, REDEEM, SETTLE = range(9)

Action = tuple[int, int, int, int, int, int]


# "HH:MM:00" for every minute of a day.
_CLOCK = [f"{h:02d}:{m:02d}:00" for h in range(24) for m in range(60)]


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _amsterdam_offset(day: date) -> str:
    """UTC offset in Europe/Amsterdam for a time of day between 03:00 and 24:00 on `day`."""
    summer = _last_sunday(day.year, 3) <= day < _last_sunday(day.year, 10)
    return "+02:00" if summer else "+01:00"


class Calendar:
    """From `start` to the last day of the `months`-th calendar month; days count from 0."""

    def __init__(self, start: date, months: int) -> None:
        self.start = start
        self.months = months
        end = add_months(start, months) - timedelta(days=1)
        self.ndays = (end - start).days + 1
        self.dates = [start + timedelta(days=i) for i in range(self.ndays)]
        self._prefix = [d.isoformat() + "T" for d in self.dates]
        self._offset = [_amsterdam_offset(d) for d in self.dates]

    def at(self, day: int, minute: int) -> str:
        """ISO 8601 local time of `minute` past midnight on `day`, with its offset."""
        return self._prefix[day] + _CLOCK[minute] + self._offset[day]

    def month_ends(self) -> list[int]:
        """The day of each calendar month's last day, in order."""
        first = date(self.start.year, self.start.month, 1)
        return [
            (add_months(first, m + 1) - timedelta(days=1) - self.start).days
            for m in range(self.months)
        ]


class Plan:
    """Per day, the actions to play back; actions after the last day are dropped."""

    def __init__(self, ndays: int) -> None:
        self._ndays = ndays
        self._queues: list[list[Action]] = [[] for _ in range(ndays)]
        self._seq = 0

    def add(self, day: int, minute: int, kind: int, a: int = 0, b: int = 0, c: int = 0) -> None:
        if day < self._ndays:
            seq = self._seq
            self._queues[day].append((minute, seq, kind, a, b, c))
            self._seq = seq + 1

    def day(self, day: int) -> list[Action]:
        """The actions of `day` in time order, ties in the order they were planned.

        Actions are only ever planned for later days, so the list does not change while
        `day` is played back.
        """
        queue = self._queues[day]
        queue.sort()
        return queue

"""TARGET2 business days: when a SEPA credit transfer can be executed.

The Eurosystem's TARGET2 (T2) is open every weekday except six holidays: New Year's Day (1
January), Good Friday, Easter Monday, Labour Day (1 May), Christmas Day (25 December) and 26
December. A pain.001's requested execution date (ReqdExctnDt) is one of those days: a run's
own day when TARGET2 is open, else the next day it is (`target2_day_on_or_after`).

Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher), integer arithmetic
only: Easter 2027 is 28 March, so Good Friday is 26 March and Easter Monday 29 March.
"""

from __future__ import annotations

from datetime import date, timedelta


def easter_sunday(year: int) -> date:
    """Easter Sunday of `year` (Gregorian calendar, 1583 and later)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month, day = divmod(h + leap - 7 * m + 114, 31)
    return date(year, month, day + 1)


def target2_holidays(year: int) -> frozenset[date]:
    """The six days of `year` on which TARGET2 is closed although they may be weekdays."""
    easter = easter_sunday(year)
    return frozenset(
        {
            date(year, 1, 1),
            easter - timedelta(days=2),  # Good Friday
            easter + timedelta(days=1),  # Easter Monday
            date(year, 5, 1),
            date(year, 12, 25),
            date(year, 12, 26),
        }
    )


def is_target2_day(day: date) -> bool:
    """True when TARGET2 is open on `day`: a weekday that is not one of its holidays."""
    return day.weekday() < 5 and day not in target2_holidays(day.year)


def target2_day_on_or_after(day: date) -> date:
    """`day` when TARGET2 is open then, else the next day it is: the requested execution date of
    a settlement run on `day` (a bank executes a file given on a business day that same day;
    one made on Good Friday 26 March 2027 is executed on Tuesday 30 March 2027)."""
    while not is_target2_day(day):
        day += timedelta(days=1)
    return day


def next_target2_day(after: date) -> date:
    """The first TARGET2 business day strictly after `after`: Thursday 25 March 2027 -> Tuesday
    30 March 2027 (Good Friday, the weekend and Easter Monday skipped)."""
    return target2_day_on_or_after(after + timedelta(days=1))

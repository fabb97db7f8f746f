"""The volunteer allowance (vrijwilligersvergoeding) in whole numbers: hours as people type
them read as minutes, a reward per hour, and the checks of the most reward per estimated hour
(`max_reward_per_hour`) and of the monthly cap per citizen (`monthly_reward_cap`). Base units
and minutes only; `reward * 60 <= max_per_hour * minutes` is the rule, no division."""

from __future__ import annotations

import re

from heitje.errors import Refused
from heitje.money import format_heit

_HOURS = re.compile(r"\s*(\d{1,4})(?:[.,](\d{1,2}))?\s*")


def parse_hours(text: str) -> int:
    """Whole minutes of an estimate in hours as people type it: "2", "1,5", "0.25" (at most
    two decimals), rounded to the nearest minute.

    Errors: 422 `invalid_hours` (not such a number, or less than one minute)."""
    match = _HOURS.fullmatch(text)
    if match is None:
        raise Refused(422, "invalid_hours", f"{text!r} is not a number of hours such as 1,5")
    hundredths = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
    minutes = (hundredths * 60 + 50) // 100
    if minutes < 1:
        raise Refused(422, "invalid_hours", "a task takes at least one minute")
    return minutes


def per_hour(reward: int, minutes: int) -> int:
    """The reward per hour of a task (base units, rounded half up) of `reward` base units
    that takes `minutes`."""
    return (reward * 60 * 2 + minutes) // (minutes * 2)


def check_per_hour(reward: int, minutes: int | None, most: int | None) -> None:
    """Refuse a `reward` (base units) for `minutes` of work above `most` base units an hour:
    allowed while `reward * 60 <= most * minutes`; no estimate or no maximum (None): not
    checked.

    Errors: 422 `reward_per_hour_exceeded` (with both figures)."""
    if minutes is None or most is None or reward * 60 <= most * minutes:
        return
    raise Refused(
        422,
        "reward_per_hour_exceeded",
        f"a reward of {format_heit(reward)} HEIT for {_hours_text(minutes)} is "
        f"{format_heit(per_hour(reward, minutes))} HEIT per hour; the most allowed is "
        f"{format_heit(most)} HEIT per hour",
    )


def check_monthly(name: str, month: str, earned: int, reward: int, cap: int | None) -> None:
    """Refuse `reward` (base units) to citizen `name` who had `earned` approved in `month`
    ("YYYY-MM") when together they pass the monthly cap `cap` (equal is allowed; None: no
    cap).

    Errors: 422 `monthly_cap_exceeded` (with the figures)."""
    if cap is None or earned + reward <= cap:
        return
    raise Refused(
        422,
        "monthly_cap_exceeded",
        f"{name} has {format_heit(earned)} HEIT approved in {month}; {format_heit(reward)} more "
        f"would pass the monthly cap of {format_heit(cap)} HEIT",
    )


def _hours_text(minutes: int) -> str:
    return f"{minutes // 60}h{minutes % 60:02d}"

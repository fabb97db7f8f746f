"""The year a dashboard or open-data page shows: chosen from a list, this year by default."""

from __future__ import annotations

import re

from domain import dashboard
from domain.context import Context
from web import i18n
from web.i18n import N_

YEARS_SHOWN = 5
"""The year choice offers this year and the years before it."""

_YEAR = re.compile(r"^[0-9]{4}\Z")


def this_year(ctx: Context) -> int:
    """The calendar year of business time in Dutch time."""
    return ctx.now.astimezone(i18n.TIMEZONE).year


def parse_year(ctx: Context, text: str | None) -> tuple[int, str | None]:
    """(the year to show, an error message id): no year means this year; a year that is not
    four digits from 2000 to 2999 gives this year and the error."""
    if text is None or not text.strip():
        return this_year(ctx), None
    text = text.strip()
    if _YEAR.match(text) and dashboard.FIRST_YEAR <= int(text) <= dashboard.LAST_YEAR:
        return int(text), None
    return this_year(ctx), N_("Choose a year from the list.")


def year_options(ctx: Context, year: int) -> list[tuple[str, str]]:
    """(value, text) of the years to choose from, newest first (the shown year included)."""
    now = this_year(ctx)
    years = set(range(now - YEARS_SHOWN + 1, now + 1)) | {year}
    return [(str(y), str(y)) for y in sorted(years, reverse=True)]

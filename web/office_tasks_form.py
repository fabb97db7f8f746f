"""The coordinator's task form (publish and edit, `web.office_tasks`): reading what was typed,
each problem next to its field in the reader's language, and the reward per hour against the
volunteer allowance's maximum (`domain.allowance.check_per_hour`), with both figures.

Problems are (message id, values) pairs, put into words by `say` in the reader's language:
a value that is an int is an amount of coins (base units), shown in the reader's number format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

from domain import allowance
from domain.context import Context
from domain.schemas import TaskEdit, TaskPublic
from heitje.errors import HeitjeError
from heitje.money import format_heit, parse_typed_heit, units_of
from web import i18n
from web.i18n import N_
from web.tasks import STATUS_WORDS
from web.templating import coins

FIELDS = (
    "title", "description", "reward", "hours", "people", "place", "neighbourhood", "deadline",
    "materials",
)  # fmt: skip
"""The form's fields, in the order they are shown (and their errors summed up)."""

LIMITS = {
    "title": 300,
    "description": 4000,
    "place": 300,
    "neighbourhood": 200,
    "materials": 1000,
}
"""Most characters of each text field (as `domain.schemas.TaskEdit`)."""

PEOPLE_MAX = 100

Problem = tuple[str, dict[str, int | str]]
"""A message id and the values it names (an int: base units)."""


def say(problem: Problem, language: str) -> str:
    """`problem` in `language`, its amounts as coins ("5,90 munten")."""
    msg, values = problem
    text = i18n.gettext(language, msg)
    if not values:
        return text
    return text % {k: coins(v, language) if isinstance(v, int) else v for k, v in values.items()}


@dataclass
class TaskForm:
    """What was typed (`typed`, by field), the problems found (`errors`, by field), and when
    the reward and hours both read, the reward per hour (`per_hour`, base units)."""

    typed: dict[str, str]
    errors: dict[str, Problem] = field(default_factory=dict)
    body: TaskEdit | None = None
    per_hour: int | None = None


def typed_from(values: dict[str, str]) -> dict[str, str]:
    """The form's fields from posted `values` ('' for a missing one)."""
    return {name: str(values.get(name, "")) for name in FIELDS}


def href(ref: str) -> str:
    """The coordinator's page of task `ref`."""
    return "/office/tasks/" + quote(ref, safe="")


def hours_text(minutes: int | None, language: str) -> str:
    """Minutes as hours in `language`, at most two decimals ("1,5", "2", "0,25"); None: ''."""
    if minutes is None:
        return ""
    hundredths = (minutes * 100 * 2 + 60) // 120  # minutes * 100 / 60, rounded half up
    text = i18n.format_amount(hundredths, language)
    return text.rstrip("0").rstrip(",.") if text[-3] in ",." else text


def task_row(task: TaskPublic, language: str) -> dict[str, Any]:
    """What the coordinator's pages show of `task`: amounts in base units, hours and the
    deadline in words of `language`, the reward per hour (base units, or None without hours)."""
    units = units_of(task.reward)
    minutes = task.estimated_minutes
    return {
        "ref": task.ref,
        "href": href(task.ref),
        "title": task.title,
        "description": task.description,
        "units": units,
        "hours": hours_text(minutes, language),
        "per_hour": allowance.per_hour(units, minutes) if minutes else None,
        "people": task.people,
        "place": task.place,
        "neighbourhood": task.neighbourhood,
        "deadline": i18n.format_day(task.deadline, language) if task.deadline else "",
        "materials": task.materials,
        "status": task.status,
        "status_word": STATUS_WORDS.get(task.status, task.status),
        "claimed_by": task.claimed_by,
        "withdrawal_reason": task.withdrawal_reason,
        "rejection_reason": task.rejection_reason,
        "approvals": task.approvals,
        "approvals_needed": task.approvals_needed,
    }


def typed_of(task: TaskPublic, language: str) -> dict[str, str]:
    """The form's fields filled from `task`, as a person would type them."""
    return {
        "title": task.title,
        "description": task.description,
        "reward": i18n.format_amount(units_of(task.reward), language),
        "hours": hours_text(task.estimated_minutes, language),
        "people": str(task.people),
        "place": task.place,
        "neighbourhood": task.neighbourhood,
        "deadline": task.deadline.isoformat() if task.deadline else "",
        "materials": task.materials,
    }


def read(ctx: Context, values: dict[str, str]) -> TaskForm:
    """Check the typed `values`: each problem by its field; `body` set when there is none."""
    typed = typed_from(values)
    form = TaskForm(typed)
    errors = form.errors
    text = {k: typed[k].strip() for k in LIMITS}
    if not text["title"]:
        errors["title"] = (N_("Give the task a title."), {})
    for name, most in LIMITS.items():
        if len(text[name]) > most:
            errors[name] = (N_("Use at most %(most)s characters."), {"most": str(most)})
    reward = minutes = None
    try:
        reward = int(parse_typed_heit(typed["reward"]))
    except HeitjeError:
        errors["reward"] = (N_("Give the reward in coins, like 15 or 12,50."), {})
    if not typed["hours"].strip():
        errors["hours"] = (N_("Say how many hours the job takes, like 2 or 1,5."), {})
    else:
        try:
            minutes = allowance.parse_hours(typed["hours"])
        except HeitjeError:
            errors["hours"] = (N_("Give the hours as a number, like 2 or 1,5."), {})
        else:
            if minutes > 100_000:
                errors["hours"] = (N_("That is too many hours for one task."), {})
                minutes = None
    people = 1
    raw = typed["people"].strip() or "1"
    if raw.isdigit() and 1 <= int(raw) <= PEOPLE_MAX:
        people = int(raw)
    else:
        errors["people"] = (
            N_("Give a whole number of people from 1 to %(most)s."),
            {"most": str(PEOPLE_MAX)},
        )
    deadline: date | None = None
    if typed["deadline"].strip():
        try:
            deadline = date.fromisoformat(typed["deadline"].strip())
        except ValueError:
            errors["deadline"] = (N_("Give a date like 2026-12-31."), {})
        else:
            if deadline < ctx.now.date():
                errors["deadline"] = (N_("This date has passed. Give a later date."), {})
    if reward is not None and minutes is not None:
        form.per_hour = allowance.per_hour(reward, minutes)
        top = ctx.settings.max_per_hour_units()
        if top is not None and reward * 60 > top * minutes:
            errors["reward"] = per_hour_problem(form.per_hour, top)
    if not errors and reward is not None:
        form.body = TaskEdit(
            title=text["title"],
            description=text["description"],
            reward=format_heit(reward),
            estimated_minutes=minutes,
            place=text["place"],
            neighbourhood=text["neighbourhood"],
            deadline=deadline,
            people=people,
            materials=text["materials"],
        )
    return form


def per_hour_problem(per_hour: int, most: int | None) -> Problem:
    """The problem of a reward of `per_hour` base units an hour above `most`."""
    return (
        N_(
            "This is %(per_hour)s per hour of work. The most allowed is %(most)s per hour "
            "(volunteer allowance). Give a lower reward or more hours."
        ),
        {"per_hour": per_hour, "most": most or 0},
    )

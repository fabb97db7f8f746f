"""Scenario files (`"format": "heitje-scenario/1"`): the models, loading and validation.

A scenario is a replayable programme year: coordinators publish public-space tasks, citizens
claim, do and submit them, a coordinator approves (reward minted) or rejects, citizens pay
shops, shops refund citizens and redeem HEIT, and a finance officer settles redemptions in
euros. The format and the rules a replay follows are in `shared/scenarios/README.md`.

Public surface:

- `Scenario` and its parts (`Municipality`, `Policy`, `Coordinator`, `Citizen`, `Shop`,
  `Task`, and the events `PublishEvent` ... `SettleEvent`, a union discriminated on `type`).
  Amount fields (`reward`, `amount`) stay the raw strings of the file: a replay sends them
  unchanged to the API, which refuses invalid ones ("abc", "", "1e3"). `at` and `through`
  are timezone-aware datetimes.
- `load_scenario(path)` and `parse_scenario(data)`: raise `InvalidScenario`
  (code `invalid_scenario`, one-line message) for a file that is not a valid scenario.

The generator of years (`generate_scenario`) is `scripts.replay.generate`; it imports this
module, never the other way round.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from heitje import jsonguard
from heitje.errors import HeitjeError, InvalidAmount
from heitje.jsonguard import JsonTooDeep
from heitje.money import parse_heit, parse_rate

__all__ = [
    "FORMAT",
    "ApproveEvent",
    "Citizen",
    "ClaimEvent",
    "Coordinator",
    "Event",
    "InvalidScenario",
    "Municipality",
    "PayEvent",
    "Policy",
    "PublishEvent",
    "RedeemEvent",
    "RejectEvent",
    "Scenario",
    "SettleEvent",
    "Shop",
    "SubmitEvent",
    "Task",
    "load_scenario",
    "parse_scenario",
]

FORMAT = "heitje-scenario/1"


class InvalidScenario(HeitjeError, ValueError):
    """A scenario file cannot be read, is not JSON, or does not follow `heitje-scenario/1`."""

    code = "invalid_scenario"


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    # Unknown fields are tolerated (ignored); `from` is a keyword, so `PayEvent.from_` carries
    # an alias and dumps back as "from".
    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class Municipality(_Model):
    """The paying municipality: its own account is the debtor of every settlement."""

    name: str
    iban: str
    bic: str | None = None
    eur_per_heitje: str = "1.00"
    """Euros paid per HEIT redeemed, a decimal string ("1.00")."""


class Policy(_Model):
    """The programme's policy (scenarios README, "Policy keys"): keys a file leaves out take
    the value that keeps existing files' expected reports valid, not a deployment's default."""

    annual_reward_cap: str
    """Most HEIT one citizen may be rewarded in a calendar year, a decimal string."""
    separation_of_duties: bool = False
    """The coordinator who published a task may not approve or reject it."""
    four_eyes_threshold: str | None = None
    """Rewards at or above it (HEIT, decimal string) need two different approvers."""
    monthly_reward_cap: str | None = None
    """Most HEIT one citizen may be rewarded in a calendar month (None: no cap)."""
    max_reward_per_hour: str | None = None
    """Most HEIT of reward per estimated hour of a task (None: no maximum)."""


class Coordinator(_Model):
    id: str
    name: str


class Citizen(_Model):
    id: str
    name: str
    neighbourhood: str | None = None


class Shop(_Model):
    id: str
    name: str
    category: str
    iban: str
    """As written in the file; a replay validates it (spaces removed, upper-cased)."""
    bic: str | None = None


class Task(_Model):
    id: str
    kind: str
    title: str
    reward: str
    """HEIT minted on approval, the raw string of the file."""
    neighbourhood: str | None = None


class _Event(_Model):
    at: AwareDatetime


class PublishEvent(_Event):
    type: Literal["publish"] = "publish"
    task: str
    by: str


class ClaimEvent(_Event):
    type: Literal["claim"] = "claim"
    task: str
    citizen: str


class SubmitEvent(_Event):
    type: Literal["submit"] = "submit"
    task: str
    citizen: str


class ApproveEvent(_Event):
    type: Literal["approve"] = "approve"
    task: str
    by: str


class RejectEvent(_Event):
    type: Literal["reject"] = "reject"
    task: str
    by: str


class PayEvent(_Event):
    """Citizen to shop (a purchase) or shop to citizen (a refund); `amount` is raw."""

    type: Literal["pay"] = "pay"
    from_: str = Field(alias="from")
    to: str
    amount: str


class RedeemEvent(_Event):
    type: Literal["redeem"] = "redeem"
    shop: str
    amount: str


class SettleEvent(_Event):
    """Pay every unsettled redemption at or before `through`."""

    type: Literal["settle"] = "settle"
    through: AwareDatetime


Event = Annotated[
    PublishEvent
    | ClaimEvent
    | SubmitEvent
    | ApproveEvent
    | RejectEvent
    | PayEvent
    | RedeemEvent
    | SettleEvent,
    Field(discriminator="type"),
]


class Scenario(_Model):
    """A whole scenario file. Events keep file order, which is time order."""

    format: Literal["heitje-scenario/1"]
    name: str = ""
    description: str = ""
    municipality: Municipality
    policy: Policy
    coordinators: tuple[Coordinator, ...] = ()
    citizens: tuple[Citizen, ...] = ()
    shops: tuple[Shop, ...] = ()
    tasks: tuple[Task, ...] = ()
    events: tuple[Event, ...] = ()

    @model_validator(mode="after")
    def _check_whole_file(self) -> Scenario:
        try:
            parse_heit(self.policy.annual_reward_cap)
        except InvalidAmount as e:
            raise ValueError(f"policy.annual_reward_cap: {e}") from None
        try:
            parse_rate(self.municipality.eur_per_heitje)
        except InvalidAmount as e:
            raise ValueError(f"municipality.eur_per_heitje: {e}") from None
        for label, ids in (
            ("coordinators", [c.id for c in self.coordinators]),
            ("citizens and shops", [c.id for c in self.citizens] + [s.id for s in self.shops]),
            ("tasks", [t.id for t in self.tasks]),
        ):
            seen: set[str] = set()
            for item_id in ids:
                if item_id in seen:
                    raise ValueError(f"duplicate id {item_id!r} among {label}")
                seen.add(item_id)
        for i in range(1, len(self.events)):
            if self.events[i].at < self.events[i - 1].at:
                raise ValueError(f"events.{i}: 'at' is earlier than the event before it")
        return self


def _one_line(error: ValidationError) -> str:
    errors = error.errors(include_url=False, include_input=False)
    if not errors:
        return "does not follow heitje-scenario/1"
    first = errors[0]
    loc = ".".join(str(part) for part in first["loc"])
    text = f"{loc}: {first['msg']}" if loc else str(first["msg"])
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problems)"
    return " ".join(text.split())


def parse_scenario(data: object, *, source: str = "scenario") -> Scenario:
    """Validate already-decoded JSON (`dict`) as a scenario.

    Raises `InvalidScenario` with a one-line message naming `source` and the first problem.
    """
    if not isinstance(data, dict):
        raise InvalidScenario(f"{source}: a scenario is a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise InvalidScenario(f"{source}: not a {FORMAT} file (format is {data.get('format')!r})")
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise InvalidScenario(f"{source}: {_one_line(e)}") from None


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a `heitje-scenario/1` JSON file.

    Checks structure and types, timezone-aware `at`/`through`, a valid `annual_reward_cap`
    and `eur_per_heitje`, unique ids, and events in time order; nesting deeper than
    `heitje.jsonguard.MAX_JSON_DEPTH` is refused before parsing. Amounts of tasks and events
    are not judged: invalid ones are part of what a scenario may rehearse.
    Raises `InvalidScenario` (code `invalid_scenario`) with a one-line message otherwise.
    """
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise InvalidScenario(f"{source}: cannot read: {e.strerror or e}") from None
    try:
        # Depth counted first: a deeply nested file would overflow the C stack (jsonguard).
        data = jsonguard.loads(raw, jsonguard.MAX_JSON_DEPTH)
    except JsonTooDeep as e:
        raise InvalidScenario(f"{source}: {e.message}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidScenario(f"{source}: not valid JSON: {' '.join(str(e).split())}") from None
    return parse_scenario(data, source=source)

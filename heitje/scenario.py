"""Scenario files (`"format": "heitje-scenario/1"`): models, loading, and a generator of years.

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
- `generate_scenario(...)`: a realistic, deterministic programme year as a JSON-ready dict.
"""

from __future__ import annotations

import json
import os
import random
from bisect import bisect_right
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from heitje.errors import HeitjeError, InvalidAmount, InvalidInput
from heitje.money import format_heit, parse_heit, parse_rate

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
    "generate_scenario",
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
    annual_reward_cap: str
    """Most HEIT one citizen may be rewarded in a calendar year, a decimal string."""


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
    and `eur_per_heitje`, unique ids, and events in time order. Amounts of tasks and events
    are not judged: invalid ones are part of what a scenario may rehearse.
    Raises `InvalidScenario` (code `invalid_scenario`) with a one-line message otherwise.
    """
    source = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise InvalidScenario(f"{source}: cannot read: {e.strerror or e}") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidScenario(f"{source}: not valid JSON: {' '.join(str(e).split())}") from None
    return parse_scenario(data, source=source)


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------

NEIGHBOURHOODS = (
    "Heerlen-Centrum",
    "Hoensbroek",
    "Heerlerbaan",
    "Meezenbroek",
    "Schaesbergerveld",
    "Grasbroek",
    "Zeswegen",
    "Heerlerheide",
    "Molenberg",
    "Vrieheide",
    "Maria-Gewanden",
    "Passart",
)

_FIRST_NAMES = (
    "Anouk", "Bram", "Chantal", "Daan", "Esther", "Frank", "Gijs", "Hans", "Ilse", "Jeroen",
    "Karin", "Lotte", "Marieke", "Mohamed", "Noor", "Petra", "Roel", "Ruud", "Sanne", "Sem",
    "Tom", "Vera", "Wim", "Yara", "Zeynep", "Kevin", "Fatima", "Luuk", "Mila", "Jos",
    "Ingrid", "Thijs", "Britt", "Youssef", "Maud", "Twan", "Lieke", "Gerda", "Bas", "Elif",
)  # fmt: skip

_LAST_NAMES = (
    "Janssen", "Pelzer", "Vliegen", "Wetzels", "Savelberg", "Ploum", "Kleijnen", "Hermans",
    "Bonten", "Houben", "Zeegers", "Bemelmans", "Habets", "Vaessen", "Smeets", "Ramakers",
    "Meertens", "Schoonbrood", "Crombach", "Lemmens", "Dautzenberg", "Kessels", "Muijrers",
    "Offermans", "Pluijmen", "Quadvlieg", "Senden", "Thewissen", "Ubachs", "Vanderheijden",
    "Wolfs", "Yilmaz", "El Amrani", "Bouchtaoui", "Nijsten", "Jacobs", "Ernes", "Frijns",
)  # fmt: skip

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

# category, shop names, typical prices in HEIT base units.
_SHOP_CATEGORIES: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    (
        "cafe",
        ("Eetcafe Het Pleintje", "Koffiebar Mijnwerker", "Cafe De Kroon", "Grand Cafe Glaspaleis",
         "Brasserie De Pancratius", "Cafe Oranjeplein"),
        (250, 275, 375, 420, 795, 1200),
    ),
    (
        "bakery",
        ("Bakkerij De Wissel", "Bakkerij Vlaaienhuis", "Warme Bakker Hoensbroek",
         "Bakkerij Het Koggelke"),
        (205, 250, 375, 600, 750),
    ),
    (
        "grocery",
        ("Groente & Fruit Meezenbroek", "Buurtsuper Zeswegen", "Toko Sarinah",
         "Versmarkt Grasbroek"),
        (330, 420, 600, 705, 1025),
    ),
    (
        "bike-repair",
        ("Fietsenmaker De Spaak", "Rijwielherstel Heerlerbaan", "Fietsbank Parkstad"),
        (300, 500, 750, 1200, 1500),
    ),
    (
        "bookshop",
        ("Boekhandel Leesteken", "Tweedehands Boeken De Ezelsoor", "Stripwinkel Parkstad"),
        (300, 795, 1200, 1500),
    ),
    (
        "theatre",
        ("Parkstad Limburg Theaters (buurtkaart)", "Filmhuis De Spiegel",
         "Buurtbioscoop De Lantaarn"),
        (600, 950, 1250, 1500),
    ),
)  # fmt: skip

# Bank codes of real Dutch banks with their BICs; account numbers are made up.
_BANKS: tuple[tuple[str, str], ...] = (
    ("RABO", "RABONL2U"),
    ("INGB", "INGBNL2A"),
    ("ABNA", "ABNANL2A"),
    ("SNSB", "SNSBNL2A"),
    ("BUNQ", "BUNQNL2A"),
    ("TRIO", "TRIONL2U"),
    ("ASNB", "ASNBNL21"),
    ("KNAB", "KNABNL2H"),
)

_INVALID_AMOUNTS = ("abc", "", "1e3", "1.005", "-5.00", "0", "4,50", "0.00")

_DESCRIPTION = (
    "Generated replay of a Heerlens-Heitje-like reward programme: tasks published, claimed, "
    "done and approved; coins spent at local shops; shops redeemed and settled monthly in euros."
)

_MINUTES_PER_DAY = 24 * 60


def _nl_iban(bank: str, rng: random.Random) -> str:
    """A made-up Dutch IBAN at `bank` with valid ISO 13616 check digits.

    The 10-digit account number also passes the Dutch "elfproef" (weighted sum mod 11).
    """
    while True:
        digits = [rng.randrange(10) for _ in range(9)]
        weighted = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True))
        last = (-weighted) % 11
        if last < 10 and any(digits):
            account = "".join(map(str, digits)) + str(last)
            break
    bban = bank + account
    numeric = "".join(str(int(ch, 36)) for ch in bban + "NL00")
    check = 98 - int(numeric) % 97
    return f"NL{check:02d}{bban}"


def _last_sunday(year: int, month: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() + 1) % 7)


def _amsterdam_offset(day: date) -> str:
    """UTC offset in Europe/Amsterdam for a time of day between 03:00 and 24:00 on `day`."""
    summer = _last_sunday(day.year, 3) <= day < _last_sunday(day.year, 10)
    return "+02:00" if summer else "+01:00"


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _width(n: int, least: int) -> int:
    return max(least, len(str(n)))


# Kinds of planned actions, in a day's queue as (minute, seq, kind, a, b, c).
_PUBLISH, _CLAIM, _SUBMIT, _APPROVE, _REJECT, _BUY, _REFUND, _REDEEM, _SETTLE = range(9)


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
    end = _add_months(start, months) - timedelta(days=1)
    ndays = (end - start).days + 1
    day_dates = [start + timedelta(days=i) for i in range(ndays)]
    day_prefix = [d.isoformat() + "T" for d in day_dates]
    day_offset = [_amsterdam_offset(d) for d in day_dates]

    def at(day: int, minute: int) -> str:
        h, m = divmod(minute, 60)
        return f"{day_prefix[day]}{h:02d}:{m:02d}:00{day_offset[day]}"

    # People, shops and tasks --------------------------------------------------------------
    n_coord = 3 if tasks < 10_000 else min(12, 3 + tasks // 10_000)
    coord_ids = [f"coord-{i + 1}" for i in range(n_coord)]
    coordinators = [
        {"id": cid, "name": f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"}
        for cid in coord_ids
    ]

    cw = _width(citizens, 2)
    cit_ids = [f"cit-{i + 1:0{cw}d}" for i in range(citizens)]
    citizen_rows = [
        {
            "id": cid,
            "name": f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            "neighbourhood": rng.choice(NEIGHBOURHOODS),
        }
        for cid in cit_ids
    ]
    # A few citizens do most tasks, as in every volunteer programme.
    cit_cum = list(accumulate(rng.lognormvariate(0.0, 1.0) for _ in range(citizens)))
    cit_total = cit_cum[-1]

    shop_ids = [f"shop-{i + 1}" for i in range(shops)]
    shop_rows: list[dict[str, Any]] = []
    shop_prices: list[tuple[int, ...]] = []
    used_names: set[str] = set()
    n_cat = len(_SHOP_CATEGORIES)
    for i, sid in enumerate(shop_ids):
        category, names, prices = _SHOP_CATEGORIES[i if i < n_cat else rng.randrange(n_cat)]
        fresh = [n for n in names if n not in used_names]
        if fresh:
            shop_name = rng.choice(fresh)
        else:  # a chain: same name, another neighbourhood (numbered if need be)
            shop_name = base = f"{rng.choice(names)} {rng.choice(NEIGHBOURHOODS)}"
            k = 2
            while shop_name in used_names:
                shop_name, k = f"{base} {k}", k + 1
        used_names.add(shop_name)
        bank, bic = rng.choice(_BANKS)
        shop_rows.append(
            {
                "id": sid,
                "name": shop_name,
                "category": category,
                "iban": _nl_iban(bank, rng),
                "bic": bic,
            }
        )
        shop_prices.append(prices)
    shop_cum = list(accumulate(rng.lognormvariate(0.0, 0.7) for _ in range(shops)))
    shop_total = shop_cum[-1]

    kind_cum = list(accumulate(k[3] for k in _TASK_KINDS))
    tw = _width(tasks, 3)
    task_ids = [f"task-{i + 1:0{tw}d}" for i in range(tasks)]
    task_rows: list[dict[str, Any]] = []
    rewards: list[int] = []
    for tid in task_ids:
        kind, title, reward, _ = _TASK_KINDS[bisect_right(kind_cum, rng.random() * kind_cum[-1])]
        hood = rng.choice(NEIGHBOURHOODS)
        task_rows.append(
            {
                "id": tid,
                "kind": kind,
                "title": f"{title} ({hood})",
                "reward": format_heit(reward),
                "neighbourhood": hood,
            }
        )
        rewards.append(reward)

    # Task lifecycles: publish -> claim -> submit -> approve / reject ----------------------
    queues: list[list[tuple[int, int, int, int, int, int]]] = [[] for _ in range(ndays)]
    seq = 0

    def plan(day: int, minute: int, kind: int, a: int = 0, b: int = 0, c: int = 0) -> None:
        nonlocal seq
        if day < ndays:
            queues[day].append((minute, seq, kind, a, b, c))
            seq += 1

    # (claim time, task, claim day, claim minute, submit day/minute, decision day/minute, ok)
    lifecycles: list[tuple[int, int, int, int, int, int, int, int, bool]] = []
    last_publish_day = max(0, ndays - 3)
    for t in range(tasks):
        pday = rng.randrange(last_publish_day + 1)
        plan(pday, 9 * 60 + rng.randrange(60), _PUBLISH, t, rng.randrange(n_coord))
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
                (cday * _MINUTES_PER_DAY + cmin, t, cday, cmin, sday, smin, dday, dmin, approved)
            )

    # Assign claimants in claim order, keeping approvals within the yearly cap.
    lifecycles.sort()
    committed: dict[tuple[int, int], int] = {}
    for _, t, cday, cmin, sday, smin, dday, dmin, approved in lifecycles:
        reward = rewards[t]
        will_mint = approved and dday < ndays
        year = day_dates[dday].year if will_mint else 0
        chosen = -1
        for _attempt in range(6):
            c = min(bisect_right(cit_cum, rng.random() * cit_total), citizens - 1)
            if not will_mint or committed.get((c, year), 0) + reward <= cap_units:
                chosen = c
                break
        if chosen < 0:
            continue  # everyone we asked is at the cap: the task stays open
        if will_mint:
            committed[(chosen, year)] = committed.get((chosen, year), 0) + reward
        plan(cday, cmin, _CLAIM, t, chosen)
        plan(sday, smin, _SUBMIT, t, chosen)
        plan(dday, dmin, _APPROVE if approved else _REJECT, t, rng.randrange(n_coord), chosen)

    # Month ends: redemptions from 17:00, settlement at 23:30 through 23:00.
    month_ends: list[int] = []
    first = date(start.year, start.month, 1)
    for m in range(months):
        month_ends.append((_add_months(first, m + 1) - timedelta(days=1) - start).days)
    for day in month_ends:
        for s in range(shops):
            plan(day, 17 * 60 + rng.randrange(60), _REDEEM, s)
        plan(day, 23 * 60 + 30, _SETTLE)

    # Replay the plan day by day, in time order, keeping balances -------------------------
    cit_bal = [0] * citizens
    shop_bal = [0] * shops
    events: list[dict[str, Any]] = []
    append = events.append
    unknown_shop = "shop-closed"

    for day in range(ndays):
        queue = queues[day]
        queue.sort()
        for minute, _, op, a, b, c in queue:
            stamp = at(day, minute)
            if op == _PUBLISH:
                append({"at": stamp, "type": "publish", "task": task_ids[a], "by": coord_ids[b]})
            elif op == _CLAIM:
                append({"at": stamp, "type": "claim", "task": task_ids[a], "citizen": cit_ids[b]})
            elif op == _SUBMIT:
                append({"at": stamp, "type": "submit", "task": task_ids[a], "citizen": cit_ids[b]})
            elif op == _APPROVE:
                append({"at": stamp, "type": "approve", "task": task_ids[a], "by": coord_ids[b]})
                cit_bal[c] += rewards[a]
                # Spend it over the next weeks: one to three purchases.
                for _ in range(rng.choice((1, 2, 2, 3))):
                    plan(day + rng.randint(1, 21), 10 * 60 + rng.randrange(8 * 60), _BUY, c)
            elif op == _REJECT:
                append({"at": stamp, "type": "reject", "task": task_ids[a], "by": coord_ids[b]})
            elif op == _BUY:
                balance = cit_bal[a]
                if balance < 100 and (balance < 5 or rng.random() < 0.7):
                    continue
                s = min(bisect_right(shop_cum, rng.random() * shop_total), shops - 1)
                affordable = [p for p in shop_prices[s] if p <= balance]
                if affordable and rng.random() < 0.8:
                    amount = rng.choice(affordable)
                else:
                    amount = rng.randint(min(balance, 100), min(balance, 1500))
                cit_bal[a] -= amount
                shop_bal[s] += amount
                append(
                    {
                        "at": stamp,
                        "type": "pay",
                        "from": cit_ids[a],
                        "to": shop_ids[s],
                        "amount": format_heit(amount),
                    }
                )
                if rng.random() < 0.04:  # returned goods: a refund in the coming days
                    back = (
                        amount if rng.random() < 0.5 else max(1, amount * rng.randint(2, 6) // 10)
                    )
                    plan(
                        day + rng.randint(1, 5),
                        10 * 60 + rng.randrange(8 * 60),
                        _REFUND,
                        s,
                        a,
                        back,
                    )
            elif op == _REFUND:
                if shop_bal[a] < c:
                    continue
                shop_bal[a] -= c
                cit_bal[b] += c
                append(
                    {
                        "at": stamp,
                        "type": "pay",
                        "from": shop_ids[a],
                        "to": cit_ids[b],
                        "amount": format_heit(c),
                    }
                )
            elif op == _REDEEM:
                balance = shop_bal[a]
                if balance <= 0:
                    continue
                amount = (
                    balance if rng.random() < 0.8 else max(1, balance * rng.randint(5, 9) // 10)
                )
                shop_bal[a] -= amount
                append(
                    {
                        "at": stamp,
                        "type": "redeem",
                        "shop": shop_ids[a],
                        "amount": format_heit(amount),
                    }
                )
            else:  # _SETTLE
                append({"at": stamp, "type": "settle", "through": at(day, 23 * 60)})

            if invalid_share and rng.random() < invalid_share:
                bad = _refused_event(
                    rng, events[-1], cit_ids, shop_ids, cit_bal, shop_bal, unknown_shop
                )
                if bad is not None:
                    append(bad)

    bank, bic = "BNGH", "BNGHNL2G"  # BNG Bank: the Dutch municipalities' bank
    return {
        "format": FORMAT,
        "name": name if name is not None else f"heerlen-{start.year}-seed-{seed}",
        "description": _DESCRIPTION,
        "municipality": {
            "name": municipality_name,
            "iban": _nl_iban(bank, rng),
            "bic": bic,
            "eur_per_heitje": eur_per_heitje,
        },
        "policy": {"annual_reward_cap": format_heit(cap_units)},
        "coordinators": coordinators,
        "citizens": citizen_rows,
        "shops": shop_rows,
        "tasks": task_rows,
        "events": events,
    }


def _refused_event(
    rng: random.Random,
    base: dict[str, Any],
    cit_ids: list[str],
    shop_ids: list[str],
    cit_bal: list[int],
    shop_bal: list[int],
    unknown_shop: str,
) -> dict[str, Any] | None:
    """An event a correct replay refuses (or takes as a no-op), right after `base`.

    It names the same moment as `base` and changes nothing, so planned balances stay right.
    """
    stamp, kind = base["at"], base["type"]

    def other_citizen(cid: str) -> str | None:
        if len(cit_ids) < 2:
            return None
        pick = rng.choice(cit_ids)
        while pick == cid:
            pick = rng.choice(cit_ids)
        return pick

    if kind == "publish":
        return {"at": stamp, "type": "publish", "task": base["task"], "by": base["by"]}
    if kind in ("claim", "submit"):
        other = other_citizen(base["citizen"])
        if other is None:
            return None
        return {"at": stamp, "type": kind, "task": base["task"], "citizen": other}
    if kind == "approve":
        choice = rng.randrange(3)
        if choice == 0:  # a second approval: no-op or refusal
            return {"at": stamp, "type": "approve", "task": base["task"], "by": base["by"]}
        if choice == 1:
            return {"at": stamp, "type": "approve", "task": base["task"], "by": "mayor"}
        return {"at": stamp, "type": "reject", "task": base["task"], "by": base["by"]}
    if kind == "reject":
        return {"at": stamp, "type": "approve", "task": base["task"], "by": base["by"]}
    if kind == "pay":
        payer = base["from"]
        if payer.startswith("shop-"):  # after a refund: shop to shop is never allowed
            return {
                "at": stamp,
                "type": "pay",
                "from": payer,
                "to": rng.choice(shop_ids),
                "amount": "0.01",
            }
        choice = rng.randrange(4)
        if choice < 2:  # more than the payer holds, or a malformed amount
            amount = (
                format_heit(_balance_of(payer, cit_bal) + rng.randint(1, 100_000))
                if choice == 0
                else rng.choice(_INVALID_AMOUNTS)
            )
            return {"at": stamp, "type": "pay", "from": payer, "to": base["to"], "amount": amount}
        if choice == 2:
            return {"at": stamp, "type": "pay", "from": payer, "to": unknown_shop, "amount": "1.00"}
        other = other_citizen(payer)
        if other is None:
            return None
        return {"at": stamp, "type": "pay", "from": payer, "to": other, "amount": "1.00"}
    if kind == "redeem":
        shop = base["shop"]
        if rng.random() < 0.5:
            balance = _balance_of(shop, shop_bal)
            amount = format_heit(balance + rng.randint(100, 500_000))
            return {"at": stamp, "type": "redeem", "shop": shop, "amount": amount}
        return {"at": stamp, "type": "redeem", "shop": rng.choice(cit_ids), "amount": "1.00"}
    if kind == "settle":  # a second run: nothing left to pay
        return {"at": stamp, "type": "settle", "through": base["through"]}
    return None


def _balance_of(account: str, balances: list[int]) -> int:
    # ids are "<prefix>-<n>" with n counting from 1.
    return balances[int(account.rsplit("-", 1)[1]) - 1]

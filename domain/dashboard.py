"""The municipality's dashboard and the open data per neighbourhood (issue 11, item 7).

Figures per calendar month in Dutch time (Europe/Amsterdam):

- active citizens: citizens who did a task (approved that month) or paid a shop that month;
  active shops: shops that received a payment that month;
- tasks done: tasks approved that month (service database), also per neighbourhood of the
  task (where the job was);
- HEIT minted, spent at shops (payments citizen -> shop, refunds not subtracted) and redeemed:
  from the SQL mirror, i.e. what the chain recorded, by block time;
- share of rewards spent locally: spent / minted, as an integer per mille (rounded down);
- budget used in the reward period in force: read from the chain (`budget`, `minted`).

Without the mirror (no indexer yet) the chain's figures are None and active citizens count
task work only; without the chain the budget is None with the reason. Amounts are integer base
units (1 HEIT = 100); nothing here uses floats.

Open data (`open_data`): per month and per neighbourhood where citizens live, the number of
active citizens, tasks done and HEIT earned, with small cells hidden (`K_ANONYMITY`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.context import Context
from heitje.errors import InvalidInput, Refused
from indexer import activity
from indexer.mirror import Mirror
from store import dashboard as store

TIMEZONE = ZoneInfo("Europe/Amsterdam")
MAX_MONTHS = 36
"""The longest range one dashboard covers."""
FIRST_YEAR, LAST_YEAR = 2000, 2999
K_ANONYMITY = 5
"""Open data shows a count of people only when at least this many people are behind it."""


@dataclass(frozen=True)
class MonthFigures:
    """One calendar month (`month`: its first day). Amounts in base units; the chain's
    figures (`minted`, `spent`, `redeemed`, `share_permille`) are None without the mirror;
    `share_permille` (spent * 1000 // minted) also when nothing was minted."""

    month: date
    active_citizens: int
    active_shops: int
    tasks_done: int
    minted: int | None
    spent: int | None
    redeemed: int | None
    share_permille: int | None


@dataclass(frozen=True)
class NeighbourhoodTasks:
    """Tasks done per month in one neighbourhood (where the job was; '' when not given)."""

    name: str
    per_month: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.per_month)


@dataclass(frozen=True)
class Budget:
    """The reward period in force, from the chain: id, start (unix seconds), budget and what
    it minted so far (base units), and the share used in per mille (rounded down)."""

    period_id: int
    start: int
    budget: int
    minted: int

    @property
    def used_permille(self) -> int:
        return self.minted * 1000 // self.budget if self.budget > 0 else 0


@dataclass(frozen=True)
class Dashboard:
    """The figures of `months` (first days, in order). `mirror_block`: the mirror's
    checkpoint the chain's figures are read at (None: no mirror, chain figures None).
    `budget` or `budget_problem` (`chain_unavailable`, `no_reward_period`)."""

    months: tuple[MonthFigures, ...]
    neighbourhoods: tuple[NeighbourhoodTasks, ...]
    mirror_block: int | None
    budget: Budget | None
    budget_problem: str | None

    @property
    def minted(self) -> int | None:
        """Base units minted over the whole range (None without the mirror)."""
        return None if self.mirror_block is None else sum(m.minted or 0 for m in self.months)

    @property
    def spent(self) -> int | None:
        """Base units spent at shops over the whole range (None without the mirror)."""
        return None if self.mirror_block is None else sum(m.spent or 0 for m in self.months)

    @property
    def share_permille(self) -> int | None:
        """Spent / minted over the range, per mille rounded down; None when nothing minted."""
        minted, spent = self.minted, self.spent
        return None if not minted or spent is None else spent * 1000 // minted


def year_range(year: int) -> tuple[date, date]:
    """(first month, last month) of calendar `year`; 422 `invalid_input` outside 2000-2999."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"year must be {FIRST_YEAR} to {LAST_YEAR}, not {year}")
    return date(year, 1, 1), date(year, 12, 1)


def month_starts(first: date, last: date) -> list[date]:
    """First days of the months `first` through `last` (their days are ignored).

    Errors: 422 `invalid_input` when `last` is before `first`, the range passes `MAX_MONTHS`
    or a year is outside 2000-2999."""
    first, last = first.replace(day=1), last.replace(day=1)
    for day in (first, last):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise InvalidInput(f"years must be {FIRST_YEAR} to {LAST_YEAR}")
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    if count < 1 or count > MAX_MONTHS:
        raise InvalidInput(f"a range of 1 to {MAX_MONTHS} months, not {count}")
    return [_add_months(first, i) for i in range(count)]


def _add_months(day: date, n: int) -> date:
    index = day.year * 12 + day.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _bounds(starts: list[date]) -> list[datetime]:
    """The moments (aware, UTC) each month starts in Dutch time, plus the end of the last."""
    days = [*starts, _add_months(starts[-1], 1)]
    return [datetime(d.year, d.month, 1, tzinfo=TIMEZONE).astimezone(UTC) for d in days]


def _bucket(moment: datetime, bounds: list[datetime]) -> int | None:
    if moment < bounds[0] or moment >= bounds[-1]:
        return None
    for i in range(len(bounds) - 1):
        if moment < bounds[i + 1]:
            return i
    return None


def _approved(ctx: Context, bounds: list[datetime]) -> list[tuple[int, store.ApprovedTask]]:
    """(bucket, task) of each task approved within `bounds`, exactly, whatever the offset
    its time was stored with."""
    since = (bounds[0] - timedelta(days=1)).date().isoformat()
    until = (bounds[-1] + timedelta(days=2)).date().isoformat()
    found = []
    for task in store.approved_tasks(ctx.db, since, until):
        try:
            moment = datetime.fromisoformat(task.decided_at)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        bucket = _bucket(moment, bounds)
        if bucket is not None:
            found.append((bucket, task))
    return found


def _mirror(ctx: Context) -> Mirror | None:
    try:
        mirror = ctx.mirror
    except Refused:
        return None
    return mirror if mirror.checkpoint() is not None else None


def _budget(ctx: Context) -> tuple[Budget | None, str | None]:
    try:
        token = ctx.chain.token
        period_id = token.current_period_id()
        if period_id == 0:
            return None, "no_reward_period"
        period = token.reward_period(period_id)
    except Exception:  # Refused (no chain service), or a node down or half up
        return None, "chain_unavailable"
    return Budget(period_id, period.start, int(period.budget), int(period.minted)), None


def _people(
    ctx: Context, pairs: set[tuple[int, str]]
) -> tuple[dict[str, int], set[tuple[int, int | str]]]:
    """The owners of the addresses in `pairs`, and (bucket, user id, or the address when it is
    no account of ours) for each pair: one person counted once however many keys they had."""
    owners = store.owners(ctx.db, [a for _, a in pairs])
    return owners, {(b, owners.get(a, a)) for b, a in pairs}


def dashboard(ctx: Context, first: date, last: date) -> Dashboard:
    """The dashboard for the months `first` through `last` (see the module docstring).

    Errors: 422 `invalid_input` for a bad range (`month_starts`). Never raises for a missing
    chain or mirror: the figures say what is missing."""
    starts = month_starts(first, last)
    bounds = _bounds(starts)
    n = len(starts)
    active: list[set[int | str]] = [set() for _ in range(n)]
    shops: list[set[int | str]] = [set() for _ in range(n)]
    tasks_done = [0] * n
    by_place: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    for bucket, task in _approved(ctx, bounds):
        tasks_done[bucket] += 1
        by_place[task.task_neighbourhood][bucket] += 1
        if task.citizen_id is not None:
            active[bucket].add(task.citizen_id)

    mirror = _mirror(ctx)
    minted: dict[int, int] = {}
    spent: dict[int, int] = {}
    redeemed: dict[int, int] = {}
    checkpoint = None
    if mirror is not None:
        checkpoint = mirror.checkpoint_block()
        win = activity.window(mirror, [int(b.timestamp()) for b in bounds])
        minted = activity.minted(mirror, win)
        redeemed = activity.redeemed(mirror, win)
        paid = activity.payments(mirror, win)
        spent = paid.spent
        for bucket, person in _people(ctx, {(b, str(a)) for b, a in paid.payers})[1]:
            active[bucket].add(person)
        for bucket, shop in _people(ctx, {(b, str(a)) for b, a in paid.shops})[1]:
            shops[bucket].add(shop)

    chain = mirror is not None
    months = tuple(
        MonthFigures(
            month=starts[i],
            active_citizens=len(active[i]),
            active_shops=len(shops[i]),
            tasks_done=tasks_done[i],
            minted=minted.get(i, 0) if chain else None,
            spent=spent.get(i, 0) if chain else None,
            redeemed=redeemed.get(i, 0) if chain else None,
            share_permille=(spent.get(i, 0) * 1000 // minted[i]) if minted.get(i) else None,
        )
        for i in range(n)
    )
    places = tuple(
        sorted(
            (NeighbourhoodTasks(name, tuple(counts)) for name, counts in by_place.items()),
            key=lambda p: (-p.total, p.name == "", p.name.casefold()),
        )
    )
    budget, problem = _budget(ctx)
    return Dashboard(months, places, checkpoint, budget, problem)


# ----- open data -----


@dataclass(frozen=True)
class OpenDataRow:
    """One month in one neighbourhood where citizens live (`neighbourhood` "" for the
    neighbourhoods with fewer than `K_ANONYMITY` residents, and for residents who gave none,
    together). A count of people below `K_ANONYMITY` is None (hidden), and so are the
    tasks and HEIT when fewer than `K_ANONYMITY` citizens did those tasks. `heit_earned` is
    in base units (rewards of the approved tasks)."""

    month: date
    neighbourhood: str
    citizens_active: int | None
    tasks_done: int | None
    heit_earned: int | None


def open_data(ctx: Context, first: date, last: date) -> list[OpenDataRow]:
    """Activity per month and per neighbourhood where citizens live, for publication: rows by
    month, then neighbourhood ("" last), only (month, neighbourhood) pairs with activity.

    Privacy (small cells): a cell counting fewer than `K_ANONYMITY` people is hidden (None):
    "citizens active" below 5 people, and "tasks done" and "HEIT earned" when fewer than 5
    citizens did those tasks. A hidden cell could be worked out again from a total, so the
    data has no totals at all (no row, column or city-wide figure); nothing public publishes
    these counts per month elsewhere. Neighbourhood names are what citizens typed at sign-up;
    a name given by fewer than `K_ANONYMITY` citizens whose work a coordinator approved (made-up
    sign-ups do not count, `store.dashboard.residents`) is never published (its citizens are
    counted under "" with everyone who gave none), so a name cannot point at a person. No
    usernames, names or addresses are read into the result.

    Errors: 422 `invalid_input` for a bad range (`month_starts`).
    """
    starts = month_starts(first, last)
    bounds = _bounds(starts)
    residents = store.residents(ctx.db)

    def label(home: str) -> str:
        return home if home and residents.get(home, 0) >= K_ANONYMITY else ""

    active: dict[tuple[int, str], set[int | str]] = defaultdict(set)
    doers: dict[tuple[int, str], set[int]] = defaultdict(set)
    tasks: dict[tuple[int, str], int] = defaultdict(int)
    earned: dict[tuple[int, str], int] = defaultdict(int)
    for bucket, task in _approved(ctx, bounds):
        if task.citizen_id is None:
            continue
        key = (bucket, label(task.home_neighbourhood))
        active[key].add(task.citizen_id)
        doers[key].add(task.citizen_id)
        tasks[key] += 1
        earned[key] += task.reward

    mirror = _mirror(ctx)
    if mirror is not None:
        win = activity.window(mirror, [int(b.timestamp()) for b in bounds])
        payers = activity.payments(mirror, win).payers
        _, people = _people(ctx, {(b, str(a)) for b, a in payers})
        homes = store.home_neighbourhoods(ctx.db, [p for _, p in people if isinstance(p, int)])
        for bucket, person in people:
            if isinstance(person, int) and person in homes:
                active[(bucket, label(homes[person]))].add(person)

    def shown(count: int) -> bool:
        return count >= K_ANONYMITY

    rows = [
        OpenDataRow(
            month=starts[bucket],
            neighbourhood=name,
            citizens_active=len(people) if shown(len(people)) else None,
            tasks_done=tasks[(bucket, name)] if shown(len(doers[(bucket, name)])) else None,
            heit_earned=earned[(bucket, name)] if shown(len(doers[(bucket, name)])) else None,
        )
        for (bucket, name), people in active.items()
    ]
    rows.sort(key=lambda r: (r.month, r.neighbourhood == "", r.neighbourhood.casefold()))
    return rows

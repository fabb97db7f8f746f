"""Monthly activity read from the mirror for the municipality's dashboard (`domain.dashboard`):
rewards minted, payments of citizens at shops and redemptions, bucketed by time windows.

Every query is bounded by block number, so it runs on the mirror's `block_number` indexes: a
time window [start, end) is first turned into a block window with a binary search over the
`blocks` table (its primary key is the block number; block timestamps never go down as block
numbers go up, and every block holding an event has its header there). The mirror has no index
on `block_timestamp`, and this module needs none.

Windows are given as a list of bounds `[b0, b1, ..., bn]` (unix seconds, increasing): bucket `i`
is `b[i] <= block_timestamp < b[i+1]`; `window` turns them into a block range once. Amounts
are base units.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from indexer.mirror import Mirror

MAX_BUCKETS = 120
"""At most this many windows per query (ten years of months)."""

_CITIZEN_TO_SHOP = """
    +from_address IN (SELECT account FROM registrations WHERE kind = 'citizen')
    AND +to_address IN (SELECT account FROM registrations WHERE kind = 'shop')
"""
"""A payment: from an address ever registered as a citizen to one ever registered as a shop
(refunds go the other way; a key rotation moves coins between two citizen addresses). The `+`
keeps SQLite on the block-number index rather than an address index (a year's payments to a
shop are scattered over the whole file)."""


def _query(mirror: Mirror, sql: str, params: dict[str, Any]) -> list[Any]:
    return mirror._all(sql, params)


def first_block_at(mirror: Mirror, timestamp: int) -> int | None:
    """The smallest block number `n` such that every block the mirror keeps from `n` on has a
    timestamp >= `timestamp` (unix seconds); None when the mirror keeps no blocks. At most
    about 2 log2(blocks) indexed lookups."""
    row = _query(  # two subqueries: each an index seek (one MIN and MAX together scan the table)
        mirror, "SELECT (SELECT MIN(number) FROM blocks), (SELECT MAX(number) FROM blocks)", {}
    )
    if not row or row[0][0] is None:
        return None
    low, high = int(row[0][0]), int(row[0][1]) + 1  # the answer lies in [low, high]
    while low < high:
        middle = (low + high) // 2
        found = _query(
            mirror,
            "SELECT timestamp FROM blocks WHERE number >= :n ORDER BY number LIMIT 1",
            {"n": middle},
        )
        if found and int(found[0][0]) >= timestamp:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True)
class Window:
    """Time buckets turned into a block range once (`window`), for the queries below."""

    bucket: str  # SQL CASE expression giving a row's bucket
    blocks: str  # SQL filter on block_number
    params: dict[str, Any]


def window(mirror: Mirror, bounds: list[int]) -> Window | None:
    """The `Window` of `bounds` (unix seconds, increasing, 2 to MAX_BUCKETS + 1 of them); None
    when no block the mirror keeps falls inside. Raises ValueError for bad bounds."""
    if len(bounds) < 2 or len(bounds) > MAX_BUCKETS + 1:
        raise ValueError(f"between 1 and {MAX_BUCKETS} windows, not {len(bounds) - 1}")
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError("window bounds must increase")
    low = first_block_at(mirror, bounds[0])
    high = first_block_at(mirror, bounds[-1])
    if low is None or high is None or low >= high:
        return None
    params: dict[str, Any] = {"low": low, "high": high}
    cases = []
    for i, bound in enumerate(bounds[1:]):
        params[f"b{i}"] = bound
        cases.append(f"WHEN block_timestamp < :b{i} THEN {i}")
    bucket = "CASE " + " ".join(cases) + " END"
    return Window(bucket, "block_number >= :low AND block_number < :high", params)


def minted(mirror: Mirror, win: Window | None) -> dict[int, int]:
    """Bucket -> base units minted as rewards (`RewardMinted`) in it; empty buckets left out."""
    return _sums(mirror, win, "rewards", "TRUE")


def redeemed(mirror: Mirror, win: Window | None) -> dict[int, int]:
    """Bucket -> base units redeemed (burned for euros, `Redeemed`) in it."""
    return _sums(mirror, win, "redemptions", "TRUE")


def _sums(mirror: Mirror, win: Window | None, table: str, where: str) -> dict[int, int]:
    if win is None:
        return {}
    rows = _query(
        mirror,
        f"SELECT {win.bucket} AS bucket, COALESCE(SUM(amount), 0) FROM {table} "
        f"WHERE {win.blocks} AND {where} GROUP BY bucket",
        win.params,
    )
    return {int(b): int(total) for b, total in rows if b is not None}


@dataclass(frozen=True)
class Payments:
    """Payments of citizens at shops per bucket: base units `spent` (refunds not subtracted),
    the (bucket, citizen address, EIP-55) of each citizen who paid and the (bucket, shop address) of
    each shop paid: at most buckets x accounts pairs each."""

    spent: dict[int, int]
    payers: set[tuple[int, str]]
    shops: set[tuple[int, str]]


def payments(mirror: Mirror, win: Window | None) -> Payments:
    """The `Payments` (transfers citizen -> shop) in the buckets of `win`: two scans of the
    window's transfers, grouped by payer and by shop."""
    if win is None:
        return Payments({}, set(), set())
    by_payer = _query(
        mirror,
        f"SELECT {win.bucket} AS bucket, from_address, SUM(amount) FROM transfers "
        f"WHERE {win.blocks} AND {_CITIZEN_TO_SHOP} GROUP BY bucket, from_address",
        win.params,
    )
    by_shop = _query(
        mirror,
        f"SELECT DISTINCT {win.bucket} AS bucket, to_address FROM transfers "
        f"WHERE {win.blocks} AND {_CITIZEN_TO_SHOP}",
        win.params,
    )
    spent: dict[int, int] = {}
    for b, _, amount in by_payer:
        if b is not None:
            spent[int(b)] = spent.get(int(b), 0) + int(amount)
    return Payments(
        spent,
        {(int(b), str(a)) for b, a, _ in by_payer if b is not None},
        {(int(b), str(a)) for b, a in by_shop if b is not None},
    )

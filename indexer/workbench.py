"""Read queries on the mirror for the auditor's workbench (`domain.workbench`): rewards,
redemptions and payments to shops within a block range, as pages and as sums.

A range is (`after`, `through`]: blocks after `after` up to and including `through`, so the
figures compare with the contract's running totals read at those two blocks. Pages use LIMIT and
OFFSET (memory bounded by the page); sums are one SQL statement each. Amounts are base units,
addresses checksummed, as the mirror keeps them.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from indexer.decoder import ZERO_ADDRESS
from indexer.mirror import Mirror

_SHOPS = "(SELECT account FROM registrations WHERE kind = 'shop')"
"""Every address ever registered as a shop."""


@dataclass(frozen=True)
class Reward:
    """A `RewardMinted` event: to `to_address`, `amount` base units, `task_ref` (0x-hex)."""

    block_number: int
    block_timestamp: int
    tx_hash: str
    log_index: int
    to_address: str
    amount: int
    task_ref: str


@dataclass(frozen=True)
class ShopTransfer:
    """A transfer to a shop (`kind` "payment") or from a shop to someone else than the zero
    address (`kind` "refund")."""

    kind: str
    block_number: int
    block_timestamp: int
    tx_hash: str
    log_index: int
    from_address: str
    to_address: str
    amount: int


def _range(after: int, through: int) -> tuple[str, dict[str, Any]]:
    return "block_number > :after AND block_number <= :through", {
        "after": after,
        "through": through,
    }


def _refs(refs: Collection[str] | None, where: str, params: dict[str, Any]) -> str:
    if refs is None:
        return where
    params["refs"] = json.dumps(sorted(r.lower() for r in refs))
    return where + " AND lower(task_ref) IN (SELECT value FROM json_each(:refs))"


def _shops(shops: Collection[str] | None, where: str, params: dict[str, Any], col: str) -> str:
    if shops is None:
        return where
    params["shops"] = json.dumps(sorted(s.lower() for s in shops))
    return where + f" AND lower({col}) IN (SELECT value FROM json_each(:shops))"


def rewards(
    mirror: Mirror,
    after: int,
    through: int,
    *,
    refs: Collection[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Reward]:
    """Rewards minted in blocks (`after`, `through`], in chain order; only those whose task
    reference is in `refs` when given."""
    where, params = _range(after, through)
    where = _refs(refs, where, params)
    params.update(limit=limit, offset=offset)
    rows = mirror._all(
        "SELECT block_number, block_timestamp, tx_hash, log_index, to_address, amount, task_ref"
        f" FROM rewards WHERE {where} ORDER BY block_number, log_index"
        " LIMIT :limit OFFSET :offset",
        params,
    )
    return [
        Reward(int(a), int(b), str(c), int(d), str(e), int(f), str(g))
        for a, b, c, d, e, f, g in rows
    ]


def rewards_total(
    mirror: Mirror, after: int, through: int, *, refs: Collection[str] | None = None
) -> tuple[int, int]:
    """(count, base units) of the rewards `rewards` lists."""
    where, params = _range(after, through)
    where = _refs(refs, where, params)
    row = mirror._one(
        f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM rewards WHERE {where}", params
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


def redemptions(
    mirror: Mirror,
    after: int,
    through: int,
    *,
    shops: Collection[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Any]:
    """Redemptions in blocks (`after`, `through`] by id (`indexer.mirror.Redemption`); only
    those of the addresses in `shops` when given."""
    from indexer.mirror import _redemption

    where, params = _range(after, through)
    where = _shops(shops, where, params, "shop")
    params.update(limit=limit, offset=offset)
    rows = mirror._all(
        "SELECT redemption_id, shop, amount, block_number, block_timestamp, tx_hash, log_index"
        f" FROM redemptions WHERE {where} ORDER BY redemption_id LIMIT :limit OFFSET :offset",
        params,
    )
    return [_redemption(r) for r in rows]


def redemptions_total(
    mirror: Mirror, after: int, through: int, *, shops: Collection[str] | None = None
) -> tuple[int, int]:
    """(count, base units) of the redemptions `redemptions` lists."""
    where, params = _range(after, through)
    where = _shops(shops, where, params, "shop")
    row = mirror._one(
        f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM redemptions WHERE {where}", params
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _transfer_where(kind: str, shops: Collection[str] | None, params: dict[str, Any]) -> str:
    if kind == "payment":
        where = f"to_address IN {_SHOPS} AND from_address != :zero"
        col = "to_address"
    else:
        where = f"from_address IN {_SHOPS} AND to_address != :zero"
        col = "from_address"
    params["zero"] = ZERO_ADDRESS
    return _shops(shops, where, params, col)


def shop_transfers_total(
    mirror: Mirror,
    after: int,
    through: int,
    kind: str,
    *,
    shops: Collection[str] | None = None,
) -> tuple[int, int]:
    """(count, base units) of the payments to shops (`kind` "payment") or refunds by shops
    ("refund") in blocks (`after`, `through`]."""
    where, params = _range(after, through)
    where += " AND " + _transfer_where(kind, shops, params)
    row = mirror._one(
        f"SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM transfers WHERE {where}", params
    )
    return (int(row[0]), int(row[1])) if row else (0, 0)


def shop_transfers(
    mirror: Mirror,
    after: int,
    through: int,
    *,
    shops: Collection[str] | None = None,
    limit: int = 500,
    offset: int = 0,
) -> list[ShopTransfer]:
    """Payments to shops and refunds by shops in blocks (`after`, `through`], in chain order."""
    where, params = _range(after, through)
    pay = _transfer_where("payment", shops, params)
    ref = _transfer_where("refund", shops, params)
    params.update(limit=limit, offset=offset)
    rows = mirror._all(
        "SELECT CASE WHEN to_address IN " + _SHOPS + " AND from_address != :zero"
        " THEN 'payment' ELSE 'refund' END, block_number, block_timestamp, tx_hash, log_index,"
        f" from_address, to_address, amount FROM transfers WHERE {where} AND (({pay}) OR ({ref}))"
        " ORDER BY block_number, log_index LIMIT :limit OFFSET :offset",
        params,
    )
    return [
        ShopTransfer(str(k), int(b), int(t), str(h), int(i), str(f), str(to), int(a))
        for k, b, t, h, i, f, to, a in rows
    ]


def supply_through(mirror: Mirror, through: int) -> int:
    """Base units in circulation after block `through`: minted minus burned up to it."""
    row = mirror._one(
        "SELECT (SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE from_address = :z"
        " AND block_number <= :b) - (SELECT COALESCE(SUM(amount), 0) FROM transfers"
        " WHERE to_address = :z AND block_number <= :b)",
        {"z": ZERO_ADDRESS, "b": through},
    )
    return int(row[0]) if row else 0


def last_block_before(mirror: Mirror, ts: int) -> int:
    """The highest block the mirror keeps a header of whose time is before `ts` (0 when none):
    where a period begins or ends when the chain cannot be asked."""
    row = mirror._one("SELECT MAX(number) FROM blocks WHERE timestamp < ?", [ts])
    return int(row[0]) if row and row[0] is not None else 0

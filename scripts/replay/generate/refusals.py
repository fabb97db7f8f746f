"""Deliberately refused events mixed into a generated year.

Right after a valid event, `refused_event` writes one a correct replay refuses (or takes as a
no-op) at the same moment: a second claim of a claimed task, a repeated approval, an approval
by a non-coordinator, a payment above the balance or of a malformed amount, a payment to an
unknown shop or between citizens, a redemption above the balance, a repeated settle. Refused
events change nothing, so the balances the generator keeps stay right.
"""

from __future__ import annotations

import random
from typing import Any

from heitje.money import format_heit

__all__ = ["UNKNOWN_SHOP", "refused_event"]

UNKNOWN_SHOP = "shop-closed"

_INVALID_AMOUNTS = ("abc", "", "1e3", "1.005", "-5.00", "0", "4,50", "0.00")


def refused_event(
    rng: random.Random,
    base: dict[str, Any],
    cit_ids: list[str],
    shop_ids: list[str],
    cit_bal: list[int],
    shop_bal: list[int],
    unknown_shop: str = UNKNOWN_SHOP,
) -> dict[str, Any] | None:
    """An event a correct replay refuses (or takes as a no-op), right after `base`.

    It names the same moment as `base` and changes nothing, so planned balances stay right.
    None when `base` allows no such event (one citizen only).
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

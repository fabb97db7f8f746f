"""Spending in a generated year: purchases, refunds and month-end redemptions.

`Wallets` keeps every citizen's and shop's balance while the year is played back, so no one
spends or redeems more than they hold: an approved reward is spent at shops over the next
weeks, a few purchases are refunded, and shops holding HEIT redeem at each month end.
"""

from __future__ import annotations

import random
from typing import Any

from heitje.money import format_heit
from scripts.replay.generate.calendar import BUY, REDEEM, REFUND, Plan
from scripts.replay.generate.people import Citizens, Shops

__all__ = ["Wallets"]

_SHOPPING_HOURS = (10 * 60, 8 * 60)  # from 10:00, for 8 hours


class Wallets:
    """Balances in HEIT base units, by citizen and shop index."""

    def __init__(self, rng: random.Random, plan: Plan, citizens: Citizens, shops: Shops) -> None:
        self._rng = rng
        self._plan = plan
        self._citizens = citizens
        self._shops = shops
        self.citizen = [0] * len(citizens.ids)
        self.shop = [0] * len(shops.ids)

    def _shopping_time(self) -> int:
        start, hours = _SHOPPING_HOURS
        return start + self._rng.randrange(hours)

    def reward(self, day: int, citizen: int, amount: int) -> None:
        """Credit an approved reward; plan one to three purchases over the next three weeks."""
        rng = self._rng
        self.citizen[citizen] += amount
        for _ in range(rng.choice((1, 2, 2, 3))):
            self._plan.add(day + rng.randint(1, 21), self._shopping_time(), BUY, citizen)

    def buy(self, day: int, stamp: str, citizen: int) -> dict[str, Any] | None:
        """A purchase at a shop, mostly at one of its typical prices; None with little to spend.

        One in 25 purchases is returned: a refund is planned in the coming days.
        """
        rng = self._rng
        balance = self.citizen[citizen]
        if balance < 100 and (balance < 5 or rng.random() < 0.7):
            return None
        s = self._shops.pick(rng)
        affordable = [p for p in self._shops.prices[s] if p <= balance]
        if affordable and rng.random() < 0.8:
            amount = rng.choice(affordable)
        else:
            amount = rng.randint(min(balance, 100), min(balance, 1500))
        self.citizen[citizen] -= amount
        self.shop[s] += amount
        event = {
            "at": stamp,
            "type": "pay",
            "from": self._citizens.ids[citizen],
            "to": self._shops.ids[s],
            "amount": format_heit(amount),
        }
        if rng.random() < 0.04:  # returned goods: a refund in the coming days
            back = amount if rng.random() < 0.5 else max(1, amount * rng.randint(2, 6) // 10)
            self._plan.add(day + rng.randint(1, 5), self._shopping_time(), REFUND, s, citizen, back)
        return event

    def refund(self, stamp: str, shop: int, citizen: int, amount: int) -> dict[str, Any] | None:
        """The shop pays `amount` back to the citizen; None if it no longer holds it."""
        if self.shop[shop] < amount:
            return None
        self.shop[shop] -= amount
        self.citizen[citizen] += amount
        return {
            "at": stamp,
            "type": "pay",
            "from": self._shops.ids[shop],
            "to": self._citizens.ids[citizen],
            "amount": format_heit(amount),
        }

    def plan_redemptions(self, month_ends: list[int]) -> None:
        """Every shop may redeem between 17:00 and 18:00 on each month's last day."""
        for day in month_ends:
            for s in range(len(self.shop)):
                self._plan.add(day, 17 * 60 + self._rng.randrange(60), REDEEM, s)

    def redeem(self, stamp: str, shop: int) -> dict[str, Any] | None:
        """The shop redeems all it holds (sometimes 50-90 %); None when it holds nothing."""
        rng = self._rng
        balance = self.shop[shop]
        if balance <= 0:
            return None
        amount = balance if rng.random() < 0.8 else max(1, balance * rng.randint(5, 9) // 10)
        self.shop[shop] -= amount
        return {
            "at": stamp,
            "type": "redeem",
            "shop": self._shops.ids[shop],
            "amount": format_heit(amount),
        }

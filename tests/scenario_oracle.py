"""An independent model of the scenario rules in shared/scenarios/README.md.

`expected_report(scenario)` takes a decoded scenario file (plain JSON dict) and returns exactly
the fields of a `<name>.expected.json`: `accounts`, `minted`, `redeemed`, `total_supply`,
`settled_eur`, `rejected_events`, `noop_or_rejected_events`, `rejected_registrations` and
`settlements`.

It shares no code with the product (not `heitje.money`, not `scripts.replay.scenario` nor
`scripts.replay.generate`): amounts are parsed here from their digits into integer hundredths,
IBANs are checked with schwifty, and times with `datetime.fromisoformat`. It is the yardstick
the replay is measured against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from schwifty import IBAN

_AMOUNT = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?")


def parse_amount(text: object) -> int | None:
    """Hundredths of a HEIT for a valid amount (positive, at most two decimals), else None."""
    if not isinstance(text, str):
        return None
    m = _AMOUNT.fullmatch(text)
    if m is None:
        return None
    units = int(m.group(1)) * 100 + int((m.group(2) or "").ljust(2, "0"))
    return units if units > 0 else None


def fmt(units: int) -> str:
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 100)
    return f"{sign}{whole}.{frac:02d}"


def iban_is_valid(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        IBAN("".join(text.split()).upper())
    except ValueError:
        return False
    return True


def euro_cents(units: int, eur_per_heitje: str) -> int:
    """Cents for `units` hundredths of a HEIT at the rate, rounded half up once."""
    exact = Decimal(units) * Decimal(eur_per_heitje)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass
class _Task:
    reward: str
    state: str = "new"  # new, open, claimed, submitted, approved, closed
    citizen: str | None = None


@dataclass
class _Redemption:
    at: datetime
    shop: str
    units: int
    settled: bool = False


@dataclass
class Replay:
    """State of a replay by the rules; `why` says, per refused index, what rule refused it."""

    kinds: dict[str, str] = field(default_factory=dict)  # account id -> "citizen" | "shop"
    balances: dict[str, int] = field(default_factory=dict)
    coordinators: set[str] = field(default_factory=set)
    tasks: dict[str, _Task] = field(default_factory=dict)
    rewarded: dict[tuple[str, int], int] = field(default_factory=dict)
    # (citizen, shop) -> base units of its purchases there not yet refunded
    refundable: dict[tuple[str, str], int] = field(default_factory=dict)
    redemptions: list[_Redemption] = field(default_factory=list)
    minted: int = 0
    redeemed: int = 0
    settled_cents: int = 0
    rejected: list[int] = field(default_factory=list)
    noop_or_rejected: list[int] = field(default_factory=list)
    rejected_registrations: list[str] = field(default_factory=list)
    settlements: list[dict[str, str]] = field(default_factory=list)
    why: dict[int, str] = field(default_factory=dict)


class _Refused(Exception):
    def __init__(self, reason: str, *, noop: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.noop = noop


def replay(scenario: dict[str, Any]) -> Replay:
    """Apply the README rules to every event in order; refused events change nothing."""
    r = Replay()
    cap = parse_amount(scenario["policy"]["annual_reward_cap"])
    assert cap is not None, "annual_reward_cap must be a valid amount"
    rate = scenario["municipality"].get("eur_per_heitje", "1.00")

    r.coordinators = {c["id"] for c in scenario.get("coordinators", [])}
    for c in scenario.get("citizens", []):
        r.kinds[c["id"]] = "citizen"
        r.balances[c["id"]] = 0
    for s in scenario.get("shops", []):
        if iban_is_valid(s.get("iban")):
            r.kinds[s["id"]] = "shop"
            r.balances[s["id"]] = 0
        else:
            r.rejected_registrations.append(s["id"])
    for t in scenario.get("tasks", []):
        r.tasks[t["id"]] = _Task(reward=t["reward"])

    for index, event in enumerate(scenario["events"]):
        try:
            _apply(r, event, cap, rate)
        except _Refused as e:
            (r.noop_or_rejected if e.noop else r.rejected).append(index)
            r.why[index] = e.reason
    return r


def _apply(r: Replay, e: dict[str, Any], cap: int, rate: str) -> None:
    kind = e.get("type")
    at = datetime.fromisoformat(e["at"])
    if kind in ("publish", "approve", "reject") and e.get("by") not in r.coordinators:
        raise _Refused("not_coordinator")
    if kind in ("publish", "claim", "submit", "approve", "reject"):
        task = r.tasks.get(e.get("task", ""))
        if task is None:
            raise _Refused("unknown_task")
        if kind == "publish":
            if task.state != "new":
                raise _Refused("already_published")
            if parse_amount(task.reward) is None:
                raise _Refused("invalid_amount")
            task.state = "open"
        elif kind == "claim":
            if r.kinds.get(e.get("citizen", "")) != "citizen":
                raise _Refused("not_citizen")
            if task.state != "open":
                raise _Refused("task_not_open")
            task.state, task.citizen = "claimed", e["citizen"]
        elif kind == "submit":
            if task.state != "claimed" or task.citizen != e.get("citizen"):
                raise _Refused("not_claimant")
            task.state = "submitted"
        elif kind == "approve":
            if task.state == "approved":
                raise _Refused("already_approved", noop=True)
            if task.state != "submitted":
                raise _Refused("task_not_submitted")
            reward = parse_amount(task.reward)
            assert reward is not None and task.citizen is not None
            key = (task.citizen, at.year)
            if r.rewarded.get(key, 0) + reward > cap:
                raise _Refused("annual_cap_exceeded")
            r.rewarded[key] = r.rewarded.get(key, 0) + reward
            r.balances[task.citizen] += reward
            r.minted += reward
            task.state = "approved"
        else:  # reject
            if task.state != "submitted":
                raise _Refused("task_not_submitted")
            task.state = "closed"
    elif kind == "pay":
        units = parse_amount(e.get("amount"))
        if units is None:
            raise _Refused("invalid_amount")
        payer, payee = e.get("from", ""), e.get("to", "")
        pair = (r.kinds.get(payer), r.kinds.get(payee))
        if pair not in (("citizen", "shop"), ("shop", "citizen")):
            raise _Refused("transfer_not_allowed")
        # A refund returns earlier purchases of that citizen at that shop: at most what is left.
        purchases = (payer, payee) if pair[0] == "citizen" else (payee, payer)
        left = r.refundable.get(purchases, 0)
        if pair[0] == "shop" and units > left:
            raise _Refused("refund_exceeds_payment")
        if r.balances[payer] < units:
            raise _Refused("insufficient_balance")
        r.balances[payer] -= units
        r.balances[payee] += units
        r.refundable[purchases] = left + units if pair[0] == "citizen" else left - units
    elif kind == "redeem":
        units = parse_amount(e.get("amount"))
        if units is None:
            raise _Refused("invalid_amount")
        shop = e.get("shop", "")
        if r.kinds.get(shop) != "shop":
            raise _Refused("not_shop")
        if r.balances[shop] < units:
            raise _Refused("insufficient_balance")
        r.balances[shop] -= units
        r.redeemed += units
        r.redemptions.append(_Redemption(at=at, shop=shop, units=units))
    elif kind == "settle":
        through = datetime.fromisoformat(e["through"])
        due = [x for x in r.redemptions if not x.settled and x.at <= through]
        if not due:
            raise _Refused("nothing_to_settle", noop=True)
        per_shop: dict[str, int] = {}
        for x in due:
            x.settled = True
            per_shop[x.shop] = per_shop.get(x.shop, 0) + x.units
        cents = {shop: euro_cents(units, rate) for shop, units in per_shop.items()}
        r.settled_cents += sum(cents.values())
        r.settlements.append({shop: fmt(c) for shop, c in sorted(cents.items())})
    else:
        raise _Refused("unknown_event")


def expected_report(scenario: dict[str, Any]) -> dict[str, Any]:
    """The fields of `<name>.expected.json` for `scenario`."""
    r = replay(scenario)
    return {
        "accounts": {acc: fmt(units) for acc, units in r.balances.items()},
        "minted": fmt(r.minted),
        "redeemed": fmt(r.redeemed),
        "total_supply": fmt(r.minted - r.redeemed),
        "settled_eur": fmt(r.settled_cents),
        "rejected_events": r.rejected,
        "noop_or_rejected_events": r.noop_or_rejected,
        "rejected_registrations": r.rejected_registrations,
        "settlements": r.settlements,
    }

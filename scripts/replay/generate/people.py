"""Who takes part in a generated year: coordinators, citizens, shops and the municipality.

Names, shops and IBANs are made up; the IBANs are at real Dutch banks' codes with valid check
digits (and a valid "elfproef"), and must never be sent to a bank.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

__all__ = [
    "NEIGHBOURHOODS",
    "Citizens",
    "Coordinators",
    "Shops",
    "make_citizens",
    "make_coordinators",
    "make_shops",
    "municipality",
    "nl_iban",
    "width",
]

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

# BNG Bank: the Dutch municipalities' bank.
_MUNICIPAL_BANK = ("BNGH", "BNGHNL2G")


def nl_iban(bank: str, rng: random.Random) -> str:
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


def width(n: int, least: int) -> int:
    """Digits for zero-padded ids 1..`n`, at least `least`."""
    return max(least, len(str(n)))


def _person_name(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    """An index drawn with the weights whose running sums are `cumulative`."""
    return min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


@dataclass(frozen=True)
class Coordinators:
    ids: list[str]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Citizens:
    ids: list[str]
    rows: list[dict[str, Any]]
    activity: list[float]
    """Running sums of how keen each citizen is to take a task."""

    def pick(self, rng: random.Random) -> int:
        """A citizen, the keen ones more often."""
        return _pick(rng, self.activity)


@dataclass(frozen=True)
class Shops:
    ids: list[str]
    rows: list[dict[str, Any]]
    prices: list[tuple[int, ...]]
    """Per shop, its typical prices in HEIT base units."""
    popularity: list[float]
    """Running sums of how often each shop is chosen for a purchase."""

    def pick(self, rng: random.Random) -> int:
        """A shop, the popular ones more often."""
        return _pick(rng, self.popularity)


def make_coordinators(rng: random.Random, tasks: int) -> Coordinators:
    """Three coordinators, one more per 10,000 tasks beyond the first 10,000 (at most 12)."""
    n = 3 if tasks < 10_000 else min(12, 3 + tasks // 10_000)
    ids = [f"coord-{i + 1}" for i in range(n)]
    return Coordinators(ids, [{"id": cid, "name": _person_name(rng)} for cid in ids])


def make_citizens(rng: random.Random, n: int) -> Citizens:
    w = width(n, 2)
    ids = [f"cit-{i + 1:0{w}d}" for i in range(n)]
    rows = [
        {"id": cid, "name": _person_name(rng), "neighbourhood": rng.choice(NEIGHBOURHOODS)}
        for cid in ids
    ]
    # A few citizens do most tasks, as in every volunteer programme.
    activity = list(accumulate(rng.lognormvariate(0.0, 1.0) for _ in range(n)))
    return Citizens(ids, rows, activity)


def make_shops(rng: random.Random, n: int) -> Shops:
    """One shop per category first, then categories at random; a name used up makes a chain."""
    ids = [f"shop-{i + 1}" for i in range(n)]
    rows: list[dict[str, Any]] = []
    prices: list[tuple[int, ...]] = []
    used_names: set[str] = set()
    n_cat = len(_SHOP_CATEGORIES)
    for i, sid in enumerate(ids):
        category, names, typical = _SHOP_CATEGORIES[i if i < n_cat else rng.randrange(n_cat)]
        fresh = [name for name in names if name not in used_names]
        if fresh:
            shop_name = rng.choice(fresh)
        else:  # a chain: same name, another neighbourhood (numbered if need be)
            shop_name = base = f"{rng.choice(names)} {rng.choice(NEIGHBOURHOODS)}"
            k = 2
            while shop_name in used_names:
                shop_name, k = f"{base} {k}", k + 1
        used_names.add(shop_name)
        bank, bic = rng.choice(_BANKS)
        rows.append(
            {
                "id": sid,
                "name": shop_name,
                "category": category,
                "iban": nl_iban(bank, rng),
                "bic": bic,
            }
        )
        prices.append(typical)
    popularity = list(accumulate(rng.lognormvariate(0.0, 0.7) for _ in range(n)))
    return Shops(ids, rows, prices, popularity)


def municipality(rng: random.Random, name: str, eur_per_heitje: str) -> dict[str, Any]:
    """The paying municipality, with an account at BNG Bank."""
    bank, bic = _MUNICIPAL_BANK
    return {"name": name, "iban": nl_iban(bank, rng), "bic": bic, "eur_per_heitje": eur_per_heitje}

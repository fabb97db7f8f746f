"""Money: the one module that converts between HEIT decimal strings, base units and euro cents.

HEIT has 2 decimals (ERC-20 `decimals() == 2`): 1 HEIT = 100 base units. Euro amounts are
integer cents. The exchange rate `eur_per_heitje` is a decimal string ("1", "1.00", "0.50").
No float ever holds money: parsing is done on the digits.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NewType

from heitje.errors import InvalidAmount

BaseUnits = NewType("BaseUnits", int)
"""Token base units: 1 HEIT = 100."""

EuroCents = NewType("EuroCents", int)
"""Euro cents: EUR 1 = 100."""

DECIMALS = 2
UNITS_PER_HEIT = 10**DECIMALS

# \Z, not $: "$" would also match before a trailing newline ("12\n").
_AMOUNT = re.compile(r"^(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?\Z")
_RATE = re.compile(r"^(0|[1-9][0-9]*)(?:\.([0-9]{1,6}))?\Z")
# What a person may type in a form: digits, then a comma or a point and one or two decimals.
_TYPED = re.compile(r"^([0-9]{1,15})(?:[.,]([0-9]{1,2}))?\Z")
# A signed amount as `format_heit` writes it ("-3.00", "0.00", "12.50").
_FORMATTED = re.compile(r"^(-?)(0|[1-9][0-9]{0,20})\.([0-9]{2})\Z")
# Largest amount accepted from people: 10^12 HEIT (fits SQLite INTEGER and uint256 easily).
MAX_UNITS = 10**14


def parse_heit(text: object) -> BaseUnits:
    """Parse a HEIT decimal string ("12", "4.50", "0.01") into base units.

    Accepts a positive amount with at most two decimals, no sign, no exponent, no spaces.
    Raises `InvalidAmount` (code `invalid_amount`) for anything else: "0", "-5.00", "1.005",
    "abc", "", non-strings, or amounts above 10^12 HEIT.
    """
    if not isinstance(text, str):
        raise InvalidAmount(f"amount must be a decimal string, got {type(text).__name__}")
    m = _AMOUNT.match(text)
    if m is None:
        raise InvalidAmount(f"amount {text!r} is not a positive decimal with at most two decimals")
    whole, frac = m.group(1), (m.group(2) or "")
    units = int(whole) * UNITS_PER_HEIT + int(frac.ljust(DECIMALS, "0"))
    if units <= 0:
        raise InvalidAmount(f"amount {text!r} must be above zero")
    if units > MAX_UNITS:
        raise InvalidAmount(f"amount {text!r} is too large")
    return BaseUnits(units)


def parse_typed_heit(text: object) -> BaseUnits:
    """Parse an amount a person typed in a form into base units: "4,50", "4.50", "4" and
    "4,5" all work (comma or point as the decimal sign, spaces around are ignored).

    Refuses, with `InvalidAmount`, anything else: thousands separators ("1.000,50"), more than
    two decimals ("4,505"), signs, letters or currency signs ("4,50 EUR"), zero, and amounts
    above 10^12 HEIT. The text is only matched against digits; no float is involved.
    """
    if not isinstance(text, str):
        raise InvalidAmount(f"amount must be text, got {type(text).__name__}")
    m = _TYPED.match(text.strip())
    if m is None:
        raise InvalidAmount(f"amount {text[:40]!r} is not a number like 4,50 or 4.50 or 4")
    whole = m.group(1).lstrip("0") or "0"
    frac = m.group(2)
    return parse_heit(f"{whole}.{frac}" if frac else whole)


def units_of(text: str) -> int:
    """Base units of an amount as `format_heit` writes it ("12.50" -> 1250, "-3.00" -> -300,
    "0.00" -> 0): for amounts read back from the service, which may be zero or negative.
    Raises `InvalidAmount` for any other text."""
    m = _FORMATTED.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidAmount(f"amount {text!r} is not a formatted HEIT amount")
    units = int(m.group(2)) * UNITS_PER_HEIT + int(m.group(3))
    return int(-units if m.group(1) else units)


def format_heit(units: int) -> str:
    """Format base units as a HEIT decimal string with exactly two decimals ("12.50", "-3.00")."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS_PER_HEIT)
    return f"{sign}{whole}.{frac:02d}"


def format_eur(cents: int) -> str:
    """Format euro cents as a decimal string with two decimals ("380.17")."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}{whole}.{frac:02d}"


def parse_rate(text: str) -> Fraction:
    """Parse `eur_per_heitje` ("1", "1.00", "0.5") into an exact fraction of euros per HEIT.

    Raises `InvalidAmount` unless it is a positive decimal with at most six decimals.
    """
    m = _RATE.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidAmount(f"rate {text!r} is not a positive decimal")
    whole, frac = m.group(1), (m.group(2) or "")
    rate = Fraction(int(whole)) + Fraction(int(frac or "0"), 10 ** len(frac))
    if rate <= 0:
        raise InvalidAmount(f"rate {text!r} must be above zero")
    return rate


def units_to_cents(units: int, eur_per_heitje: str = "1") -> EuroCents:
    """Euro cents owed for `units` base units at `eur_per_heitje` euros per HEIT.

    Exact when the result is a whole number of cents (always at the default rate 1);
    otherwise rounded half up to the cent. Apply it to a total (per shop per batch), not per
    item, so rounding happens once.
    """
    exact = Fraction(units) * parse_rate(eur_per_heitje)  # units are cents of HEIT
    floor = exact.numerator // exact.denominator
    rest = exact - floor
    return EuroCents(floor + (1 if rest >= Fraction(1, 2) else 0))

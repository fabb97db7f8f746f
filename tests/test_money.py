"""heitje.money: HEIT strings <-> base units <-> euro cents. Expected values worked out by hand:
1 HEIT = 100 base units; at rate r euros per HEIT, u base units are u * r euro cents."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from heitje.errors import HeitjeError, InvalidAmount
from heitje.money import (
    MAX_UNITS,
    format_eur,
    format_heit,
    parse_heit,
    parse_rate,
    units_to_cents,
)

# --- parse_heit ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("12", 1200),
        ("4.50", 450),
        ("4.5", 450),
        ("0.01", 1),
        ("0.10", 10),
        ("1000000.00", 100_000_000),
        ("1000000000000.00", 100_000_000_000_000),  # 10^12 HEIT, the largest accepted
    ],
)
def test_parse_heit_gives_exact_base_units(text: str, units: int) -> None:
    result = parse_heit(text)
    assert result == units
    assert type(result) is int


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.00",
        "-5.00",
        "+5.00",
        "1.005",
        "abc",
        "",
        "1e3",
        " 1",
        "1 ",
        "1.",
        ".5",
        "01",
        "1,50",
        "12\n",
        "\uff11\uff12",  # full-width digits
        "1000000000000.01",  # above 10^12 HEIT
    ],
)
def test_parse_heit_refuses_malformed_text(text: str) -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_heit(text)
    assert info.value.code == "invalid_amount"


@pytest.mark.parametrize("value", [12, 4.5, None, Decimal("4.50"), b"12", True, ["12"]])
def test_parse_heit_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_heit(value)
    assert info.value.code == "invalid_amount"


def test_invalid_amount_is_a_heitje_error_and_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_heit("abc")
    with pytest.raises(HeitjeError):
        parse_heit("abc")
    assert InvalidAmount.http_status == 422


def test_max_units_is_ten_to_the_twelve_heit() -> None:
    assert MAX_UNITS == 10**12 * 100


# --- format_heit / format_eur --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "text"),
    [
        (1200, "12.00"),
        (450, "4.50"),
        (1, "0.01"),
        (10, "0.10"),
        (0, "0.00"),
        (100_000_000, "1000000.00"),
        (-300, "-3.00"),
        (-1, "-0.01"),
        (-1250, "-12.50"),
    ],
)
def test_format_heit_has_exactly_two_decimals(units: int, text: str) -> None:
    assert format_heit(units) == text


@pytest.mark.parametrize(
    ("cents", "text"),
    [(38017, "380.17"), (5, "0.05"), (100, "1.00"), (0, "0.00"), (-5, "-0.05"), (-100, "-1.00")],
)
def test_format_eur_has_exactly_two_decimals(cents: int, text: str) -> None:
    assert format_eur(cents) == text


@pytest.mark.parametrize("units", [1, 9, 10, 99, 100, 101, 450, 1200, 123_456_789, MAX_UNITS])
def test_parse_heit_of_format_heit_round_trips(units: int) -> None:
    assert parse_heit(format_heit(units)) == units


@pytest.mark.parametrize(
    ("text", "canonical"), [("12", "12.00"), ("4.5", "4.50"), ("4.50", "4.50"), ("0.01", "0.01")]
)
def test_format_heit_of_parse_heit_gives_the_canonical_string(text: str, canonical: str) -> None:
    assert format_heit(parse_heit(text)) == canonical


# --- parse_rate / units_to_cents -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("1", Fraction(1)),
        ("1.00", Fraction(1)),
        ("0.50", Fraction(1, 2)),
        ("0.5", Fraction(1, 2)),
        ("1.25", Fraction(5, 4)),
        ("0.000001", Fraction(1, 1_000_000)),
        ("2", Fraction(2)),
    ],
)
def test_parse_rate_is_an_exact_fraction(text: str, rate: Fraction) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "0.00",
        "0.000000",
        "-1",
        "-0.50",
        "abc",
        "",
        "1e3",
        " 1",
        "1.",
        ".5",
        "01",
        "1.0000001",
        "1\n",
    ],
)
def test_parse_rate_refuses_malformed_text(text: str) -> None:
    with pytest.raises(InvalidAmount) as info:
        parse_rate(text)
    assert info.value.code == "invalid_amount"


@pytest.mark.parametrize("value", [1, 0.5, None, Decimal("1.00")])
def test_parse_rate_refuses_non_strings(value: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_rate(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("units", "cents"), [(0, 0), (1, 1), (450, 450), (123_456, 123_456)])
def test_units_to_cents_at_one_euro_per_heit_is_exact(units: int, cents: int) -> None:
    assert units_to_cents(units, "1.00") == cents
    assert units_to_cents(units, "1") == cents
    assert units_to_cents(units) == cents  # default rate 1


@pytest.mark.parametrize(
    ("units", "cents"),
    [
        (2, 1),  # 1.0 cent
        (1, 1),  # 0.5 cent: half rounds up
        (3, 2),  # 1.5 cents: half rounds up
        (5, 3),  # 2.5 cents: half rounds up (not to even)
        (450, 225),  # 4.50 HEIT -> EUR 2.25
        (1001, 501),  # 500.5 cents
    ],
)
def test_units_to_cents_at_half_a_euro_rounds_half_up(units: int, cents: int) -> None:
    assert units_to_cents(units, "0.50") == cents


@pytest.mark.parametrize(
    ("units", "rate", "cents"),
    [
        (2, "0.25", 1),  # 0.5 -> 1
        (1, "0.25", 0),  # 0.25 -> 0
        (3, "0.25", 1),  # 0.75 -> 1
        (100, "0.333333", 33),  # 33.3333 -> 33
        (3, "1.5", 5),  # 4.5 -> 5
        (7, "1.000001", 7),  # 7.000007 -> 7
    ],
)
def test_units_to_cents_rounds_to_the_nearest_cent(units: int, rate: str, cents: int) -> None:
    assert units_to_cents(units, rate) == cents


def test_units_to_cents_rounds_once_on_the_total_not_per_item() -> None:
    # Three redemptions of 0.01 HEIT at EUR 0.50: each alone would be 0.5 -> 1 cent (3 in
    # all), the total of 0.03 HEIT is 1.5 -> 2 cents.
    per_item = sum(units_to_cents(1, "0.50") for _ in range(3))
    assert per_item == 3
    assert units_to_cents(3, "0.50") == 2


@pytest.mark.parametrize("rate", ["abc", "0", "-1.00", "", "1e3"])
def test_units_to_cents_refuses_a_bad_rate(rate: str) -> None:
    with pytest.raises(InvalidAmount) as info:
        units_to_cents(100, rate)
    assert info.value.code == "invalid_amount"

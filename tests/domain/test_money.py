"""Exact money types: parsing, float refusal, complement symmetry."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshibot.domain.money import Count, Money, Price, parse_decimal
from kalshibot.errors import DataError, InvalidCountError, InvalidPriceError


@pytest.mark.parametrize(
    "bad",
    [
        0.49,
        "",
        " 0.49",
        "0.49 ",
        "abc",
        "1e-2",
        "NaN",
        "Infinity",
        "0,49",
        "--1",
        ".5",
        "5.",
        None,
        True,
        [],
        {},
    ],
)
def test_price_parsing_rejects_bad_input(bad):
    with pytest.raises(InvalidPriceError) as err:
        Price.from_dollars(bad, "yes_bid_dollars")
    assert "yes_bid_dollars" in str(err.value) or "price" in str(err.value)


@pytest.mark.parametrize("bad", [10.0, "", "1.234", "ten", "1e3", None])
def test_count_parsing_rejects_bad_input(bad):
    with pytest.raises(InvalidCountError):
        Count.from_fp(bad, "count_fp")


@pytest.mark.parametrize("bad", [1.5, "", "x", None, False])
def test_money_parsing_rejects_bad_input(bad):
    with pytest.raises(DataError):
        Money.from_dollars(bad)


def test_parsing_good_values_is_exact():
    assert Price.from_dollars("0.4900").value == Decimal("0.49")
    assert Price.from_dollars("0.123400").value == Decimal("0.1234")
    assert Count.from_fp("210.00").value == Decimal(210)
    assert Count.from_fp("0.01").value == Decimal("0.01")
    assert Money.from_dollars("1250.3400") == Money("1250.34")
    assert Money.from_cents(125034) == Money("1250.34")
    with pytest.raises(DataError):
        Money.from_cents(12.5)  # type: ignore[arg-type]


def test_price_out_of_range():
    for bad in ("1.0001", "-0.01"):
        with pytest.raises(InvalidPriceError):
            Price.from_dollars(bad)


def test_arithmetic_refuses_float():
    with pytest.raises(TypeError):
        Money(1) * 0.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(1) + 0.5  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Price(0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Count(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _ = Money(1) < 2  # type: ignore[operator]


def test_money_arithmetic_and_display():
    assert Money("1.10") + Money("2.205") == Money("3.305")
    assert Money("1") - Money("1.5") == Money("-0.5")
    assert Money("1.5") * 2 == Money(3)
    assert Price("0.49") * Count(10) == Money("4.9")
    assert str(Money("-1.5")) == "-$1.50"
    assert str(Money("0.0175")) == "$0.0175"
    assert Money("0.0175").round_up(Decimal("0.01")) == Money("0.02")
    assert Money("1.2").to_str() == "1.2000"
    assert Count(3).to_str() == "3.00"
    assert Price("0.5").to_str() == "0.5000"


def test_count_precision():
    with pytest.raises(InvalidCountError):
        Count(Decimal("0.001"))
    assert Count("2.50").floor_whole() == Count(2)
    assert Count("-2.50").floor_whole() == Count(-2)


@given(st.integers(min_value=0, max_value=1_000_000))
def test_complement_symmetry(n):
    p = Price(Decimal(n) / 1_000_000)
    assert p.complement().complement() == p
    assert p.value + p.complement().value == 1


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False))
def test_money_string_round_trip(d):
    m = Money(d)
    assert Money.from_dollars(m.to_str()) == m
    assert parse_decimal(m.to_str()) == d

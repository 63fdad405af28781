"""Kalshi fee function: worked numbers from kalshi-api.md section 8, rounding, bounds."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshibot.domain.fees import (
    FeeType,
    charged_in_cents,
    fee_per_contract,
    trade_fee,
)
from kalshibot.domain.money import Count, Money, Price
from kalshibot.errors import DataError

MAKER = FeeType.QUADRATIC_WITH_MAKER_FEES


@pytest.mark.parametrize(
    ("count", "price", "is_taker", "fee_type", "fee", "cents"),
    [
        # worked numbers (section 8)
        ("10", "0.50", True, FeeType.QUADRATIC, "0.1750", "0.18"),
        ("100", "0.30", True, FeeType.QUADRATIC, "1.4700", "1.47"),
        ("10", "0.50", False, MAKER, "0.0438", "0.05"),  # 0.04375 rounds up to 0.0438
        ("4", "0.49", True, FeeType.QUADRATIC, "0.0700", "0.07"),  # 0.06997 -> 0.0700
        # 1-lot at $0.50: 0.0175, shown as 2 cents
        ("1", "0.50", True, FeeType.QUADRATIC, "0.0175", "0.02"),
        # makers pay nothing in plain quadratic series
        ("10", "0.50", False, FeeType.QUADRATIC, "0.0000", "0.00"),
        # flat series are charged conservatively as taker
        ("10", "0.50", False, FeeType.FLAT, "0.1750", "0.18"),
        # rounding at $0.0001: 0.07*1*0.01*0.99 = 0.000693 -> 0.0007
        ("1", "0.01", True, FeeType.QUADRATIC, "0.0007", "0.01"),
        # sub-penny price and fractional count: 0.07*2.5*0.455*0.545 = 0.043393... -> 0.0434
        ("2.50", "0.455", True, FeeType.QUADRATIC, "0.0434", "0.05"),
        # NO side priced at 0.70 has the same fee as YES at 0.30
        ("100", "0.70", True, FeeType.QUADRATIC, "1.4700", "1.47"),
        ("0", "0.50", True, FeeType.QUADRATIC, "0.0000", "0.00"),
    ],
)
def test_fee_table(count, price, is_taker, fee_type, fee, cents):
    got = trade_fee(Count(count), Price(price), is_taker=is_taker, fee_type=fee_type)
    assert got == Money(fee)
    assert charged_in_cents(got) == Money(cents)


def test_fee_multiplier_scales_before_rounding():
    got = trade_fee(Count(10), Price("0.50"), multiplier=Decimal("0.5"))
    assert got == Money("0.0875")


def test_fee_rejects_floats_and_negative_multiplier():
    with pytest.raises(TypeError):
        trade_fee(10, Price("0.5"))  # type: ignore[arg-type]
    with pytest.raises(DataError):
        trade_fee(Count(1), Price("0.5"), multiplier=Decimal(-1))


def test_fee_type_parse_rejects_unknown_and_missing():
    assert FeeType.parse("quadratic_with_maker_fees") is MAKER
    with pytest.raises(DataError):
        FeeType.parse("weird")
    with pytest.raises(DataError):
        FeeType.parse(None)


prices = st.integers(min_value=0, max_value=10000).map(lambda n: Price(Decimal(n) / 10000))
counts = st.integers(min_value=0, max_value=1_000_000).map(lambda n: Count(Decimal(n) / 100))


@given(counts, prices, st.booleans(), st.sampled_from(list(FeeType)))
def test_fee_never_negative_never_above_cap(count, price, is_taker, fee_type):
    fee = trade_fee(count, price, is_taker=is_taker, fee_type=fee_type)
    assert fee >= Money(0)
    cap = Money(Decimal("0.0175") * count.value + Decimal("0.0001"))
    assert fee <= cap
    # rounded up to $0.0001 and never below the exact fee
    assert fee.amount == fee.amount.quantize(Decimal("0.0001"))
    exact = fee_per_contract(price, is_taker=is_taker, fee_type=fee_type) * count.value
    assert exact <= fee.amount < exact + Decimal("0.0001")

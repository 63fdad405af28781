"""Kalshi fee function: worked numbers from kalshi-api.md section 8, rounding, bounds."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshibot.domain.fees import (
    FeeSchedule,
    FeeType,
    OrderFeeAccumulator,
    charged_in_cents,
    fee_per_contract,
    order_fee,
    order_fee_per_contract,
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


# --- fees as charged (issue 15 case 5, issue 20 item 1) -------------------------------

QUAD = FeeSchedule()
COMBO = FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES
T = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("count", "price", "modelled", "charged"),
    [
        # the figures: modelled (old, $0.0001) vs charged (cents per order)
        ("1", "0.50", "0.0175", "0.02"),
        ("1", "0.05", "0.0033", "0.01"),  # 0.07*0.05*0.95 = 0.003325 -> 0.0034 per fill
        ("10", "0.50", "0.175", "0.18"),
        ("4", "0.49", "0.0700", "0.07"),
    ],
)
def test_order_fee_is_whole_cents_per_order_for_non_direct_members(count, price, modelled,
                                                                     charged):
    """Issue 15 case 5: the fee the balance pays. Fails on f6e3055 (no ``order_fee``)."""
    c, p = Count(count), Price(price)
    got = order_fee(c, p, is_taker=True, schedule=QUAD)
    assert got == Money(charged)
    assert got.amount >= fee_per_contract(p) * c.value  # never below the modelled fee
    assert fee_per_contract(p) * c.value == pytest.approx(Decimal(modelled), abs=Decimal("1e-4"))


def test_direct_members_pay_the_pip_rounded_fee():
    got = order_fee(Count(1), Price("0.05"), is_taker=True, schedule=QUAD, direct_member=True)
    assert got == Money("0.0034")
    assert order_fee_per_contract(Count(4), Price("0.50"), is_taker=True,
                                  schedule=QUAD) == Decimal("0.0175")  # 0.07 -> 0.07 / 4
    assert order_fee_per_contract(Count(0), Price("0.50"), is_taker=True, schedule=QUAD) == 0


def test_combo_maker_fees_are_half_the_taker_coefficient():
    # 0.035 * 10 * 0.25 = 0.0875; taker unchanged (0.175)
    assert trade_fee(Count(10), Price("0.50"), is_taker=False, fee_type=COMBO) == Money("0.0875")
    assert trade_fee(Count(10), Price("0.50"), is_taker=True, fee_type=COMBO) == Money("0.1750")
    assert FeeType.parse("quadratic_with_combo_maker_fees") is COMBO


def test_event_override_takes_precedence_and_null_falls_back_to_the_series():
    s = FeeSchedule.resolve(FeeType.QUADRATIC, Decimal(1),
                            override_type=FeeType.QUADRATIC_WITH_MAKER_FEES,
                            override_multiplier=Decimal("0.5"))
    assert (s.fee_type, s.multiplier) == (FeeType.QUADRATIC_WITH_MAKER_FEES, Decimal("0.5"))
    # maker 10 @ 0.50: 0.0175 * 0.5 * 10 * 0.25 = 0.021875 -> 0.0219 -> $0.03
    assert order_fee(Count(10), Price("0.50"), is_taker=False, schedule=s) == Money("0.03")
    plain = FeeSchedule.resolve(FeeType.FLAT, Decimal(2))
    assert (plain.fee_type, plain.multiplier) == (FeeType.FLAT, Decimal(2))


def test_fee_waiver_charges_nothing_until_it_expires():
    s = FeeSchedule(waiver_until=T + timedelta(hours=1))
    assert order_fee(Count(10), Price("0.50"), is_taker=True, schedule=s, at=T) == Money(0)
    after = T + timedelta(hours=2)
    assert order_fee(Count(10), Price("0.50"), is_taker=True, schedule=s, at=after) \
        == Money("0.18")
    # unknown time: charged (the safe side)
    assert order_fee(Count(10), Price("0.50"), is_taker=True, schedule=s) == Money("0.18")


def test_accumulator_charges_whole_cents_per_order_over_its_fills():
    acc = OrderFeeAccumulator()
    steps = [acc.charge(trade_fee(Count(1), Price("0.50"))) for _ in range(4)]
    # 0.0175 -> 0.02; 0.035 -> 0.04; 0.0525 -> 0.06; 0.07 -> 0.07
    assert steps == [Money("0.02"), Money("0.02"), Money("0.02"), Money("0.01")]
    assert acc.charged == order_fee(Count(4), Price("0.50"), is_taker=True, schedule=QUAD)
    direct = OrderFeeAccumulator(direct_member=True)
    assert direct.charge(Money("0.0175")) == Money("0.0175")


@given(st.lists(counts.filter(bool), min_size=1, max_size=6), prices, st.booleans())
def test_accumulated_charge_is_the_order_fee_rounded_to_the_cent(parts, price, direct):
    acc = OrderFeeAccumulator(direct_member=direct)
    fees = [trade_fee(c, price) for c in parts]
    charged = [acc.charge(f) for f in fees]
    total = Money(sum((f.amount for f in fees), Decimal(0)))
    assert sum((c.amount for c in charged), Decimal(0)) == \
        (total if direct else charged_in_cents(total)).amount
    assert all(c >= Money(0) for c in charged)

"""Kalshi's trading fee as *charged*: the one fee function used by edge, sizing, every simulated
fill, backtests, ``train`` and status.

Per fill (``kalshi-api.md`` sections 8 and 14), with C contracts and P the traded price in
dollars (YES or NO: P(1-P) is symmetric) and m the fee multiplier:

    taker fee = round_up_to_$0.0001( 0.07          x m x C x P x (1 - P) )
    maker fee = round_up_to_$0.0001( maker rate    x m x C x P x (1 - P) )

Maker rates by the series' ``fee_type`` (an event's ``fee_type_override`` /
``fee_multiplier_override`` take precedence over the series' values):

- ``quadratic``: makers pay nothing;
- ``quadratic_with_maker_fees``: 0.25 x 0.07 = 0.0175;
- ``quadratic_with_combo_maker_fees``: 0.5 x 0.07 = 0.035;
- ``flat``: a table we have not seen; makers and takers are charged the quadratic *taker* fee,
  the conservative choice for decisions.

**What the balance pays.** A non-direct member's balance change is floored to $0.01 and a
per-order accumulator rebates whole cents, so in effect an order's fees cost its total rounded
**up to the cent** (a 1-lot at $0.50 costs $0.02, not $0.0175; at $0.05 it costs $0.01, not
$0.0033). Direct members (``KALSHIBOT_DIRECT_MEMBER=true``) pay the $0.0001-rounded fees.
``order_fee`` is that charge for an order; ``OrderFeeAccumulator`` splits it over an order's
fills exactly as the balance sees them. While a market's fee waiver runs
(``fee_waiver_expiration_time``) nothing is charged. Fees are never negative.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from kalshibot.domain.money import CENT, ONE, PIP, ZERO, Count, Money, Price, round_up
from kalshibot.errors import DataError

TAKER_RATE = Decimal("0.07")
MAKER_RATE = Decimal("0.0175")  # 0.25 x the taker coefficient
COMBO_MAKER_RATE = Decimal("0.035")  # 0.5 x the taker coefficient


class FeeType(StrEnum):
    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    QUADRATIC_WITH_COMBO_MAKER_FEES = "quadratic_with_combo_maker_fees"
    FLAT = "flat"

    @classmethod
    def parse(cls, text: str | None) -> FeeType:
        """From a ``fee_type``; unknown values are an error (never a silent default): the
        caller makes that one market untradeable, never the whole listing."""
        if text is None:
            raise DataError("series fee_type is missing")
        try:
            return cls(text)
        except ValueError:
            raise DataError(f"unknown fee_type {text!r}") from None


_MAKER_RATES = {
    FeeType.QUADRATIC: ZERO,
    FeeType.QUADRATIC_WITH_MAKER_FEES: MAKER_RATE,
    FeeType.QUADRATIC_WITH_COMBO_MAKER_FEES: COMBO_MAKER_RATE,
    FeeType.FLAT: TAKER_RATE,
}


def fee_rate(*, is_taker: bool, fee_type: FeeType = FeeType.QUADRATIC) -> Decimal:
    """The coefficient for one fill (before the multiplier)."""
    return TAKER_RATE if is_taker else _MAKER_RATES[fee_type]


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """What a market's trades pay: the effective fee type and multiplier (the event's override
    when it has one, else the series'), and when its fee waiver ends (None: no waiver)."""

    fee_type: FeeType = FeeType.QUADRATIC
    multiplier: Decimal = ONE
    waiver_until: datetime | None = None

    @classmethod
    def resolve(cls, fee_type: FeeType, multiplier: Decimal, *,
                override_type: FeeType | None = None, override_multiplier: Decimal | None = None,
                waiver_until: datetime | None = None) -> FeeSchedule:
        """Series values with the event's overrides layered on top (a null override falls back
        to the series' value)."""
        return cls(override_type or fee_type,
                   multiplier if override_multiplier is None else override_multiplier,
                   waiver_until)

    def waived(self, at: datetime | None) -> bool:
        """True while the waiver runs at ``at`` (unknown time: not waived, the safe side)."""
        return self.waiver_until is not None and at is not None and at < self.waiver_until


def trade_fee(
    count: Count,
    price: Price,
    *,
    is_taker: bool = True,
    fee_type: FeeType = FeeType.QUADRATIC,
    multiplier: Decimal = ONE,
) -> Money:
    """Fee of one fill of ``count`` contracts at ``price``, rounded up to $0.0001 (>= 0)."""
    if not isinstance(count, Count) or not isinstance(price, Price):
        raise TypeError("trade_fee takes a Count and a Price")
    if multiplier < 0:
        raise DataError(f"fee multiplier {multiplier} is negative")
    p = price.value
    raw = fee_rate(is_taker=is_taker, fee_type=fee_type) * multiplier * abs(count.value) \
        * p * (ONE - p)
    return Money(round_up(raw, PIP))


def fee_per_contract(
    price: Price,
    *,
    is_taker: bool = True,
    fee_type: FeeType = FeeType.QUADRATIC,
    multiplier: Decimal = ONE,
) -> Decimal:
    """Unrounded fee per contract in dollars: a **lower bound** of what any order pays per
    contract (screens and the marginal cost of a large order; decisions use ``order_fee``)."""
    p = price.value
    return fee_rate(is_taker=is_taker, fee_type=fee_type) * multiplier * p * (ONE - p)


def charged_in_cents(fee: Money) -> Money:
    """An order's total fee as a non-direct member's balance pays it (rounded up to $0.01)."""
    return fee.round_up(CENT)


def order_fee(
    count: Count,
    price: Price,
    *,
    is_taker: bool,
    schedule: FeeSchedule,
    direct_member: bool = False,
    at: datetime | None = None,
) -> Money:
    """What the balance is charged in fees for an order of ``count`` contracts filled at
    ``price`` (the one fee function; see the module docstring): the fill's fee rounded up to
    $0.0001, then, unless ``direct_member``, the order's total rounded up to the cent; $0 while
    the market's fee waiver runs at ``at``."""
    if schedule.waived(at):
        return Money(ZERO)
    return _order_fee(count, price, is_taker, schedule.fee_type, schedule.multiplier,
                      direct_member)


@functools.lru_cache(maxsize=1 << 16)
def _order_fee(count: Count, price: Price, is_taker: bool, fee_type: FeeType,
               multiplier: Decimal, direct_member: bool) -> Money:
    """``order_fee`` outside a waiver: a pure function of exact values (its result is rounded
    to a fixed step, so equal inputs written differently give the same digits); remembered,
    as sizing asks it for many counts at a few prices every cycle."""
    fee = trade_fee(count, price, is_taker=is_taker, fee_type=fee_type, multiplier=multiplier)
    return fee if direct_member else charged_in_cents(fee)


def order_fee_per_contract(
    count: Count,
    price: Price,
    *,
    is_taker: bool,
    schedule: FeeSchedule,
    direct_member: bool = False,
    at: datetime | None = None,
) -> Decimal:
    """``order_fee`` per contract in dollars (exact; 0 for an empty order)."""
    if not count:
        return ZERO
    return order_fee(count, price, is_taker=is_taker, schedule=schedule,
                     direct_member=direct_member, at=at).amount / count.value


class OrderFeeAccumulator:
    """Kalshi's per-order fee accumulator: ``charge(fill_fee)`` is what the balance pays for the
    next fill of one order, so that after every fill the order's charges add up to its fills'
    fees ($0.0001-rounded) rounded up to the cent (direct members: the fills' fees as they
    are)."""

    def __init__(self, *, direct_member: bool = False) -> None:
        self.direct_member = direct_member
        self.fees = Money(ZERO)  # sum of the fills' $0.0001-rounded fees
        self.charged = Money(ZERO)  # sum of what the balance paid

    def charge(self, fill_fee: Money) -> Money:
        self.fees = self.fees + fill_fee
        total = self.fees if self.direct_member else charged_in_cents(self.fees)
        step = total - self.charged
        self.charged = total
        return step

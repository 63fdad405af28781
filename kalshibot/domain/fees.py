"""Kalshi's trading fee: the one fee function used by edge, sizing, backtests and status.

Per fill (``kalshi-api.md`` section 8):

    taker fee = round_up_to_$0.0001( 0.07   x multiplier x C x P x (1 - P) )
    maker fee = round_up_to_$0.0001( 0.0175 x multiplier x C x P x (1 - P) )  (maker-fee series)

with C contracts and P the traded price in dollars (YES or NO: P(1-P) is symmetric). Makers pay
nothing in plain ``quadratic`` series. The balance is charged in whole cents per order (a per-order
accumulator), see ``charged_in_cents``. Fees are never negative; per contract they never exceed
``0.0175 x multiplier`` plus the $0.0001 rounding of one fill.

``flat`` series use a table we have not seen; they are charged as quadratic *taker* fees for
both makers and takers, which is the conservative choice for decisions.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from kalshibot.domain.money import CENT, ONE, PIP, Count, Money, Price, round_up
from kalshibot.errors import DataError

TAKER_RATE = Decimal("0.07")
MAKER_RATE = Decimal("0.0175")


class FeeType(StrEnum):
    QUADRATIC = "quadratic"
    QUADRATIC_WITH_MAKER_FEES = "quadratic_with_maker_fees"
    FLAT = "flat"

    @classmethod
    def parse(cls, text: str | None) -> FeeType:
        """From the series' ``fee_type``; unknown values are an error (never a silent default)."""
        if text is None:
            raise DataError("series fee_type is missing")
        try:
            return cls(text)
        except ValueError:
            raise DataError(f"unknown fee_type {text!r}") from None


def fee_rate(*, is_taker: bool, fee_type: FeeType = FeeType.QUADRATIC) -> Decimal:
    """The coefficient for one fill (before the series multiplier)."""
    if is_taker or fee_type is FeeType.FLAT:
        return TAKER_RATE
    if fee_type is FeeType.QUADRATIC_WITH_MAKER_FEES:
        return MAKER_RATE
    return Decimal(0)


def trade_fee(
    count: Count,
    price: Price,
    *,
    is_taker: bool = True,
    fee_type: FeeType = FeeType.QUADRATIC,
    multiplier: Decimal = ONE,
) -> Money:
    """Fee for one fill of ``count`` contracts at ``price``, rounded up to $0.0001. Always >= 0."""
    if not isinstance(count, Count) or not isinstance(price, Price):
        raise TypeError("trade_fee takes a Count and a Price")
    if multiplier < 0:
        raise DataError(f"fee multiplier {multiplier} is negative")
    p = price.value
    raw = (
        fee_rate(is_taker=is_taker, fee_type=fee_type)
        * multiplier
        * abs(count.value)
        * p
        * (ONE - p)
    )
    return Money(round_up(raw, PIP))


def fee_per_contract(
    price: Price,
    *,
    is_taker: bool = True,
    fee_type: FeeType = FeeType.QUADRATIC,
    multiplier: Decimal = ONE,
) -> Decimal:
    """Unrounded fee per contract in dollars (for edge and Kelly arithmetic)."""
    p = price.value
    return fee_rate(is_taker=is_taker, fee_type=fee_type) * multiplier * p * (ONE - p)


def charged_in_cents(fee: Money) -> Money:
    """What an order's total fee costs the balance in whole cents (rounded up to $0.01)."""
    return fee.round_up(CENT)

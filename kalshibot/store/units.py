"""Storage encodings: exact integer units, decimal text and epoch milliseconds.

- Prices in high-volume tables (book snapshots, trades, candles, price points) are INTEGER
  **price units** of $0.0001 (``0.4900`` -> ``4900``); Kalshi never quotes finer.
- Contract counts there are INTEGER **count units** of 0.01 contract (``210.00`` -> ``21000``).
- Other money (orders, fills, positions, equity, settlements) is TEXT decimal dollars, exact.
- Times are INTEGER epoch milliseconds UTC.

Conversions are exact; a value that does not fit its unit raises ``DataError``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kalshibot.clock import ensure_utc
from kalshibot.domain.money import Count, Money, Price, parse_decimal
from kalshibot.errors import DataError

PRICE_SCALE = 10_000  # units per dollar
COUNT_SCALE = 100  # units per contract
_PRICE_Q = Decimal(1) / PRICE_SCALE
_COUNT_Q = Decimal(1) / COUNT_SCALE


def dec_to_units(value: Decimal, scale: int, what: str = "value") -> int:
    """``value * scale`` as an int; raises ``DataError`` if that is not a whole number."""
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise DataError(f"{what} {value} is finer than 1/{scale}")
    return int(scaled)


def price_to_units(price: Price | Decimal | str) -> int:
    """Dollars per contract -> units of $0.0001."""
    v = price.value if isinstance(price, Price) else parse_decimal(price, "price")
    return dec_to_units(v, PRICE_SCALE, "price")


@functools.lru_cache(maxsize=1 << 14)
def units_to_price(units: int) -> Price:
    """Units of $0.0001 -> ``Price`` (immutable, so one object per value is shared)."""
    return Price(Decimal(units) / PRICE_SCALE)


def count_to_units(count: Count | Decimal | str) -> int:
    """Contracts -> units of 0.01 contract."""
    v = count.value if isinstance(count, Count) else parse_decimal(count, "count")
    return dec_to_units(v, COUNT_SCALE, "count")


@functools.lru_cache(maxsize=1 << 14)
def units_to_count(units: int) -> Count:
    """Units of 0.01 contract -> ``Count`` (immutable, so one object per value is shared)."""
    return Count(Decimal(units) / COUNT_SCALE)


def units_to_decimal(units: int, scale: int) -> Decimal:
    return Decimal(units) / scale


def money_text(value: Money | Decimal | None) -> str | None:
    """Money as exact decimal text (``None`` stays ``None``)."""
    if value is None:
        return None
    amount = value.amount if isinstance(value, Money) else value
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Money or Decimal, got {type(value).__name__}")
    return format(amount, "f")


def text_money(text: str | None) -> Money | None:
    return None if text is None else Money(Decimal(text))


def text_decimal(text: str | None) -> Decimal | None:
    return None if text is None or text == "" else Decimal(text)


def ts_ms(ts: datetime) -> int:
    """Aware datetime -> epoch milliseconds UTC (exact to the millisecond, truncated)."""
    # The difference of aware datetimes is taken in UTC: no conversion needed, only the check.
    delta = (ts if ts.tzinfo is UTC else ensure_utc(ts)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_ts(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=ms)


def opt_ts_ms(ts: datetime | None) -> int | None:
    return None if ts is None else ts_ms(ts)


def opt_ms_ts(ms: int | None) -> datetime | None:
    return None if ms is None else ms_ts(ms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

"""Exact money, prices and contract counts.

- ``Money``: an amount in US dollars (``Decimal``), signed; the sign convention is stated where a
  ``Money`` is produced (cash flows are + when received, - when paid).
- ``Price``: dollars per contract, exact, in [0, 1]. A YES price ``p`` and the NO price ``1 - p``
  are complements. Prices are not tied to a tick grid here (see ``ticks``).
- ``Count``: a number of contracts, exact, at most 2 decimal places (fractional trading goes down
  to 0.01). Signed where it is a position (+ YES, - NO).

None of them accepts a ``float`` (or ``bool``): mixing float into money raises ``TypeError``.
Exchange strings are parsed with ``Price.from_dollars`` / ``Count.from_fp`` / ``Money.from_dollars``
which reject floats, empty strings, exponents, NaN and stray whitespace with ``DataError``.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from kalshibot.errors import DataError, InvalidCountError, InvalidPriceError

#: One ten-thousandth of a dollar, Kalshi's finest money unit.
PIP = Decimal("0.0001")
CENT = Decimal("0.01")
#: Smallest contract increment.
CONTRACT_STEP = Decimal("0.01")
ONE = Decimal(1)
ZERO = Decimal(0)

_DECIMAL_RE = re.compile(r"^-?\d+(\.\d+)?$")


def parse_decimal(value: Any, what: str = "value") -> Decimal:
    """Parse an exact decimal from a wire string (or an int / Decimal).

    Rejects float, bool, None, empty strings, exponents, NaN/Infinity and whitespace.
    """
    if isinstance(value, bool) or value is None:
        raise DataError(f"{what}: expected a decimal string, got {value!r}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise DataError(f"{what}: not a finite decimal: {value!r}")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        raise DataError(f"{what}: floats are not accepted for money or counts, got {value!r}")
    if not isinstance(value, str):
        raise DataError(f"{what}: expected a decimal string, got {type(value).__name__}")
    if not _DECIMAL_RE.match(value):
        raise DataError(f"{what}: malformed decimal {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise DataError(f"{what}: malformed decimal {value!r}") from exc


def _exact(value: Any, what: str) -> Decimal:
    """Operand check for arithmetic: ints and Decimals only."""
    if isinstance(value, bool | float):
        raise TypeError(f"{what}: float/bool cannot be mixed into exact money ({value!r})")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    raise TypeError(f"{what}: unsupported operand {type(value).__name__}")


def _trusted(cls: type[Any], field: str, value: Decimal) -> Any:
    """An instance of ``cls`` holding ``value``, which the caller has already proven valid
    (a ``Decimal`` that the constructor's checks would accept): arithmetic on valid operands
    whose result is valid by construction skips the checks, on the hot path of every cycle."""
    obj = object.__new__(cls)
    object.__setattr__(obj, field, value)
    return obj


def round_up(value: Decimal, step: Decimal = PIP) -> Decimal:
    """Round ``value`` up (toward +infinity) to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def round_down(value: Decimal, step: Decimal = PIP) -> Decimal:
    """Round ``value`` down (toward -infinity) to a multiple of ``step``."""
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


class Money:
    """An exact amount of US dollars. Immutable; hashable; ordered against ``Money`` only."""

    __slots__ = ("amount",)
    amount: Decimal

    def __init__(self, amount: Decimal | int | str = 0) -> None:
        if isinstance(amount, str):
            amount = parse_decimal(amount, "money")
        object.__setattr__(self, "amount", _exact(amount, "Money"))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Money is immutable")

    # construction -----------------------------------------------------------------------
    @classmethod
    def from_dollars(cls, text: Any, what: str = "dollars") -> Money:
        """From a Kalshi ``*_dollars`` string such as ``"1250.3400"``."""
        return cls(parse_decimal(text, what))

    @classmethod
    def from_cents(cls, cents: int) -> Money:
        """From integer cents (Kalshi's balance fields)."""
        if isinstance(cents, bool) or not isinstance(cents, int):
            raise DataError(f"cents: expected an integer, got {cents!r}")
        return cls(Decimal(cents) / 100)

    @classmethod
    def zero(cls) -> Money:
        return _ZERO_MONEY

    # arithmetic -------------------------------------------------------------------------
    def __add__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return _trusted(Money, "amount", self.amount + other.amount)

    def __sub__(self, other: Money) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        return _trusted(Money, "amount", self.amount - other.amount)

    def __neg__(self) -> Money:
        return _trusted(Money, "amount", -self.amount)

    def __abs__(self) -> Money:
        return _trusted(Money, "amount", abs(self.amount))

    def __mul__(self, factor: Decimal | int) -> Money:
        return Money(self.amount * _exact(factor, "Money *"))

    __rmul__ = __mul__

    def __truediv__(self, divisor: Decimal | int) -> Money:
        return Money(self.amount / _exact(divisor, "Money /"))

    # comparison -------------------------------------------------------------------------
    def _cmp(self, other: Any) -> Decimal:
        if not isinstance(other, Money):
            raise TypeError(f"cannot compare Money with {type(other).__name__}")
        return other.amount

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and self.amount == other.amount

    def __hash__(self) -> int:
        return hash(("Money", self.amount))

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._cmp(other)

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._cmp(other)

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._cmp(other)

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._cmp(other)

    def __bool__(self) -> bool:
        return self.amount != 0

    # rounding and display ---------------------------------------------------------------
    def round_up(self, step: Decimal = PIP) -> Money:
        return Money(round_up(self.amount, step))

    def round_down(self, step: Decimal = PIP) -> Money:
        return Money(round_down(self.amount, step))

    def to_float(self) -> float:
        """For statistics and plots only; never feed the result back into money."""
        return float(self.amount)

    def to_str(self) -> str:
        """Storage/wire form: plain decimal string with at least 4 places (e.g. ``"1.2500"``)."""
        return _plain(self.amount, 4)

    def __str__(self) -> str:
        sign = "-" if self.amount < 0 else ""
        return f"{sign}${_plain(abs(self.amount), 2)}"

    def __repr__(self) -> str:
        return f"Money('{_plain(self.amount, 0)}')"


def _plain(value: Decimal, min_places: int) -> str:
    """Fixed-point string with at least ``min_places`` decimals, no exponent."""
    exp = value.as_tuple().exponent
    places = max(min_places, -exp if isinstance(exp, int) and exp < 0 else 0)
    return f"{value:.{places}f}"


_ZERO_MONEY = Money(0)


class Price:
    """Dollars per contract, exact, in [0, 1]. ``Price.complement()`` is the other side's price."""

    __slots__ = ("value",)
    value: Decimal

    def __init__(self, value: Decimal | int | str) -> None:
        if isinstance(value, str):
            value = parse_decimal(value, "price")
        v = _exact(value, "Price")
        if not (ZERO <= v <= ONE):
            raise InvalidPriceError(f"price {v} is outside [0, 1] dollars")
        object.__setattr__(self, "value", v)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Price is immutable")

    @classmethod
    def from_dollars(cls, text: Any, what: str = "price") -> Price:
        """From a Kalshi ``*_dollars`` string such as ``"0.4900"``."""
        try:
            return cls(parse_decimal(text, what))
        except InvalidPriceError as exc:
            raise InvalidPriceError(f"{what}: {exc.message}") from exc
        except DataError as exc:
            raise InvalidPriceError(exc.message) from exc

    def complement(self) -> Price:
        """YES <-> NO: ``1 - p``."""
        return _trusted(Price, "value", ONE - self.value)  # in [0, 1] as self is

    def __mul__(self, count: Count) -> Money:
        if not isinstance(count, Count):
            return NotImplemented
        return _trusted(Money, "amount", self.value * count.value)

    __rmul__ = __mul__

    def __sub__(self, other: Price) -> Decimal:
        """Difference in dollars (e.g. a spread). Returns ``Decimal``, not ``Price``."""
        if not isinstance(other, Price):
            return NotImplemented
        return self.value - other.value

    def shifted(self, delta: Decimal) -> Price:
        """This price moved by ``delta`` dollars (must stay in [0, 1])."""
        return Price(self.value + _exact(delta, "Price shift"))

    def _cmp(self, other: Any) -> Decimal:
        if not isinstance(other, Price):
            raise TypeError(f"cannot compare Price with {type(other).__name__}")
        return other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Price) and self.value == other.value

    def __hash__(self) -> int:
        return hash(("Price", self.value))

    def __lt__(self, other: Price) -> bool:
        return self.value < self._cmp(other)

    def __le__(self, other: Price) -> bool:
        return self.value <= self._cmp(other)

    def __gt__(self, other: Price) -> bool:
        return self.value > self._cmp(other)

    def __ge__(self, other: Price) -> bool:
        return self.value >= self._cmp(other)

    def to_float(self) -> float:
        """As an implied probability (float is fine for probabilities)."""
        return float(self.value)

    def to_str(self) -> str:
        """Wire/storage form with 4 places, e.g. ``"0.4900"``."""
        return _plain(self.value, 4)

    def __str__(self) -> str:
        return f"${_plain(self.value, 2)}"

    def __repr__(self) -> str:
        return f"Price('{_plain(self.value, 0)}')"


class Count:
    """A number of contracts, exact, at most 2 decimal places; signed where it is a position."""

    __slots__ = ("value",)
    value: Decimal

    def __init__(self, value: Decimal | int | str) -> None:
        if isinstance(value, str):
            value = parse_decimal(value, "count")
        v = _exact(value, "Count")
        if v != v.quantize(CONTRACT_STEP, rounding=ROUND_FLOOR):
            raise InvalidCountError(f"count {v} has more than 2 decimal places")
        object.__setattr__(self, "value", v)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Count is immutable")

    @classmethod
    def from_fp(cls, text: Any, what: str = "count") -> Count:
        """From a Kalshi ``*_fp`` string such as ``"210.00"``."""
        try:
            return cls(parse_decimal(text, what))
        except InvalidCountError as exc:
            raise InvalidCountError(f"{what}: {exc.message}") from exc
        except DataError as exc:
            raise InvalidCountError(exc.message) from exc

    @classmethod
    def zero(cls) -> Count:
        return _ZERO_COUNT

    def __add__(self, other: Count) -> Count:
        if not isinstance(other, Count):
            return NotImplemented
        return _trusted(Count, "value", self.value + other.value)  # 2 places stay 2

    def __sub__(self, other: Count) -> Count:
        if not isinstance(other, Count):
            return NotImplemented
        return _trusted(Count, "value", self.value - other.value)

    def __neg__(self) -> Count:
        return _trusted(Count, "value", -self.value)

    def __abs__(self) -> Count:
        return _trusted(Count, "value", abs(self.value))

    def __mul__(self, factor: int) -> Count:
        if isinstance(factor, bool) or not isinstance(factor, int):
            return NotImplemented
        return Count(self.value * factor)

    def _cmp(self, other: Any) -> Decimal:
        if not isinstance(other, Count):
            raise TypeError(f"cannot compare Count with {type(other).__name__}")
        return other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Count) and self.value == other.value

    def __hash__(self) -> int:
        return hash(("Count", self.value))

    def __lt__(self, other: Count) -> bool:
        return self.value < self._cmp(other)

    def __le__(self, other: Count) -> bool:
        return self.value <= self._cmp(other)

    def __gt__(self, other: Count) -> bool:
        return self.value > self._cmp(other)

    def __ge__(self, other: Count) -> bool:
        return self.value >= self._cmp(other)

    def __bool__(self) -> bool:
        return self.value != 0

    def is_whole(self) -> bool:
        return self.value == self.value.to_integral_value()

    def floor_whole(self) -> Count:
        """Round toward zero to whole contracts."""
        return Count(self.value.to_integral_value(rounding=ROUND_DOWN))

    def to_float(self) -> float:
        return float(self.value)

    def to_str(self) -> str:
        """Wire/storage form with 2 places, e.g. ``"10.00"``."""
        return _plain(self.value, 2)

    def __str__(self) -> str:
        return _plain(self.value, 0) if self.is_whole() else _plain(self.value, 2)

    def __repr__(self) -> str:
        return f"Count('{_plain(self.value, 0)}')"


_ZERO_COUNT = Count(0)


def min_count(a: Count, b: Count) -> Count:
    return a if a <= b else b

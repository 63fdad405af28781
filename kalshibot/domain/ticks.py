"""Tick grids: which limit prices a market accepts, and rounding to them safely.

A grid is a set of bands ``[start, end]`` with a ``step``; a valid order price is on some band's
grid and strictly between $0 and $1. Built from Kalshi's ``price_level_structure`` or from an
explicit ``price_ranges`` list (which wins when given: Kalshi's own guidance is to read the
grid from ``price_ranges``, not the name). An unknown name without ``price_ranges`` is a
``DataError`` (the caller makes that one market untradeable). A market's grid may change while
it trades (``market_lifecycle_v2`` ``price_level_structure_updated``; resting orders are carried
over to the new grid).

Rounding for an order is done in the *safe* direction: a buy is rounded **down** (never pay more
than asked), a sell **up** (never receive less). When no safe grid price exists:
``InvalidPriceError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from kalshibot.domain.money import ONE, ZERO, Price, parse_decimal, round_down, round_up
from kalshibot.errors import DataError, InvalidPriceError


class Rounding(StrEnum):
    DOWN = "down"
    UP = "up"


@dataclass(frozen=True, slots=True)
class PriceBand:
    """Prices ``start + k * step`` for ``k >= 0`` up to ``end`` (inclusive), in dollars."""

    start: Decimal
    end: Decimal
    step: Decimal

    def __post_init__(self) -> None:
        if not (ZERO <= self.start < self.end <= ONE) or self.step <= 0:
            raise DataError(f"invalid price band {self.start}..{self.end} step {self.step}")

    def contains(self, value: Decimal) -> bool:
        return self.start <= value <= self.end and (value - self.start) % self.step == 0

    def floor(self, value: Decimal) -> Decimal | None:
        """Largest grid point of this band that is <= value, or None."""
        if value < self.start:
            return None
        v = min(value, self.end)
        return self.start + round_down(v - self.start, self.step)

    def ceil(self, value: Decimal) -> Decimal | None:
        """Smallest grid point of this band that is >= value, or None."""
        if value > self.end:
            return None
        v = max(value, self.start)
        c = self.start + round_up(v - self.start, self.step)
        return c if c <= self.end else None


_CENT = Decimal("0.01")
_DECI = Decimal("0.001")
#: Tick sizes of the ``center_{center}_edge_{edge}_cent`` names (Kalshi changelog, 2026-07-23 and
#: 2026-08-27): whole = 1 cent, half = 0.5, quint = 0.2, deci = 0.1, centi = 0.01 cent.
_TICK_NAMES = {"whole": _CENT, "half": Decimal("0.005"), "quint": Decimal("0.002"),
               "deci": _DECI, "centi": Decimal("0.0001")}


def _center_edge(center: str, edge: str, inner: str = "0.10") -> tuple[PriceBand, ...]:
    """Edge ticks below ``inner`` and above ``1 - inner``, center ticks between."""
    lo, hi = Decimal(inner), ONE - Decimal(inner)
    c, e = _TICK_NAMES[center], _TICK_NAMES[edge]
    return (PriceBand(ZERO, lo, e), PriceBand(lo, hi, c), PriceBand(hi, ONE, e))


#: Every ``price_level_structure`` of spec 3.34 whose grid is documented. Others (e.g.
#: ``banded_centi_cent``, or a name added later) need ``price_ranges``; without them the market
#: is not traded. The 0.10 / 0.90 edges of the July names and 0.01 / 0.99 of
#: ``center_deci_edge_centi_cent`` (combo markets) are from Kalshi's changelog.
_STRUCTURES: dict[str, tuple[PriceBand, ...]] = {
    "linear_cent": (PriceBand(ZERO, ONE, _CENT),),
    "deci_cent": (PriceBand(ZERO, ONE, _DECI),),
    "tapered_deci_cent": _center_edge("whole", "deci"),
    "center_whole_edge_half_cent": _center_edge("whole", "half"),
    "center_whole_edge_quint_cent": _center_edge("whole", "quint"),
    "center_half_edge_half_cent": _center_edge("half", "half"),
    "center_half_edge_quint_cent": _center_edge("half", "quint"),
    "center_half_edge_deci_cent": _center_edge("half", "deci"),
    "center_quint_edge_quint_cent": _center_edge("quint", "quint"),
    "center_quint_edge_deci_cent": _center_edge("quint", "deci"),
    "center_deci_edge_centi_cent": _center_edge("deci", "centi", "0.01"),
    "center_centi_edge_centi_cent": (PriceBand(ZERO, ONE, _TICK_NAMES["centi"]),),
}
KNOWN_STRUCTURES = frozenset(_STRUCTURES)


@dataclass(frozen=True, slots=True)
class TickGrid:
    """The set of valid limit prices of one market."""

    bands: tuple[PriceBand, ...]
    name: str = "custom"

    @classmethod
    def from_structure(
        cls, structure: str | None, price_ranges: Sequence[dict[str, object]] | None = None
    ) -> TickGrid:
        """From ``price_level_structure`` and optional ``price_ranges[{start,end,step}]``."""
        if price_ranges:
            bands = tuple(
                PriceBand(
                    parse_decimal(r["start"], "price_ranges.start"),
                    parse_decimal(r["end"], "price_ranges.end"),
                    parse_decimal(r["step"], "price_ranges.step"),
                )
                for r in price_ranges
            )
            return cls(bands, structure or "custom")
        if not structure:
            raise DataError("market has neither price_level_structure nor price_ranges")
        try:
            return cls(_STRUCTURES[structure], structure)
        except KeyError:
            raise DataError(f"unknown price_level_structure {structure!r}") from None

    @property
    def is_named(self) -> bool:
        """The grid is exactly its structure name's (so the name alone rebuilds it)."""
        return _STRUCTURES.get(self.name) == self.bands

    @classmethod
    def linear_cent(cls) -> TickGrid:
        return cls(_STRUCTURES["linear_cent"], "linear_cent")

    @property
    def min_price(self) -> Price:
        """Lowest valid order price."""
        found = self.round(Price(ZERO), Rounding.UP)
        if found is None:  # pragma: no cover - every band has a point in (0, 1)
            raise DataError(f"{self.name} grid has no valid price")
        return found

    @property
    def max_price(self) -> Price:
        """Highest valid order price."""
        found = self.round(Price(ONE), Rounding.DOWN)
        if found is None:  # pragma: no cover
            raise DataError(f"{self.name} grid has no valid price")
        return found

    def is_valid(self, price: Price) -> bool:
        v = price.value
        return ZERO < v < ONE and any(b.contains(v) for b in self.bands)

    def round(self, price: Price, direction: Rounding) -> Price | None:
        """Nearest valid price in ``direction`` (strictly inside (0, 1)), or None if none."""
        v = price.value
        cands: list[Decimal] = []
        for b in self.bands:
            if direction is Rounding.DOWN:
                f = b.floor(v)
                if f is not None and f >= ONE:
                    f = f - b.step
                if f is not None and ZERO < f < ONE and f >= b.start:
                    cands.append(f)
            else:
                c = b.ceil(v)
                if c is not None and c <= ZERO:
                    c = c + b.step
                if c is not None and ZERO < c < ONE and c <= b.end:
                    cands.append(c)
        if not cands:
            return None
        return Price(max(cands) if direction is Rounding.DOWN else min(cands))

    def round_for_order(self, price: Price, *, is_buy: bool) -> Price:
        """Round a limit price to the grid: buys down, sells up. Raises if no safe price exists."""
        direction = Rounding.DOWN if is_buy else Rounding.UP
        rounded = self.round(price, direction)
        if rounded is None or not self.is_valid(rounded):
            verb = "buy" if is_buy else "sell"
            raise InvalidPriceError(
                f"no valid {self.name} price to {verb} at {price.to_str()} or "
                f"{'below' if is_buy else 'above'}"
            )
        return rounded

    def validate(self, price: Price) -> Price:
        if not self.is_valid(price):
            raise InvalidPriceError(f"price {price.to_str()} is not on the {self.name} tick grid")
        return price

    def steps(self) -> Iterable[Price]:
        """Every valid price, ascending (for tests and tooling)."""
        seen: set[Decimal] = set()
        for b in self.bands:
            v = b.start
            while v <= b.end:
                if ZERO < v < ONE:
                    seen.add(v)
                v += b.step
        return (Price(v) for v in sorted(seen))

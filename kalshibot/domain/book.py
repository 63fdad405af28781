"""Order books from Kalshi's bids-only representation.

Kalshi publishes bids only, for YES and for NO. An offer to sell YES at ``p`` is the same thing as
a bid for NO at ``1 - p``, so:

    best YES ask = 1 - best NO bid      best NO ask = 1 - best YES bid      (same sizes)

Either side may be empty. Levels here are stored best first (bids descending by price).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Side
from kalshibot.errors import DataError


@dataclass(frozen=True, slots=True)
class Level:
    price: Price
    size: Count


@dataclass(frozen=True, slots=True)
class Fillable:
    """Result of walking the book: how much could fill at or better than a limit, and its cost."""

    count: Count
    cost: Money  # dollars paid for ``count`` contracts, before fees
    levels: tuple[Level, ...]

    @property
    def average_price(self) -> Price | None:
        if not self.count:
            return None
        return Price(self.cost.amount / self.count.value)


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Bids on each side, best (highest) first. ``ts`` is when the book was observed."""

    ticker: str
    yes_bids: tuple[Level, ...]
    no_bids: tuple[Level, ...]
    ts: datetime | None = None

    @classmethod
    def from_levels(
        cls,
        ticker: str,
        yes: Iterable[tuple[Price, Count]],
        no: Iterable[tuple[Price, Count]],
        ts: datetime | None = None,
    ) -> OrderBook:
        """Build from (price, size) pairs in any order; zero-size levels are dropped.

        Duplicate prices on one side are an error (Kalshi never sends them).
        """
        return cls(ticker, _side(yes, "yes"), _side(no, "no"), ts)

    @classmethod
    def empty(cls, ticker: str, ts: datetime | None = None) -> OrderBook:
        return cls(ticker, (), (), ts)

    # top of book ------------------------------------------------------------------------
    def bids(self, side: Side) -> tuple[Level, ...]:
        return self.yes_bids if side is Side.YES else self.no_bids

    def asks(self, side: Side) -> tuple[Level, ...]:
        """Offers to sell ``side``, best (lowest) first: the other side's bids, complemented."""
        return tuple(Level(lv.price.complement(), lv.size) for lv in self.bids(side.other()))

    def best_bid(self, side: Side = Side.YES) -> Level | None:
        b = self.bids(side)
        return b[0] if b else None

    def best_ask(self, side: Side = Side.YES) -> Level | None:
        b = self.bids(side.other())
        return Level(b[0].price.complement(), b[0].size) if b else None

    def mid(self, side: Side = Side.YES) -> Price | None:
        """Midpoint of best bid and best ask of ``side``; None unless both exist."""
        bid, ask = self.best_bid(side), self.best_ask(side)
        if bid is None or ask is None:
            return None
        return Price((bid.price.value + ask.price.value) / 2)

    def spread(self) -> Decimal | None:
        """YES ask minus YES bid in dollars (the same for NO); None if a side is empty."""
        bid, ask = self.best_bid(Side.YES), self.best_ask(Side.YES)
        if bid is None or ask is None:
            return None
        return ask.price - bid.price

    def is_crossed(self) -> bool:
        s = self.spread()
        return s is not None and s <= 0

    # depth ------------------------------------------------------------------------------
    def depth_to_buy(self, side: Side, limit: Price) -> Count:
        """Contracts of ``side`` that can be bought at prices <= ``limit``."""
        total = Decimal(0)
        for lv in self.asks(side):
            if lv.price > limit:
                break
            total += lv.size.value
        return Count(total)

    def depth_to_sell(self, side: Side, limit: Price) -> Count:
        """Contracts of ``side`` that can be sold at prices >= ``limit``."""
        total = Decimal(0)
        for lv in self.bids(side):
            if lv.price < limit:
                break
            total += lv.size.value
        return Count(total)

    def walk_buy(self, side: Side, count: Count, limit: Price) -> Fillable:
        """Walk the asks of ``side`` up to ``limit`` for at most ``count`` contracts."""
        return _walk(self.asks(side), count, lambda p: p <= limit)

    def walk_sell(self, side: Side, count: Count, limit: Price) -> Fillable:
        """Walk the bids of ``side`` down to ``limit`` for at most ``count`` contracts."""
        return _walk(self.bids(side), count, lambda p: p >= limit)


def _side(levels: Iterable[tuple[Price, Count]], name: str) -> tuple[Level, ...]:
    out: dict[Decimal, Level] = {}
    for price, size in levels:
        if size.value < 0:
            raise DataError(f"{name} book level {price.to_str()} has negative size {size}")
        if not size:
            continue
        if price.value in out:
            raise DataError(f"{name} book has price {price.to_str()} twice")
        out[price.value] = Level(price, size)
    return tuple(sorted(out.values(), key=lambda lv: lv.price.value, reverse=True))


def _walk(levels: Sequence[Level], count: Count, accept: Callable[[Price], bool]) -> Fillable:
    want = count.value
    got = Decimal(0)
    cost = Decimal(0)
    used: list[Level] = []
    for lv in levels:
        if got >= want or not accept(lv.price):
            break
        take = min(lv.size.value, want - got)
        got += take
        cost += take * lv.price.value
        used.append(Level(lv.price, Count(take)))
    return Fillable(Count(got), Money(cost), tuple(used))

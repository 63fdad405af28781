"""Order books from Kalshi's bids-only representation.

Kalshi publishes bids only, for YES and for NO. An offer to sell YES at ``p`` is the same thing as
a bid for NO at ``1 - p``, so:

    best YES ask = 1 - best NO bid      best NO ask = 1 - best YES bid      (same sizes)

Either side may be empty. Levels here are stored best first (bids descending by price).

Our own resting orders: Kalshi's public book includes them. Every venue presents books that way
(the simulated ones add the account's resting orders, ``with_own``), and the engine removes them in
one place (``without_own``) before any strategy, mark or risk check sees a book, so the bot never
prices against, or marks its positions at, its own orders. A resting buy of side S at p is a bid
for S at p; a resting sell of S at p is an offer of S, i.e. a bid for the other side at 1 - p.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Side
from kalshibot.errors import DataError

#: Contracts of our own resting orders per bid level: (bid side, price in dollars) -> contracts.
OwnLevels = Mapping[tuple[Side, Decimal], Decimal]


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

    # our own orders ---------------------------------------------------------------------
    def with_own(self, own: OwnLevels) -> OrderBook:
        """This book as the exchange would show it with our resting orders ``own`` in it."""
        return self._shifted(own, 1) if own else self

    def without_own(self, own: OwnLevels) -> OrderBook:
        """This book without our resting orders ``own`` (a level never goes below 0)."""
        return self._shifted(own, -1) if own else self

    def _shifted(self, own: OwnLevels, sign: int) -> OrderBook:
        def side(levels: tuple[Level, ...], s: Side) -> list[tuple[Price, Count]]:
            sizes = {lv.price.value: (lv.price, lv.size.value) for lv in levels}
            for (bs, px), n in own.items():
                if bs is s:
                    p, have = sizes.get(px, (Price(px), Decimal(0)))
                    sizes[px] = (p, max(have + sign * n, Decimal(0)))
            return [(p, Count(n)) for p, n in sizes.values()]

        return OrderBook.from_levels(self.ticker, side(self.yes_bids, Side.YES),
                                     side(self.no_bids, Side.NO), self.ts)


def bid_level(side: Side, action: Action, price: Price) -> tuple[Side, Decimal]:
    """The bid level a resting order occupies in the bids-only book (module docstring)."""
    if action is Action.BUY:
        return side, price.value
    return side.other(), price.complement().value


def own_levels(orders: Iterable[tuple[str, Side, Action, Price, Count]]
               ) -> dict[str, dict[tuple[Side, Decimal], Decimal]]:
    """Per ticker, the contracts of resting orders ``(ticker, side, action, price, remaining)``
    at their bid levels (orders with nothing remaining are left out)."""
    out: dict[str, dict[tuple[Side, Decimal], Decimal]] = {}
    for ticker, side, action, price, remaining in orders:
        if remaining.value <= 0:
            continue
        lv = out.setdefault(ticker, {})
        key = bid_level(side, action, price)
        lv[key] = lv.get(key, Decimal(0)) + remaining.value
    return out


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

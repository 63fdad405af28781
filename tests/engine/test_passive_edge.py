"""Issue 15 case 6: zero edge never trades through the passive leg.

The passive edge of a bid one tick inside the spread is measured against the fair value less an
adverse-selection allowance (default: the half-spread). With p equal to the mid, no rule proposes
anything, for any book, fee type, grid, held position or minimum edge >= 0.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.domain.book import OrderBook
from kalshibot.domain.fees import FeeType
from kalshibot.domain.market import Market
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.portfolio import Position
from kalshibot.domain.ticks import TickGrid
from kalshibot.strategy.base import FairValue, MarketView, StrategyParams
from kalshibot.strategy.rules import NoTrade, propose

from .helpers import T0, book, market

D = Decimal
TK = "KXBTC15M-26NOV191215-15"


def test_p_at_the_mid_of_a_wide_spread_proposes_nothing() -> None:
    """A real KXBTC15M-like quote, YES 0.40 / 0.52 (12 cents) and p = 0.46, the mid. On
    f6e3055 the rule bid 0.41 with a "maker edge" of 0.05: half the spread counted as edge."""
    v = MarketView(market(TK), book(TK, yes=[("0.40", 50)], no=[("0.48", 50)]), T0,
                   Position(TK))
    res = propose(v, FairValue(0.46), StrategyParams())
    assert isinstance(res, NoTrade), res


def test_a_crossed_book_is_not_priced() -> None:
    v = MarketView(market(TK), book(TK, yes=[("0.55", 50)], no=[("0.50", 50)]), T0,
                   Position(TK))  # YES bid 0.55 > YES ask 0.50
    res = propose(v, FairValue(0.525), StrategyParams(min_edge=D(0)))
    assert isinstance(res, NoTrade) and "crossed" in res.reason


GRIDS = [TickGrid.linear_cent(), TickGrid.from_structure("deci_cent"),
         TickGrid.from_structure("tapered_deci_cent")]


@st.composite
def markets_and_books(draw: st.DrawFn) -> tuple[Market, OrderBook]:
    """A two-sided, uncrossed book on a random grid (prices on the grid, 1-3 levels a side)."""
    grid = draw(st.sampled_from(GRIDS))
    prices = [p for p in grid.steps() if D("0") < p.value < D("1")]
    i = draw(st.integers(0, len(prices) - 2))
    j = draw(st.integers(i + 1, len(prices) - 1))
    bid, ask = prices[i], prices[j]
    depth = draw(st.integers(1, 3))
    yes = [(prices[k], Count(draw(st.integers(1, 500)))) for k in range(i, max(i - depth, -1), -1)]
    no = [(prices[k].complement(), Count(draw(st.integers(1, 500))))
          for k in range(j, min(j + depth, len(prices)))]
    assert bid < ask
    fee_type = draw(st.sampled_from([FeeType.QUADRATIC, FeeType.QUADRATIC_WITH_MAKER_FEES,
                                     FeeType.FLAT]))
    m = market(TK, fee_type=fee_type)
    from dataclasses import replace

    m = replace(m, tick_grid=grid, fee_multiplier=draw(st.sampled_from([D(0), D("0.5"), D(1)])))
    return m, OrderBook.from_levels(TK, yes, no, T0)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(markets_and_books(), st.sampled_from([None, 1, -1]), st.integers(0, 500),
       st.sampled_from([D(0), D("0.001"), D("0.02"), D("0.05")]),
       st.booleans(), st.booleans())
def test_p_equal_to_the_mid_never_proposes(mb: tuple[Market, OrderBook], held: int | None,
                                           n: int, min_edge: Decimal, taker: bool,
                                           passive: bool) -> None:
    m, b = mb
    mid = b.mid()
    assert mid is not None
    qty = Count(0) if held is None or n == 0 else Count(held * n)
    pos = Position(TK, qty, Money(abs(qty.value) * D("0.5")))
    params = StrategyParams(min_edge=min_edge, allow_taker=taker, allow_passive=passive)
    res = propose(MarketView(m, b, T0, pos), FairValue(float(mid.value)), params)
    assert isinstance(res, NoTrade), (b, mid, res)


def test_mids_are_exact_probabilities() -> None:
    """The property above relies on a mid of grid prices surviving ``to_prob`` exactly."""
    for g in GRIDS:
        ps = [p for p in g.steps() if D(0) < p.value < D(1)]
        for a, c in zip(ps, ps[5:], strict=False):
            mid = Price((a.value + c.value) / 2)
            assert D(f"{float(mid.value):.6f}") == mid.value

"""A portfolio derived fill by fill reports exactly what a scan of all its positions gives.

``Portfolio`` keeps its open positions and its fee and P&L sums up to date from one fill or
settlement to the next (a long replay holds thousands of closed positions; scanning them all
after every fill made a run quadratic). These check, over random sequences of fills and
settlements on a few markets (re-entries included), that the open positions (same order),
the fees paid and the realized P&L (same value and the same decimal digits) equal those of
a portfolio built from the same positions without history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from kalshibot.domain.market import Result
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side
from kalshibot.domain.portfolio import Portfolio

T = datetime(2026, 1, 1, tzinfo=UTC)
TICKERS = ["A", "B", "C", "D", "E"]

events = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.sampled_from(TICKERS), st.sampled_from(list(Side)),
                  st.sampled_from(list(Action)), st.integers(1, 99), st.integers(1, 20),
                  st.sampled_from(["0", "0.01", "0.0175", "0.5", "0.07"])),
        st.tuples(st.just("settle"), st.sampled_from(TICKERS),
                  st.sampled_from([Result.YES, Result.NO]))),
    max_size=60)


def _fresh(pf: Portfolio) -> Portfolio:
    return Portfolio(pf.cash, dict(pf.positions))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(events)
def test_incremental_totals_equal_a_full_scan(evs: list[tuple]) -> None:
    pf = Portfolio(Money(1000), {})
    pf.open_positions()  # totals computed from here on: every later portfolio derives its own
    for i, ev in enumerate(evs):
        if ev[0] == "fill":
            _, t, side, action, cents, n, fee = ev
            if action is Action.SELL:
                held = pf.positions.get(t)
                if held is None or held.side is not side or not held.qty:
                    continue
                n = min(n, int(held.contracts.value))
            pf = pf.with_fill(Fill(f"f{i}", f"o{i}", t, side, action,
                                   Price(Decimal(cents) / 100), Count(n), Money(Decimal(fee)),
                                   True, T))
        else:
            pf = pf.with_settlement(ev[1], ev[2])
        ref = _fresh(pf)
        assert pf.open_positions() == ref.open_positions()
        assert [p.ticker for p in pf.open_positions()] == [p.ticker for p in ref.open_positions()]
        for got, want in ((pf.fees_paid(), ref.fees_paid()),
                          (pf.realized_pnl(), ref.realized_pnl())):
            assert got == want
            assert got.amount.as_tuple() == want.amount.as_tuple()  # same digits, not only value

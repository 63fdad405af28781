"""Hand-computed P&L of three trades (YES win, NO win, loss), fees included, exact Decimal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kalshibot.backtest.stats import compute, market_pnl, max_drawdown, sharpe
from kalshibot.domain.fees import trade_fee
from kalshibot.domain.market import Result
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def fill(i: int, ticker: str, side: Side, price: str, count: int) -> Fill:
    p, c = Price(Decimal(price)), Count(count)
    return Fill(f"f{i}", f"o{i}", ticker, side, Action.BUY, p, c, trade_fee(c, p), True,
                T0 + timedelta(minutes=i), f"c{i}")


FILLS = [fill(1, "A", Side.YES, "0.40", 10), fill(2, "B", Side.NO, "0.30", 20),
         fill(3, "C", Side.YES, "0.55", 5)]
RESULTS = {"A": Result.YES, "B": Result.NO, "C": Result.NO}


def test_fees_by_hand() -> None:
    # 0.07 x C x P x (1 - P), rounded up to $0.0001
    assert [f.fee.amount for f in FILLS] == [Decimal("0.1680"), Decimal("0.2940"),
                                             Decimal("0.0867")]


def test_three_trades_by_hand() -> None:
    per = market_pnl(FILLS, RESULTS)
    assert per["A"].pnl == Decimal("5.832")  # 10 x $1 - 10 x 0.40 - 0.168  (YES wins)
    assert per["B"].pnl == Decimal("13.706")  # 20 x $1 - 20 x 0.30 - 0.294 (NO wins)
    assert per["C"].pnl == Decimal("-2.8367")  # 0 - 5 x 0.55 - 0.0867      (loss)
    total = sum(m.pnl for m in per.values())
    assert total == Decimal("16.7013")
    start = Decimal("100")
    pts = [(T0, start, start), (T0 + timedelta(hours=1), start + total, start + total)]
    st = compute(starting_cash=start, final_equity=start + total, fills=FILLS, results=RESULTS,
                 marks={}, equity_points=pts,
                 entry_edges={"f1": Decimal("0.05"), "f2": Decimal("0.05"),
                              "f3": Decimal("0.05")},
                 series_of={}, forecasts={"A": (0.6, 0.4), "B": (0.2, 0.3), "C": (0.6, 0.55)})
    assert st.net_pnl == total and st.fees == Decimal("0.5487")
    assert st.win_rate == 2 / 3
    assert st.brier_model == ((0.6 - 1) ** 2 + 0.2**2 + 0.6**2) / 3
    assert st.brier_market == ((0.4 - 1) ** 2 + 0.3**2 + 0.55**2) / 3
    # realised $/contract: A 0.6 - 0.0168, B 0.7 - 0.0147, C -0.55 - 0.01734; contract-weighted
    exp = (Decimal("0.5832") * 10 + Decimal("0.6853") * 20 + Decimal("-0.56734") * 5) / 35
    assert st.avg_edge_realised == float(exp)


def test_unsettled_marked_at_mid_and_drawdown() -> None:
    per = market_pnl([FILLS[0]], {}, {"A": Price(Decimal("0.50"))})
    assert not per["A"].settled and per["A"].pnl == Decimal("0.832")  # 5 - 4 - 0.168
    assert max_drawdown([Decimal(10), Decimal(12), Decimal(9), Decimal(11)]) == (Decimal(3), 0.25)
    assert sharpe([0.01]) is None
    assert Money(Decimal("1")).amount == 1


def test_max_drawdown_pct_is_the_worst_fractional_fall() -> None:
    """Issue 15 case 9: 1000 -> 500 -> 5000 -> 4400 is a 50% drawdown (the first fall), not
    the 12% of the largest *dollar* fall. Fails on f6e3055 (reported 0.12)."""
    dd, pct = max_drawdown([Decimal(1000), Decimal(500), Decimal(5000), Decimal(4400)])
    assert dd == Decimal(600)
    assert pct == 0.5

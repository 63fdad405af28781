"""Positions and P&L from fills and settlements, exactly, including fees."""

from datetime import UTC, datetime

from kalshibot.domain.market import Result
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side
from kalshibot.domain.portfolio import Portfolio, Position, apply_fill

T0 = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)


def fill(
    side: Side, action: Action, price: str, count: str, fee: str = "0", fid: str = "f"
) -> Fill:
    return Fill(fid, "o", "M", side, action, Price(price), Count(count), Money(fee), True, T0)


def test_buy_yes_then_win():
    pf = Portfolio(Money(100), {}).with_fill(fill(Side.YES, Action.BUY, "0.40", "10", "0.17"))
    assert pf.cash == Money("95.83")
    pos = pf.positions["M"]
    assert pos.qty == Count(10) and pos.cost == Money(4) and pos.side is Side.YES
    pf = pf.with_settlement("M", Result.YES)
    assert pf.cash == Money("105.83")
    assert pf.positions["M"].realized_pnl == Money(6)
    assert pf.fees_paid() == Money("0.17")


def test_buy_no_then_win_and_loss():
    pf = Portfolio(Money(100), {}).with_fill(fill(Side.NO, Action.BUY, "0.30", "10", "0.15"))
    assert pf.positions["M"].qty == Count(-10)
    assert pf.cash == Money("96.85")
    won = pf.with_settlement("M", Result.NO)
    assert won.cash == Money("106.85")
    lost = pf.with_settlement("M", Result.YES)
    assert lost.cash == Money("96.85")
    assert lost.positions["M"].realized_pnl == Money(-3)


def test_opposite_side_buy_closes_first():
    pos = Position("M")
    pos = apply_fill(pos, fill(Side.YES, Action.BUY, "0.40", "10")).position
    eff = apply_fill(pos, fill(Side.NO, Action.BUY, "0.55", "4"))  # == sell 4 YES at 0.45
    assert eff.position.qty == Count(6)
    assert eff.cash_delta == Money("1.80")
    assert eff.position.realized_pnl == Money("0.20")
    assert eff.position.cost == Money("2.40")
    # flip: buy 10 NO at 0.50 closes 6 YES (at 0.50) and opens 4 NO
    eff2 = apply_fill(eff.position, fill(Side.NO, Action.BUY, "0.50", "10"))
    assert eff2.position.qty == Count(-4)
    assert eff2.position.cost == Money("2.00")
    assert eff2.position.realized_pnl == Money("0.20") + Money("0.60")
    assert eff2.cash_delta == Money("3.00") - Money("2.00")


def test_partial_sells_and_equity_marks():
    pf = Portfolio(Money(50), {})
    pf = pf.with_fills(
        [
            fill(Side.YES, Action.BUY, "0.30", "3", "0.02", "a"),
            fill(Side.YES, Action.BUY, "0.36", "3", "0.02", "b"),
            fill(Side.YES, Action.SELL, "0.40", "2", "0.02", "c"),
        ]
    )
    pos = pf.positions["M"]
    assert pos.qty == Count(4)
    assert pos.average_cost == Price("0.33")
    assert pos.realized_pnl == Money("0.14")
    assert pf.cash == Money(50) - Money("0.90") - Money("1.08") + Money("0.80") - Money("0.06")
    assert pf.equity({"M": Price("0.50")}) == pf.cash + Money(2)
    # the accounting identity: equity - start == realized + unrealized - fees
    start = Money(50)
    eq = pf.equity({"M": Price("0.50")})
    assert eq - start == pos.realized_pnl + pos.unrealized_pnl(Price("0.50")) - pos.fees


def test_scalar_settlement():
    pf = Portfolio(Money(0), {}).with_fill(fill(Side.NO, Action.BUY, "0.50", "10"))
    out = pf.with_settlement("M", Result.SCALAR, Price("0.25"))
    assert out.cash == Money(-5) + Money("7.5")

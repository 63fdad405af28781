"""SimAccount: partial fills by trades and book, cancels; positions and P&L stay exact."""

from __future__ import annotations

from decimal import Decimal

from kalshibot.domain.fees import FeeSchedule, FeeType
from kalshibot.domain.market import Result
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, OrderIntent, OrderStatus, Side, TimeInForce, Trade
from kalshibot.execution import local_fill_totals
from kalshibot.sim.account import SimAccount

from .helpers import T0, book

D = Decimal
TK = "KXHIGHNY-26NOV19-B50"
START = Money(1000)


def acct(fee_type: FeeType = FeeType.QUADRATIC_WITH_MAKER_FEES) -> SimAccount:
    """A direct member's account: fills pay the $0.0001-rounded fee, so the hand-computed
    figures below stay per fill (whole cents per order: ``test_fees_charged``)."""
    return SimAccount(START, fees=lambda _t: FeeSchedule(fee_type), direct_member=True)


def intent(coid: str, side: Side, action: Action, price: str, n: int,
           tif: TimeInForce = TimeInForce.GTC) -> OrderIntent:
    return OrderIntent(TK, side, action, Price(D(price)), Count(n), coid, tif)


def identity_holds(a: SimAccount, yes_mark: Price, *, settled: bool = False) -> None:
    """cash + marked positions == start + realized + unrealized - fees, exactly."""
    pf = a.portfolio
    marked = Money(sum((p.market_value(yes_mark).amount for p in pf.open_positions()), D(0)))
    unreal = Money(sum((p.unrealized_pnl(yes_mark).amount for p in pf.open_positions()), D(0)))
    assert pf.cash + marked == START + pf.realized_pnl() + unreal - pf.fees_paid()
    assert pf.equity({TK: yes_mark}) == pf.cash + marked
    # position = sum of fills; fees = sum of fill fees
    totals = local_fill_totals(a.fills)
    pos = pf.positions.get(TK)
    if not settled:
        assert (pos.qty.value if pos else D(0)) == totals.get(TK, D(0))
    assert pf.fees_paid() == Money(sum((f.fee.amount for f in a.fills), D(0)))


def test_resting_order_partly_filled_by_trade_then_cancelled() -> None:
    a = acct()
    b = book(TK, yes=(("0.40", 10),), no=(("0.55", 10),))  # YES 0.40 / 0.45
    ack = a.place(intent("c1", Side.YES, Action.BUY, "0.42", 10), b, T0)
    assert (ack.filled_count, ack.remaining_count) == (Count(0), Count(10))
    # a taker sells 4 YES at 0.41 (through our 0.42 bid): we fill 4 at our price, as maker
    fills = a.on_trades([Trade("t1", TK, Price(D("0.41")), Count(4), Side.NO, T0)], T0)
    assert [(f.count, f.price, f.is_taker) for f in fills] == [(Count(4), Price(D("0.42")), False)]
    # maker fee: ceil_4dp(0.0175 * 4 * 0.42 * 0.58 = 0.017052) = 0.0171
    assert fills[0].fee == Money(D("0.0171"))
    o = a.orders[ack.order_id].order
    assert (o.status, o.filled_count, o.remaining_count) == (
        OrderStatus.PARTIALLY_FILLED, Count(4), Count(6))
    c = a.cancel(ack.order_id, T0)
    assert (c.status, c.filled_count, c.remaining_count) == (
        OrderStatus.CANCELLED, Count(4), Count(0))
    # nothing more fills after the cancel
    assert a.on_trades([Trade("t2", TK, Price(D("0.30")), Count(50), Side.NO, T0)], T0) == []
    pos = a.portfolio.positions[TK]
    assert (pos.qty, pos.cost, pos.fees) == (Count(4), Money(D("1.68")), Money(D("0.0171")))
    assert a.cash == Money(D("998.3029"))  # 1000 - 1.68 - 0.0171
    identity_holds(a, Price(D("0.425")))


def test_trade_at_our_price_fills_nothing_while_queue_ahead_pessimistic() -> None:
    a = acct()
    b = book(TK, yes=(("0.40", 10),), no=(("0.55", 10),))
    ack = a.place(intent("c1", Side.YES, Action.BUY, "0.40", 5), b, T0)  # joins 10 ahead
    assert a.on_trades([Trade("t1", TK, Price(D("0.40")), Count(30), Side.NO, T0)], T0) == []
    assert a.orders[ack.order_id].order.filled_count == Count(0)


def test_mixed_taker_maker_partial_exit_and_settlement_exact() -> None:
    a = acct()
    b = book(TK, yes=(("0.40", 10),), no=(("0.55", 10),))  # YES 0.40 / 0.45 (10 each)
    # 1) rest 10 @0.42, 4 fill by a trade, cancel the rest
    r = a.place(intent("c1", Side.YES, Action.BUY, "0.42", 10), b, T0)
    a.on_trades([Trade("t1", TK, Price(D("0.41")), Count(4), Side.NO, T0)], T0)
    a.cancel(r.order_id, T0)
    # 2) IOC buy 15 @0.45: only 10 offered -> 10 fill as taker, 5 cancelled
    ack = a.place(intent("c2", Side.YES, Action.BUY, "0.45", 15, TimeInForce.IOC), b, T0)
    assert (ack.filled_count, ack.remaining_count) == (Count(10), Count(0))
    assert a.orders[ack.order_id].order.status is OrderStatus.CANCELLED
    # taker fee ceil_4dp(0.07 * 10 * 0.45 * 0.55 = 0.17325) = 0.1733
    assert a.fills[-1].fee == Money(D("0.1733"))
    pos = a.portfolio.positions[TK]
    assert (pos.qty, pos.cost) == (Count(14), Money(D("6.18")))
    identity_holds(a, Price(D("0.425")))
    # 3) sell 5 YES at the bid (IOC): realized = 5*0.40 - 5/14 of 6.18
    a.place(intent("c3", Side.YES, Action.SELL, "0.40", 5, TimeInForce.IOC), b, T0)
    pos = a.portfolio.positions[TK]
    assert pos.qty == Count(9)
    removed = (D("6.18") * 5 / 14).quantize(D("1e-10"))
    assert pos.realized_pnl == Money(D("2.00") - removed)
    assert pos.cost == Money(D("6.18") - removed)
    identity_holds(a, Price(D("0.425")))
    identity_holds(a, Price(D("0.07")))
    # 4) buying NO (ask 1 - 0.40 = 0.60) closes YES first
    a.place(intent("c4", Side.NO, Action.BUY, "0.60", 3, TimeInForce.IOC), b, T0)
    assert a.portfolio.positions[TK].qty == Count(6)
    identity_holds(a, Price(D("0.425")))
    # 5) settlement YES pays $1 per contract; everything realized, identity with no positions
    cash_before = a.cash
    paid = a.settle(TK, Result.YES)
    assert paid == Money(6)
    assert a.cash == cash_before + Money(6)
    pf = a.portfolio
    assert pf.open_positions() == []
    assert pf.cash == START + pf.realized_pnl() - pf.fees_paid()
    identity_holds(a, Price(D("0.5")), settled=True)
    # the total is the sum of every cash flow, to the pip
    flows = D(0)
    for f in a.fills:
        adds = (f.side is Side.YES) == (f.action is Action.BUY)
        yes_px = f.price.value if f.side is Side.YES else 1 - f.price.value
        flows += (-yes_px if adds else yes_px) * f.count.value - f.fee.amount
    assert pf.cash == START + Money(flows) + Money(6)


def test_resting_sell_partly_filled_by_book_then_cancelled() -> None:
    a = acct(FeeType.QUADRATIC)
    b = book(TK, yes=(("0.40", 10),), no=(("0.55", 10),))
    a.place(intent("c1", Side.YES, Action.BUY, "0.45", 10, TimeInForce.IOC), b, T0)
    r = a.place(intent("c2", Side.YES, Action.SELL, "0.44", 10), b, T0)  # rests at 0.44
    assert a.orders[r.order_id].order.status is OrderStatus.RESTING
    # a later book shows a YES bid of 0.46 x 3 (above our 0.44 offer): 3 fill, maker fee 0
    fills = a.on_book(book(TK, yes=(("0.46", 3),), no=(("0.50", 10),)), T0)
    assert [(f.count, f.price, f.fee) for f in fills] == [(Count(3), Price(D("0.44")), Money(0))]
    a.cancel(r.order_id, T0)
    pos = a.portfolio.positions[TK]
    assert pos.qty == Count(7)
    identity_holds(a, Price(D("0.48")))


def test_same_book_seen_twice_does_not_fill_twice() -> None:
    # Regression: the venue feeds every fetched book to on_book; a snapshot seen again on the
    # next cycle (books change every 10 s, cycles every 5 s) consumed its crossing size again,
    # so a static 10-lot filled 10 contracts per cycle.
    a = acct(FeeType.QUADRATIC)
    b = book(TK, yes=(("0.40", 10),), no=(("0.55", 10),))
    r = a.place(intent("c1", Side.YES, Action.BUY, "0.43", 100), b, T0)  # rests (ask 0.45)
    assert a.orders[r.order_id].order.filled_count == Count(0)
    crossing = book(TK, yes=(("0.40", 10),), no=(("0.58", 10),))  # 10 YES @ 0.42 < 0.43
    assert sum(f.count.value for f in a.on_book(crossing, T0)) == D(10)
    assert a.on_book(crossing, T0) == []
    assert a.on_book(crossing, T0) == []
    assert a.orders[r.order_id].order.filled_count == Count(10)
    # a different book is new information
    later = book(TK, yes=(("0.40", 10),), no=(("0.58", 7),), ts=T0.replace(second=10))
    assert sum(f.count.value for f in a.on_book(later, T0)) == D(7)


def test_forget_closed_drops_only_orders_closed_before_the_cutoff() -> None:
    from datetime import timedelta

    a = acct()
    b = book(TK, yes=(("0.40", 10),), no=(("0.55", 10),))  # YES 0.40 / 0.45
    done = a.place(intent("c1", Side.YES, Action.BUY, "0.45", 2), b, T0)  # taker: executed
    old = a.place(intent("c2", Side.YES, Action.BUY, "0.41", 5), b, T0)
    a.cancel(old.order_id, T0)
    late = a.place(intent("c3", Side.YES, Action.BUY, "0.41", 5), b, T0)
    a.cancel(late.order_id, T0 + timedelta(hours=2))
    live = a.place(intent("c4", Side.YES, Action.BUY, "0.41", 5), b, T0)
    cash, fills = a.cash, list(a.fills)
    assert a.forget_closed(T0 + timedelta(hours=1)) == 2
    assert set(a.orders) == {late.order_id, live.order_id}
    assert set(a.by_client_id) == {"c3", "c4"}
    assert [o.order_id for o in a.open_orders()] == [live.order_id]
    assert (a.cash, a.fills) == (cash, fills)  # money and fills untouched
    assert done.order_id not in a.orders

"""Property: random proposal streams through risk + execution never exceed any limit.

Proposals (random markets in two series / four events, sides, prices, sizes, IOC or resting,
post-only or not), exits, cancels, new books and public trades that fill resting orders are fed
through ``RiskManager.check`` and ``OrderManager`` over a ``SimAccount``-backed fake exchange.
The risk snapshot is built from the *local* store like the engine does (positions from stored
fills + resting buys); the limits are checked on the *exchange's* truth after every step.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kalshibot.domain.fees import fee_per_contract
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, OrderIntent, Side, TimeInForce, Trade
from kalshibot.domain.portfolio import Portfolio
from kalshibot.execution import OrderManager, exposure_of_orders, new_client_order_id
from kalshibot.risk import RiskLimits, RiskManager, RiskSnapshot
from kalshibot.store import fills as fills_repo
from kalshibot.store import orders as orders_repo
from kalshibot.store.connection import connect

from .helpers import T0, FakeExchange, book, cap_violations, market, venue_exposure

D = Decimal
TICKERS = [
    "KXS1-E1-A", "KXS1-E1-B", "KXS1-E2-A",  # series KXS1: events KXS1-E1, KXS1-E2
    "KXS2-E3-A", "KXS2-E3-B", "KXS2-E4-A",  # series KXS2: events KXS2-E3, KXS2-E4
]
MARKETS = [market(t) for t in TICKERS]
BY_TICKER = {m.ticker: m for m in MARKETS}
LIMITS = RiskLimits(
    max_position_per_market=Money(30),
    max_portfolio_exposure=Money(80),
    max_exposure_per_event=Money(40),
    max_exposure_per_series=Money(60),
    max_daily_loss=Money(10**6),
    circuit_breaker_drawdown=D("0.5"),
    max_concurrent_positions=3,
    max_spread=D(1),
    min_top_size=Count(1),
    min_seconds_to_close=0.0,
)

ticker_i = st.integers(0, len(TICKERS) - 1)


@st.composite
def books(draw: st.DrawFn) -> tuple:
    yes_bid = draw(st.integers(1, 97))
    no_bid = draw(st.integers(1, 98 - yes_bid))  # yes ask = 1 - no_bid > yes_bid
    y2 = draw(st.integers(0, yes_bid - 1))
    n2 = draw(st.integers(0, no_bid - 1))
    sizes = draw(st.lists(st.integers(1, 40), min_size=4, max_size=4))
    yes = [(f"{yes_bid / 100:.2f}", sizes[0])] + ([(f"{y2 / 100:.2f}", sizes[1])] if y2 else [])
    no = [(f"{no_bid / 100:.2f}", sizes[2])] + ([(f"{n2 / 100:.2f}", sizes[3])] if n2 else [])
    return ("book", draw(ticker_i), yes, no)


# price: cents relative to the current best ask of the side (negative = inside the spread)
orders = st.tuples(
    st.just("order"), ticker_i, st.sampled_from([Side.YES, Side.NO]), st.integers(-6, 4),
    st.integers(1, 60), st.sampled_from([TimeInForce.IOC, TimeInForce.GTC]),
    st.sampled_from([False, False, True]),
)
trades = st.tuples(
    st.just("trade"), ticker_i, st.integers(1, 99), st.integers(1, 50),
    st.sampled_from([Side.YES, Side.NO]),
)
exits = st.tuples(st.just("exit"), ticker_i)
cancels = st.tuples(st.just("cancel"), st.integers(0, 10))
ops = st.lists(
    st.one_of(orders, orders, orders, books(), trades, trades, exits, cancels),
    min_size=5, max_size=60,
)


def snapshot(om: OrderManager, conn) -> tuple[RiskSnapshot, Portfolio]:  # noqa: ANN001
    pf = Portfolio(Money(10000), {}).with_fills(fills_repo.list_fills(conn))
    exposure = {p.ticker: p.cost for p in pf.open_positions()}
    for t, m in exposure_of_orders(om.open_orders()).items():
        exposure[t] = exposure.get(t, Money(0)) + m
    snap = RiskSnapshot(
        exposure,
        {t: m.event_ticker for t, m in BY_TICKER.items()},
        {t: m.series_ticker for t, m in BY_TICKER.items()},
        Money(0),
    )
    return snap, pf


def assert_within_limits(ex: FakeExchange) -> None:
    exp = venue_exposure(ex.account)
    assert not cap_violations(exp, BY_TICKER, LIMITS), exp


@settings(max_examples=50, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_streams_never_exceed_limits(steps: list[tuple]) -> None:
    conn = connect(":memory:")
    ex = FakeExchange(MARKETS, {t: book(t) for t in TICKERS})
    om = OrderManager(conn, ex, strategy="prop")
    risk = RiskManager(LIMITS)
    n_trade = 0
    for op in steps:
        kind = op[0]
        if kind == "order":
            _, i, side, offset, n, tif, post_only = op
            m = MARKETS[i]
            ask = ex.books[m.ticker].best_ask(side)
            cents = (int(ask.price.value * 100) if ask else 50) + offset
            price = Price(D(min(max(cents, 1), 99)) / 100)
            fee = fee_per_contract(price, is_taker=not post_only, fee_type=m.fee_type)
            cost = Money(n * (price.value + fee) + D("0.001"))
            snap, _pf = snapshot(om, conn)
            verdict = risk.check(market=m, book=ex.books[m.ticker], now=T0, snap=snap,
                                 side=side, cost=cost)
            if verdict.approved:
                om.submit(OrderIntent(m.ticker, side, Action.BUY, price, Count(n),
                                      new_client_order_id(), tif, post_only=post_only), T0)
        elif kind == "exit":
            m = MARKETS[op[1]]
            _snap, pf = snapshot(om, conn)
            pos = pf.positions.get(m.ticker)
            bid = None if pos is None or pos.side is None else ex.books[m.ticker].best_bid(pos.side)
            if pos is not None and pos.side is not None and bid is not None:
                d = risk.check(market=m, book=ex.books[m.ticker], now=T0, snap=_snap,
                               side=pos.side, cost=Money(0), is_exit=True)
                assert d.approved
                om.submit(OrderIntent(m.ticker, pos.side, Action.SELL, bid.price, pos.contracts,
                                      new_client_order_id(), TimeInForce.IOC,
                                      reduce_only=True), T0)
        elif kind == "book":
            _, i, yes, no = op
            ex.set_book(book(TICKERS[i], yes=yes, no=no))
        elif kind == "trade":
            _, i, cents, n, taker = op
            n_trade += 1
            ex.account.on_trades(
                [Trade(f"t{n_trade}", TICKERS[i], Price(D(cents) / 100), Count(n), taker, T0)],
                T0)
        elif kind == "cancel":
            open_ = om.open_orders()
            if open_:
                om.cancel(open_[op[1] % len(open_)], T0, "random cancel")
        om.sync_fills(T0)
        assert_within_limits(ex)
        # local state agrees with the exchange after every step
        _snap, pf = snapshot(om, conn)
        local = {p.ticker: p.qty for p in pf.open_positions()}
        assert local == {p.ticker: p.qty for p in ex.account.positions()}
        assert {r.order_id for r in om.open_orders()} == {
            o.order_id for o in ex.account.open_orders()
        }
        for rec in orders_repo.list_orders(conn):
            if rec.order_id is not None:
                truth = ex.get_order(rec.order_id)
                assert rec.filled == truth.filled_count, (rec, truth)
                if truth.status.is_open:
                    assert rec.remaining == truth.remaining_count, (rec, truth)
    conn.close()

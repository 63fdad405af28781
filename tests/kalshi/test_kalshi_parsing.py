"""Wire -> domain parsing against every REST fixture; V2 intent mapping round-trips."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kalshibot.domain.market import MarketStatus, Result
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, OrderIntent, OrderStatus, Side, TimeInForce
from kalshibot.errors import DataError, InvalidCountError, InvalidPriceError
from kalshibot.kalshi import parsing as p
from kalshibot.kalshi import schemas as w
from kalshibot.kalshi.orders_v2 import (
    BookSide,
    amend_body,
    book_side_of,
    decrease_body,
    intent_from_v2,
    intent_to_v2,
)
from tests.kalshi.helpers import fixture_json

TICKER = "KXSOL15M-26NOV201415-15"


def test_markets_fixture() -> None:
    page = w.load(w.WireMarketsPage, fixture_json("get_markets"), "t")
    ms = [p.parse_market(w.load(w.WireMarket, m, "t")) for m in page.markets or ()]
    assert [m.status for m in ms] == [MarketStatus.INITIALIZED, MarketStatus.ACTIVE,
                                      MarketStatus.FINALIZED]
    active, done = ms[1], ms[2]
    assert active.series_ticker == "KXSOL15M" and active.tick_grid.is_valid(Price("0.49"))
    assert active.close_time == datetime(2026, 11, 20, 19, 15, tzinfo=UTC)
    assert active.volume == Decimal("18342.00") and active.open_interest == Decimal("9120.00")
    assert done.result is Result.YES and done.settlement_value == Price("1")
    assert ms[0].floor_strike is None
    assert page.cursor


def test_market_fixture_and_unknown_status() -> None:
    m = p.parse_market(w.load(w.WireMarketResponse, fixture_json("get_market"), "t").market)
    assert m.ticker == TICKER and m.strike_type == "greater_or_equal" and not m.untradeable
    raw = fixture_json("get_market")
    raw["market"]["status"] = "exploded"
    # an unknown status makes this market untradeable, it does not fail (issue 20 item 1)
    m = p.parse_market(w.load(w.WireMarketResponse, raw, "t").market)
    assert m.status is MarketStatus.UNKNOWN and not m.status.is_tradable
    assert "status" in m.untradeable and "exploded" in m.untradeable


def test_orderbook_fixture() -> None:
    fp = w.load(w.WireOrderbookResponse, fixture_json("get_market_orderbook"), "t").orderbook_fp
    book = p.parse_orderbook(TICKER, fp)
    assert book.best_bid(Side.YES).price == Price("0.47")  # type: ignore[union-attr]
    best_ask = book.best_ask(Side.YES)
    assert best_ask is not None and best_ask.price == Price("0.49")
    assert best_ask.size == Count(240)


def test_absent_or_null_book_side_is_empty() -> None:
    """Spec 3.34 may leave an empty side out of a book (issue 20 item 7)."""
    raw = fixture_json("get_market_orderbook")
    missing = copy.deepcopy(raw)
    del missing["orderbook_fp"]["yes_dollars"]
    fp = w.load(w.WireOrderbookResponse, missing, "GET /markets/X/orderbook").orderbook_fp
    book = p.parse_orderbook(TICKER, fp)
    assert book.yes_bids == () and book.best_ask(Side.YES) is not None
    raw["orderbook_fp"]["yes_dollars"] = None
    book = p.parse_orderbook(TICKER, w.load(w.WireOrderbookResponse, raw, "t").orderbook_fp)
    assert book.yes_bids == () and book.best_ask(Side.YES) is not None


@pytest.mark.parametrize("bad", [["0.47"], ["0.47", "1.005"], ["1.20", "3.00"], ["", "1.00"]])
def test_bad_book_levels_rejected(bad: list[str]) -> None:
    fp = w.WireOrderbookFp(yes_dollars=None, no_dollars=None)
    with pytest.raises(DataError):
        p.parse_levels([bad], "yes")
    assert p.parse_levels(fp.yes_dollars, "yes") == []


def test_trades_fixture() -> None:
    page = w.load(w.WireTradesPage, fixture_json("get_markets_trades"), "t")
    trades = [p.parse_trade(t) for t in page.trades]
    assert trades[0].taker_side is Side.NO and trades[0].yes_price == Price("0.48")
    assert trades[1].count == Count(4)


def test_candlesticks_fixture_with_null_trade_prices() -> None:
    r = w.load(w.WireCandlesticksResponse, fixture_json("get_series_markets_candlesticks"), "t")
    c1, c2 = (p.parse_candle(r.ticker, c) for c in r.candlesticks)
    assert c1.trade is not None and c1.trade.close == Price("0.49")
    assert c2.trade is None and c2.previous_price == Price("0.49")
    assert c2.yes_bid.close == Price("0.47") and c1.volume == Count(4)


def test_historical_candle_shape() -> None:
    raw = {"ticker": "X", "candlesticks": [{
        "end_period_ts": 1795201440,
        "yes_bid": {"open": "0.46", "low": "0.45", "high": "0.47", "close": "0.47"},
        "yes_ask": {"open": "0.49", "low": "0.48", "high": "0.50", "close": "0.49"},
        "price": {"open": None, "low": None, "high": None, "close": None, "mean": None,
                  "previous": "0.49"},
        "volume": "0.00", "open_interest": "10.00"}]}
    r = w.load(w.WireCandlesticksHistoricalResponse, raw, "t")
    c = p.parse_candle_historical("X", r.candlesticks[0])
    assert c.trade is None and c.open_interest == Count(10)


def test_balance_fixture() -> None:
    b = p.parse_balance(w.load(w.WireBalance, fixture_json("get_portfolio_balance"), "t"))
    assert b.cash == Money("1250.34") and b.portfolio_value == Money("4.90")


def test_positions_fixture() -> None:
    page = w.load(w.WirePositionsPage, fixture_json("get_portfolio_positions"), "t")
    sol, btc = (p.parse_position(x) for x in page.market_positions)
    assert sol.qty == Count(10) and sol.side is Side.YES and sol.cost == Money("4.90")
    assert btc.qty == Count(-5) and btc.side is Side.NO and btc.fees == Money("0.09")


def test_orders_fixture() -> None:
    page = w.load(w.WireOrdersPage, fixture_json("get_portfolio_orders"), "t")
    o = p.parse_order(page.orders[0])
    assert (o.side, o.action, o.price) == (Side.YES, Action.BUY, Price("0.49"))
    assert o.status is OrderStatus.EXECUTED and o.filled_count == Count(10)
    assert o.fees_paid == Money("0.07") and o.client_order_id == "sol15m-20261120T1903-7f3a9c2e"


def test_order_ask_is_canonical_buy_no_and_partial_status() -> None:
    raw = fixture_json("get_portfolio_orders")["orders"][0]
    raw.update(outcome_side="no", book_side="ask", status="resting", fill_count_fp="4.00",
               remaining_count_fp="6.00")
    o = p.parse_order(w.WireOrder.model_validate(raw))
    assert (o.side, o.action, o.price) == (Side.NO, Action.BUY, Price("0.51"))
    assert o.status is OrderStatus.PARTIALLY_FILLED
    raw.update(side="yes", action="sell")  # explicit legacy fields win when present
    o2 = p.parse_order(w.WireOrder.model_validate(raw))
    assert (o2.side, o2.action, o2.price) == (Side.YES, Action.SELL, Price("0.49"))
    raw.update(outcome_side="yes")  # contradiction with book_side=ask
    with pytest.raises(DataError, match="contradicts"):
        p.parse_order(w.WireOrder.model_validate(raw))


def test_order_missing_fee_field_rejected() -> None:
    raw = fixture_json("get_portfolio_orders")
    del raw["orders"][0]["taker_fees_dollars"]
    with pytest.raises(DataError, match="taker_fees_dollars"):
        w.load(w.WireOrdersPage, raw, "GET /portfolio/orders")


def test_fills_fixture() -> None:
    page = w.load(w.WireFillsPage, fixture_json("get_portfolio_fills"), "t")
    f0, f1 = (p.parse_fill(f) for f in page.fills)
    assert f0.is_taker is False and f0.fee == Money(0) and f0.count == Count(6)
    assert f1.fee == Money("0.07") and f1.side is Side.YES and f1.price == Price("0.49")
    assert f1.ts == datetime(2026, 11, 20, 19, 3, 27, 312004, tzinfo=UTC)


def test_create_ack_fixture_and_no_side_price() -> None:
    r = w.load(w.WireCreateOrderResponse, fixture_json("post_portfolio_events_orders"), "t")
    coid = "sol15m-20261120T1903-7f3a9c2e"
    ack = p.parse_order_ack(r, client_order_id=coid, side=Side.YES)
    assert ack.filled_count == Count(4) and ack.remaining_count == Count(6)
    assert ack.average_fill_price == Price("0.49")
    assert ack.average_fee_per_contract == Money("0.0175")
    assert ack.ts == datetime(2026, 11, 20, 19, 3, 27, 312000, tzinfo=UTC)
    no_ack = p.parse_order_ack(r, client_order_id=coid, side=Side.NO)
    assert no_ack.average_fill_price == Price("0.51")
    with pytest.raises(DataError, match="not the one sent"):
        p.parse_order_ack(r, client_order_id="other", side=Side.YES)


def test_cancel_fixture() -> None:
    r = w.load(w.WireCancelOrderResponse,
               fixture_json("delete_portfolio_events_orders_order_id"), "t")
    assert p.count(r.reduced_by, "reduced_by") == Count(5)


def test_exchange_status_fixture() -> None:
    s = p.parse_exchange_status(w.load(w.WireExchangeStatus,
                                       fixture_json("get_exchange_status"), "t"))
    assert s.exchange_active and s.trading_active


def test_legacy_v1_order_is_refused() -> None:
    """Integer cents and counts left the API; a V1-shaped order must not parse."""
    with pytest.raises(DataError, match="fill_count_fp"):
        w.load(w.WireOrderResponse, fixture_json("post_portfolio_orders_legacy_v1"), "t")


def test_float_price_rejected_everywhere() -> None:
    raw = fixture_json("get_portfolio_fills")["fills"][0]
    raw["yes_price_dollars"] = 0.49
    with pytest.raises(DataError):
        p.parse_fill(w.load(w.WireFill, raw, "t"))


def test_settlement_cents() -> None:
    s = p.parse_settlement(w.WireSettlement(
        ticker="X-1", event_ticker="X", market_result="yes", yes_count_fp="10.00",
        no_count_fp="0.00", yes_total_cost_dollars="4.9000", no_total_cost_dollars="0.0000",
        revenue=1000, settled_time=datetime(2026, 11, 20, 19, 16, tzinfo=UTC),
        fee_cost="0.0700", value=100))
    assert s.revenue == Money(10) and s.value == Price(1) and s.result is Result.YES


# --- V2 mapping -------------------------------------------------------------------------
TABLE = [  # kalshi-api.md section 5
    (Side.YES, Action.BUY, "0.30", "bid", "0.3000"),
    (Side.YES, Action.SELL, "0.30", "ask", "0.3000"),
    (Side.NO, Action.BUY, "0.30", "ask", "0.7000"),
    (Side.NO, Action.SELL, "0.30", "bid", "0.7000"),
]


@pytest.mark.parametrize(("side", "action", "px", "book", "yes_px"), TABLE)
def test_intent_to_v2_table(side: Side, action: Action, px: str, book: str, yes_px: str) -> None:
    i = OrderIntent("T", side, action, Price(px), Count(3), "cid-1")
    body = intent_to_v2(i)
    assert (body["side"], body["price"], body["count"]) == (book, yes_px, "3.00")
    assert intent_from_v2(body, side=side) == i
    assert book_side_of(side, action) is BookSide(book)


prices = st.integers(min_value=1, max_value=9999).map(lambda n: Price(Decimal(n) / 10000))
counts = st.integers(min_value=1, max_value=100000).map(lambda n: Count(Decimal(n) / 100))


@given(price=prices, count=counts, action=st.sampled_from(list(Action)),
       tif=st.sampled_from([TimeInForce.GTC, TimeInForce.FOK]))
def test_no_side_intents_round_trip(price: Price, count: Count, action: Action,
                                    tif: TimeInForce) -> None:
    i = OrderIntent(TICKER, Side.NO, action, price, count, "sol15m:x/1", time_in_force=tif)
    body = intent_to_v2(i)
    assert Price(body["price"]) == price.complement()
    assert intent_from_v2(body, side=Side.NO) == i


def test_v2_body_validation() -> None:
    base = OrderIntent("T", Side.YES, Action.BUY, Price("0.5"), Count(1), "ok")
    with pytest.raises(InvalidPriceError):
        intent_to_v2(OrderIntent("T", Side.YES, Action.BUY, Price("0.12345"), Count(1), "ok"))
    with pytest.raises(InvalidPriceError):
        intent_to_v2(OrderIntent("T", Side.NO, Action.BUY, Price("1"), Count(1), "ok"))
    with pytest.raises(InvalidCountError):
        intent_to_v2(OrderIntent("T", Side.YES, Action.BUY, Price("0.5"), Count(0), "ok"))
    with pytest.raises(DataError, match="client_order_id"):
        intent_to_v2(OrderIntent("T", Side.YES, Action.BUY, Price("0.5"), Count(1), "bad id!"))
    with pytest.raises(DataError, match="reduce_only"):
        intent_to_v2(OrderIntent("T", Side.YES, Action.SELL, Price("0.5"), Count(1), "ok",
                                 reduce_only=True))
    ioc = OrderIntent("T", Side.YES, Action.SELL, Price("0.5"), Count(1), "ok",
                      time_in_force=TimeInForce.IOC, reduce_only=True)
    assert intent_to_v2(ioc)["reduce_only"] is True
    exp = intent_to_v2(base, expiration_time=datetime(2026, 11, 20, 19, 15, tzinfo=UTC))
    assert exp["expiration_time"] == 1795202100


def test_amend_and_decrease_bodies() -> None:
    assert amend_body("T", BookSide.ASK, Price("0.52"), Count(8)) == {
        "ticker": "T", "side": "ask", "price": "0.5200", "count": "8.00"}
    assert decrease_body(reduce_by=Count(2)) == {"reduce_by": "2.00"}
    assert decrease_body(reduce_to=Count(0)) == {"reduce_to": "0.00"}
    with pytest.raises(DataError):
        decrease_body()
    with pytest.raises(DataError):
        decrease_body(reduce_by=Count(1), reduce_to=Count(1))

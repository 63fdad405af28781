"""KalshiExchange over a mocked Kalshi: the Exchange protocol, public mode, batching."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from responses import matchers

from kalshibot.config import Environment, Settings
from kalshibot.domain.fees import FeeType
from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, OrderIntent, OrderStatus, Side
from kalshibot.errors import AuthError, OrderOutcomeUnknownError
from kalshibot.exchange import Exchange, MarketData
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.exchange import KalshiExchange
from kalshibot.kalshi.http import BASE_URLS
from tests.kalshi.helpers import BASE, RecordingClock, fixture_json

TICKER = "KXSOL15M-26NOV201415-15"
ORDERS = BASE + "/portfolio/events/orders"
SERIES = {"series": {"ticker": "KXSOL15M", "title": "SOL 15m", "frequency": "fifteen_min",
                     "fee_type": "quadratic_with_maker_fees", "fee_multiplier": 1.0}}


def test_implements_the_protocols(exchange: KalshiExchange) -> None:
    assert isinstance(exchange, Exchange) and isinstance(exchange, MarketData)


def test_public_mode_reads_market_data_without_keys(rsps: responses.RequestsMock) -> None:
    clock = RecordingClock()
    ex = KalshiExchange.public(Environment.PROD, clock)
    prod = BASE_URLS[Environment.PROD]
    rsps.get(prod + "/markets", json=fixture_json("get_markets"),
             match=[matchers.query_param_matcher({"series_ticker": "KXSOL15M",
                                                  "status": "open", "limit": "1000"})])
    rsps.get(prod + "/markets", json={"markets": [], "cursor": ""})
    rsps.get(prod + "/series/KXSOL15M", json=SERIES)
    rsps.get(prod + "/events", json={"events": [], "cursor": ""})  # no fee overrides
    markets = ex.get_markets(series=["KXSOL15M"])
    assert len(markets) == 3 and not ex.authenticated
    assert {m.fee_type for m in markets} == {FeeType.QUADRATIC_WITH_MAKER_FEES}
    assert markets[0].fee_multiplier == Decimal("1.0")
    assert sum(1 for c in rsps.calls if "/series/" in c.request.url) == 1  # cached
    assert all("KALSHI-ACCESS-SIGNATURE" not in c.request.headers for c in rsps.calls)
    with pytest.raises(AuthError):
        ex.get_balance()


def test_from_settings_public_and_signed(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    assert not KalshiExchange.from_settings(Settings()).authenticated
    key = tmp_path / "k.pem"
    key.write_bytes(rsa_key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    s = Settings(api_key_id=SecretStr("id"), private_key_path=key, read_rate_per_s=5)
    ex = KalshiExchange.from_settings(s)
    assert ex.authenticated and ex.client.http.base_url == BASE_URLS[Environment.DEMO]
    assert ex.client.http.limiter.read.rate == 5
    assert not KalshiExchange.from_settings(s, public_only=True).authenticated


def test_get_markets_by_tickers_and_event_deduplicates(
    rsps: responses.RequestsMock, exchange: KalshiExchange
) -> None:
    page = fixture_json("get_markets")
    page["cursor"] = ""
    rsps.get(BASE + "/markets", json=page)
    ms = exchange.get_markets(tickers=[TICKER], event="KXSOL15M-26NOV201415", status=None)
    assert len(ms) == 3  # same markets from two queries, de-duplicated
    q = [parse_qs(urlsplit(c.request.url).query) for c in rsps.calls]
    assert q[0]["tickers"] == [TICKER] and q[1]["event_ticker"] == ["KXSOL15M-26NOV201415"]
    assert all("status" not in x for x in q)


def test_get_orderbooks_uses_batch_endpoint_in_chunks_of_100(
    rsps: responses.RequestsMock, exchange: KalshiExchange
) -> None:
    tickers = [f"KX-{i:03d}" for i in range(150)]
    fp = fixture_json("get_market_orderbook")["orderbook_fp"]

    def answer(req):  # type: ignore[no-untyped-def]
        asked = parse_qs(urlsplit(req.url).query)["tickers"]
        return 200, {}, json.dumps({"orderbooks": [{"ticker": t, "orderbook_fp": fp}
                                                   for t in asked]})

    rsps.add_callback(responses.GET, BASE + "/markets/orderbooks", callback=answer)
    books = exchange.get_orderbooks(tickers)
    assert len(rsps.calls) == 2
    sizes = [len(parse_qs(urlsplit(c.request.url).query)["tickers"]) for c in rsps.calls]
    assert sizes == [100, 50]
    assert set(books) == set(tickers)
    b = books["KX-007"]
    assert b.best_bid(Side.NO).price == Price("0.51")  # type: ignore[union-attr]
    assert b.ts == exchange.clock.now()


def test_single_orderbook(rsps: responses.RequestsMock, exchange: KalshiExchange) -> None:
    rsps.get(BASE + f"/markets/{TICKER}/orderbook", json=fixture_json("get_market_orderbook"))
    assert exchange.get_orderbook(TICKER).spread() == Decimal("0.02")


def test_place_order_ack_and_unknown_outcome(
    rsps: responses.RequestsMock, exchange: KalshiExchange
) -> None:
    rsps.post(ORDERS, status=201, json=fixture_json("post_portfolio_events_orders"))
    intent = OrderIntent(TICKER, Side.YES, Action.BUY, Price("0.49"), Count(10),
                         "sol15m-20261120T1903-7f3a9c2e")
    ack = exchange.place_order(intent)
    assert ack.filled_count == Count(4) and ack.average_fee_per_contract == Money("0.0175")
    rsps.replace(responses.POST, ORDERS, status=504)
    with pytest.raises(OrderOutcomeUnknownError) as ei:
        exchange.place_order(intent)
    assert ei.value.client_order_id == intent.client_order_id
    assert sum(1 for c in rsps.calls if c.request.method == "POST") == 2  # one per call


def test_find_order_by_client_id_resolves_unknown_outcome(
    rsps: responses.RequestsMock, exchange: KalshiExchange
) -> None:
    rsps.get(BASE + "/portfolio/orders", json=fixture_json("get_portfolio_orders"))
    found = exchange.find_order_by_client_id("sol15m-20261120T1903-7f3a9c2e")
    assert found is not None and found.status is OrderStatus.EXECUTED
    assert exchange.find_order_by_client_id("never-sent") is None


def test_open_orders_cancel_and_amend(rsps: responses.RequestsMock,
                                      exchange: KalshiExchange) -> None:
    order = fixture_json("get_portfolio_orders")["orders"][0]
    order.update(status="resting", fill_count_fp="0.00", remaining_count_fp="10.00",
                 outcome_side="no", book_side="ask", yes_price_dollars="0.4900",
                 no_price_dollars="0.5100")
    rsps.get(BASE + "/portfolio/orders", json={"orders": [order], "cursor": ""},
             match=[matchers.query_param_matcher({"status": "resting", "limit": "1000"})])
    [o] = exchange.get_open_orders()
    assert (o.side, o.action, o.price, o.status) == (Side.NO, Action.BUY, Price("0.51"),
                                                     OrderStatus.RESTING)
    rsps.delete(ORDERS + f"/{o.order_id}",
                json=fixture_json("delete_portfolio_events_orders_order_id"),
                match=[matchers.query_param_matcher({"market_ticker": TICKER})])
    exchange.cancel_order(o.order_id, TICKER)
    rsps.get(BASE + f"/portfolio/orders/{o.order_id}", json={"order": order})
    rsps.post(ORDERS + f"/{o.order_id}/amend", json={"order_id": o.order_id, "ts_ms": 1})
    exchange.amend_order(o.order_id, TICKER, Price("0.53"), Count(8))
    amend = next(c for c in rsps.calls if c.request.url.endswith("/amend"))
    # NO price 0.53 on an ask order is YES price 0.47 on the wire
    assert json.loads(amend.request.body) == {"ticker": TICKER, "side": "ask",
                                              "price": "0.4700", "count": "8.00"}


def test_positions_balance_fills_settlements(rsps: responses.RequestsMock,
                                             exchange: KalshiExchange) -> None:
    rsps.get(BASE + "/portfolio/positions", json=fixture_json("get_portfolio_positions"))
    rsps.get(BASE + "/portfolio/balance", json=fixture_json("get_portfolio_balance"))
    fills = fixture_json("get_portfolio_fills")
    fills["cursor"] = ""
    rsps.get(BASE + "/portfolio/fills", json=fills)
    rsps.get(BASE + "/historical/cutoff", json={
        "market_settled_ts": "2026-08-01T00:00:00Z", "trades_created_ts": "2026-08-01T00:00:00Z",
        "orders_updated_ts": "2026-08-01T00:00:00Z"})
    rsps.get(BASE + "/portfolio/settlements", json={"settlements": [{
        "ticker": TICKER, "event_ticker": "KXSOL15M-26NOV201415", "market_result": "no",
        "yes_count_fp": "10.00", "yes_total_cost_dollars": "4.9000", "no_count_fp": "0.00",
        "no_total_cost_dollars": "0.0000", "revenue": 0, "settled_time": "2026-11-20T19:16:00Z",
        "fee_cost": "0.0700", "value": 0}], "cursor": ""})
    assert [p.qty for p in exchange.get_positions()] == [Count(10), Count(-5)]
    assert exchange.get_balance().cash == Money("1250.34")
    since = datetime(2026, 11, 20, 19, 5, tzinfo=UTC)
    got = exchange.get_fills(since)
    assert [f.fill_id for f in got] == ["9a4c2e71-5d0b-4f8a-b6e3-1c7d9f2a0b58"]
    q = parse_qs(urlsplit(next(c for c in rsps.calls
                               if "/portfolio/fills" in c.request.url).request.url).query)
    assert q["min_ts"] == [str(int(since.timestamp()))]
    [s] = exchange.get_settlements(since)
    assert s.revenue == Money(0)


def test_get_fills_reads_historical_before_cutoff(rsps: responses.RequestsMock,
                                                  exchange: KalshiExchange) -> None:
    live = fixture_json("get_portfolio_fills")
    live["cursor"] = ""
    old = {"fills": [dict(live["fills"][1], fill_id="old-1", created_time="2026-07-01T00:00:00Z")],
           "cursor": ""}
    rsps.get(BASE + "/portfolio/fills", json=live)
    rsps.get(BASE + "/historical/fills", json=old)
    rsps.get(BASE + "/historical/cutoff", json={
        "market_settled_ts": "2026-08-01T00:00:00Z", "trades_created_ts": "2026-08-01T00:00:00Z",
        "orders_updated_ts": "2026-08-01T00:00:00Z"})
    got = exchange.get_fills()
    assert [f.fill_id for f in got][0] == "old-1" and len(got) == 3


def test_rate_limits_refreshed_once_when_authenticated(rsps: responses.RequestsMock,
                                                       client: KalshiClient,
                                                       clock: RecordingClock) -> None:
    ex = KalshiExchange(client, clock, refresh_limits=True)
    rsps.get(BASE + "/account/limits", json={
        "usage_tier": "advanced", "read": {"refill_rate": 300, "bucket_capacity": 300},
        "write": {"refill_rate": 300, "bucket_capacity": 600}, "grants": []})
    rsps.get(BASE + "/portfolio/balance", json=fixture_json("get_portfolio_balance"))
    ex.get_balance()
    ex.get_balance()
    assert client.http.limiter.read.rate == 30 and client.http.limiter.write.rate == 30
    assert sum(1 for c in rsps.calls if c.request.url.endswith("/account/limits")) == 1


def test_exchange_status(rsps: responses.RequestsMock, exchange: KalshiExchange) -> None:
    rsps.get(BASE + "/exchange/status", json=fixture_json("get_exchange_status"))
    assert exchange.get_exchange_status().trading_active


def test_other_endpoints_paths_and_params(rsps: responses.RequestsMock,
                                          exchange: KalshiExchange) -> None:
    c = exchange.client
    start, end = datetime(2026, 11, 20, 19, 0, tzinfo=UTC), datetime(2026, 11, 20, 19, 15,
                                                                     tzinfo=UTC)
    candles = fixture_json("get_series_markets_candlesticks")
    rsps.get(BASE + f"/series/KXSOL15M/markets/{TICKER}/candlesticks", json=candles,
             match=[matchers.query_param_matcher({"start_ts": "1795201200",
                                                  "end_ts": "1795202100",
                                                  "period_interval": "1"})])
    assert len(exchange.get_candles("KXSOL15M", TICKER, start, end)) == 2
    rsps.get(BASE + "/markets/candlesticks", json={"markets": [
        {"market_ticker": TICKER, "candlesticks": candles["candlesticks"]}]})
    assert c.get_candlesticks_batch([TICKER], start, end)[0].market_ticker == TICKER
    trades = fixture_json("get_markets_trades")
    trades["cursor"] = ""
    rsps.get(BASE + "/markets/trades", json=trades)
    rsps.get(BASE + "/historical/trades", json=trades)
    assert len(exchange.get_trades(TICKER, since=start)) == 2
    assert len(list(c.iter_trades(historical=True))) == 2
    rsps.get(BASE + "/historical/markets", json=dict(fixture_json("get_markets"), cursor=""))
    rsps.get(BASE + f"/historical/markets/{TICKER}", json=fixture_json("get_market"))
    assert len(list(c.iter_markets(series_ticker="KXSOL15M", historical=True))) == 3
    assert c.get_market(TICKER, historical=True).ticker == TICKER
    rsps.get(BASE + f"/historical/markets/{TICKER}/candlesticks", json={
        "ticker": TICKER, "candlesticks": []})
    assert c.get_historical_candlesticks(TICKER, start, end).candlesticks == []
    rsps.get(BASE + "/exchange/schedule", json={"schedule": {"standard_hours": [],
                                                             "maintenance_windows": []}})
    assert c.get_exchange_schedule().schedule.maintenance_windows == []
    rsps.get(BASE + "/events", json={"events": [
        {"event_ticker": "KXSOL15M-26NOV201415", "series_ticker": "KXSOL15M",
         "title": "SOL", "mutually_exclusive": False}], "cursor": ""})
    assert [e.event_ticker for e in c.iter_events(series_ticker="KXSOL15M")] == [
        "KXSOL15M-26NOV201415"]
    rsps.get(BASE + "/events/KXSOL15M-26NOV201415", json={
        "event": {"event_ticker": "KXSOL15M-26NOV201415", "series_ticker": "KXSOL15M"},
        "markets": [fixture_json("get_market")["market"]]})
    assert c.get_event("KXSOL15M-26NOV201415").markets[0].ticker == TICKER
    rsps.post(ORDERS + "/o9/decrease", json={"order_id": "o9", "remaining_count": "3.00",
                                              "ts_ms": 1})
    order = fixture_json("get_portfolio_orders")["orders"][0]
    rsps.get(BASE + "/portfolio/orders/o9", json={"order": dict(order, order_id="o9")})
    assert exchange.decrease_order("o9", reduce_by=Count(2)) == Count(3)
    # routed to the market's shard by market_ticker (issue 20 item 4; f6e3055 sent none)
    body = json.loads(rsps.calls[-1].request.body)
    assert body == {"market_ticker": order["ticker"], "reduce_by": "2.00"}

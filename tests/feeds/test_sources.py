"""Coinbase and Kraken sources: parsing the documented shapes and mapping HTTP failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from kalshibot.clock import SimClock
from kalshibot.errors import DataError, ExchangeUnavailableError, RateLimitedError
from kalshibot.feeds import (
    CoinbaseSpotSource,
    KrakenSpotSource,
    SpotSource,
    series_to_symbol,
)
from tests.feeds.conftest import T0, raw

CB = "https://api.exchange.coinbase.com"
KR = "https://api.kraken.com/0/public"


def _cb(session: requests.Session, clock: SimClock, **kw: object) -> CoinbaseSpotSource:
    return CoinbaseSpotSource(session, clock, **kw)  # type: ignore[arg-type]


def _kr(session: requests.Session, clock: SimClock, **kw: object) -> KrakenSpotSource:
    return KrakenSpotSource(session, clock, **kw)  # type: ignore[arg-type]


def test_sources_satisfy_protocol(session: requests.Session, clock: SimClock) -> None:
    assert isinstance(_cb(session, clock), SpotSource)
    assert isinstance(_kr(session, clock), SpotSource)


@pytest.mark.parametrize(
    ("series", "symbol"),
    [
        ("KXBTC15M", "BTC"),
        ("KXETH15M", "ETH"),
        ("KXSOL15M", "SOL"),
        ("KXXRP15M", "XRP"),
        ("KXDOGE15M", "DOGE"),
        ("KXBNB15M", "BNB"),
        ("KXBTC15M-26JUN261930-30", "BTC"),
        ("kxeth15m", "ETH"),
    ],
)
def test_series_to_symbol(series: str, symbol: str) -> None:
    assert series_to_symbol(series) == symbol


@pytest.mark.parametrize("bad", ["KXBTCD", "BTC", "KXCPIYOY-26MAR", ""])
def test_series_to_symbol_rejects_other_series(bad: str) -> None:
    with pytest.raises(DataError):
        series_to_symbol(bad)


def test_symbol_mapping(session: requests.Session, clock: SimClock) -> None:
    cb, kr = _cb(session, clock), _kr(session, clock)
    assert [cb.product(s) for s in ("BTC", "ETH", "SOL", "XRP", "DOGE")] == [
        "BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "DOGE-USD",
    ]  # fmt: skip
    assert [kr.pair(s) for s in ("btc", "ETH", "SOL", "XRP", "DOGE")] == [
        "XBTUSD", "ETHUSD", "SOLUSD", "XRPUSD", "XDGUSD",
    ]  # fmt: skip
    assert not cb.supports("HYPE")
    with pytest.raises(DataError):
        kr.pair("HYPE")
    more = _cb(session, clock, products={"HYPE": "HYPE-USD"})
    assert more.supports("hype") and not more.supports("BTC")


# --- Coinbase ---------------------------------------------------------------------------------
@responses.activate
def test_coinbase_ticker_parses_exact_mid(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/BTC-USD/ticker", body=raw("coinbase_ticker_btc.json"))
    q = _cb(session, clock).fetch_quote("BTC")
    assert q.source == "coinbase" and q.symbol == "BTC"
    assert q.bid == Decimal("64152.42") and q.ask == Decimal("64152.44")
    assert q.last == Decimal("64152.43")
    assert q.price == Decimal("64152.43") and isinstance(q.price, Decimal)
    assert q.price_float == pytest.approx(64152.43)
    assert q.ts == T0
    assert q.exchange_ts == datetime(2026, 10, 1, 0, 14, 59, 123456, tzinfo=UTC)


@responses.activate
def test_coinbase_last_basis_and_small_prices(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/DOGE-USD/ticker", body=raw("coinbase_ticker_doge.json"))
    q = _cb(session, clock, price_basis="last").fetch_quote("DOGE")
    assert q.price == Decimal("0.11852")
    assert q.exchange_ts == datetime(2026, 10, 1, 0, 14, 58, 900000, tzinfo=UTC)


@responses.activate
def test_coinbase_missing_field_is_data_error(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/BTC-USD/ticker", body=raw("coinbase_ticker_missing_bid.json"))
    with pytest.raises(DataError, match="bid"):
        _cb(session, clock).fetch_quote("BTC")


def test_coinbase_rejects_crossed_or_bad_values(session: requests.Session, clock: SimClock) -> None:
    cb = _cb(session, clock)
    good = {"bid": "10", "ask": "11", "price": "10.5", "time": "2026-10-01T00:00:00Z"}
    assert cb.parse_ticker("BTC", good, received=T0).price == Decimal("10.5")
    for patch in (
        {"bid": "12"},  # crossed
        {"ask": "0"},
        {"price": "abc"},
        {"price": 10.5},  # float never accepted for a parsed price
        {"time": "yesterday"},
        {"time": "2026-10-01T00:00:00"},  # no zone
    ):
        with pytest.raises(DataError):
            cb.parse_ticker("BTC", {**good, **patch}, received=T0)
    with pytest.raises(DataError):
        cb.parse_ticker("BTC", ["not", "an", "object"], received=T0)


@responses.activate
def test_coinbase_candles_closed_oldest_first(session: requests.Session, clock: SimClock) -> None:
    responses.get(
        f"{CB}/products/BTC-USD/candles",
        body=raw("coinbase_candles_btc.json"),
        match=[matchers.query_param_matcher({"granularity": "60"}, strict_match=False)],
    )
    start = T0 - timedelta(minutes=10)
    candles = _cb(session, clock).fetch_candles("BTC", start, T0)
    # six bars in the body, newest first; the 00:15 bar is still open at 00:15:30
    assert [c.start.minute for c in candles] == [10, 11, 12, 13, 14]
    first = candles[0]
    assert (first.open, first.high, first.low, first.close) == (
        Decimal("64080.0"), Decimal("64100.0"), Decimal("64070.0"), Decimal("64095.0"),
    )  # fmt: skip
    assert candles[3].low == Decimal("64101")  # integer JSON number
    assert first.volume == Decimal("7.3")
    assert all(c.start.tzinfo is UTC for c in candles)


@responses.activate
def test_coinbase_candles_paginate_by_300(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/BTC-USD/candles", body="[]")
    _cb(session, clock).fetch_candles("BTC", T0 - timedelta(minutes=700), T0)
    assert len(responses.calls) == 3


def test_coinbase_candle_row_errors(session: requests.Session, clock: SimClock) -> None:
    cb = _cb(session, clock)
    for body in ({"message": "x"}, [[1790813400, 1, 2]], [["t", 1, 2, 3, 4, 5]]):
        with pytest.raises(DataError):
            cb.parse_candles("BTC", body)


# --- Kraken -----------------------------------------------------------------------------------
@responses.activate
def test_kraken_ticker_canonical_key(session: requests.Session, clock: SimClock) -> None:
    responses.get(
        f"{KR}/Ticker",
        body=raw("kraken_ticker_btc.json"),
        match=[matchers.query_param_matcher({"pair": "XBTUSD"})],
    )
    q = _kr(session, clock).fetch_quote("BTC")
    assert q.source == "kraken"
    assert (q.bid, q.ask, q.last) == (
        Decimal("64157.90000"), Decimal("64158.10000"), Decimal("64158.00000"),
    )  # fmt: skip
    assert q.price == Decimal("64158.0")
    assert q.exchange_ts is None and q.ts == T0


@responses.activate
def test_kraken_doge_pair(session: requests.Session, clock: SimClock) -> None:
    responses.get(
        f"{KR}/Ticker",
        body=raw("kraken_ticker_doge.json"),
        match=[matchers.query_param_matcher({"pair": "XDGUSD"})],
    )
    assert _kr(session, clock).fetch_quote("DOGE").price == Decimal("0.1185300")


@responses.activate
def test_kraken_missing_field(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{KR}/Ticker", body=raw("kraken_ticker_missing_ask.json"))
    with pytest.raises(DataError, match="'a'"):
        _kr(session, clock).fetch_quote("BTC")


@responses.activate
@pytest.mark.parametrize(
    ("fixture", "error"),
    [
        ("kraken_error_unknown_pair.json", DataError),
        ("kraken_error_unavailable.json", ExchangeUnavailableError),
    ],
)
def test_kraken_error_array(
    session: requests.Session, clock: SimClock, fixture: str, error: type[Exception]
) -> None:
    responses.get(f"{KR}/Ticker", body=raw(fixture))
    with pytest.raises(error):
        _kr(session, clock).fetch_quote("BTC")


def test_kraken_rate_limit_error_array(session: requests.Session, clock: SimClock) -> None:
    with pytest.raises(RateLimitedError):
        _kr(session, clock).parse_ticker(
            "BTC", "XBTUSD", {"error": ["EAPI:Rate limit exceeded"]}, received=T0
        )
    with pytest.raises(DataError):  # neither error nor result
        _kr(session, clock).parse_ticker("BTC", "XBTUSD", {"result": {}}, received=T0)


@responses.activate
def test_kraken_ohlc(session: requests.Session, clock: SimClock) -> None:
    responses.get(
        f"{KR}/OHLC",
        body=raw("kraken_ohlc_btc.json"),
        match=[
            matchers.query_param_matcher(
                {"pair": "XBTUSD", "interval": "1", "since": str(1790813400 - 60)}
            )
        ],
    )
    start = datetime(2026, 10, 1, 0, 10, tzinfo=UTC)
    candles = _kr(session, clock).fetch_candles("BTC", start, T0)
    assert [c.start.minute for c in candles] == [10, 11, 12, 13, 14]  # open 00:15 bar dropped
    assert candles[-1].close == Decimal("64152.0")
    assert candles[0].volume == Decimal("2.10000000")


# --- HTTP failures (both sources share the mapping) -------------------------------------------
@responses.activate
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"status": 500, "body": "oops"}, ExchangeUnavailableError),
        ({"status": 503, "json": {"message": "maintenance"}}, ExchangeUnavailableError),
        ({"status": 429, "json": {"message": "slow down"}}, RateLimitedError),
        ({"status": 404, "json": {"message": "NotFound"}}, DataError),
        ({"status": 200, "body": "<html>not json</html>"}, DataError),
        ({"body": requests.ConnectTimeout("timed out")}, ExchangeUnavailableError),
        ({"body": requests.ConnectionError("refused")}, ExchangeUnavailableError),
    ],
)
def test_http_errors_map_to_typed_errors(
    session: requests.Session, clock: SimClock, kwargs: dict[str, object], error: type[Exception]
) -> None:
    responses.get(f"{CB}/products/BTC-USD/ticker", **kwargs)
    responses.get(f"{KR}/Ticker", **kwargs)
    with pytest.raises(error):
        _cb(session, clock).fetch_quote("BTC")
    with pytest.raises(error):
        _kr(session, clock).fetch_quote("BTC")


def test_requests_use_timeouts(clock: SimClock) -> None:
    seen: list[object] = []

    class Spy(requests.Session):
        def get(self, url: str | bytes, **kw: object) -> requests.Response:  # type: ignore[override]
            seen.append(kw.get("timeout"))
            raise requests.ReadTimeout("slow")

    with pytest.raises(ExchangeUnavailableError):
        _cb(Spy(), clock, timeout=(1.0, 2.0)).fetch_quote("BTC")
    with pytest.raises(ExchangeUnavailableError):
        _kr(Spy(), clock).fetch_quote("BTC")
    assert seen[0] == (1.0, 2.0) and seen[1] is not None

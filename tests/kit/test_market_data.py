"""The market-data fake answers what the 3.34 spec says, for a month of one 15-minute series."""

from __future__ import annotations

from typing import Any

import pytest
from referencing import Registry

from tests.kalshi.test_kalshi_contract import errors
from tests.kit.market_data import MarketDataFake, _ts


@pytest.fixture(scope="module")
def fake() -> MarketDataFake:
    return MarketDataFake(days=30, seed=7)


def _ok(fake: MarketDataFake, path: str, **q: Any) -> Any:
    status, body = fake.handle("GET", path, {k: str(v) for k, v in q.items()})
    assert status == 200, body
    return body


def test_a_month_is_2880_markets_split_at_the_cutoff(fake: MarketDataFake) -> None:
    assert len(fake.markets) == 30 * 96
    hist = [m for m in fake.markets if fake.historical(m)]
    assert 0 < len(hist) < len(fake.markets)
    assert all(m["result"] in ("yes", "no") for m in fake.markets if m["status"] == "finalized")


def test_events_page_by_series_in_200s(fake: MarketDataFake) -> None:
    seen, cursor, pages = [], "", 0
    while True:
        q = {"series_ticker": fake.series, "limit": 200} | ({"cursor": cursor} if cursor else {})
        body = _ok(fake, "/events", **q)
        seen += [e["event_ticker"] for e in body["events"]]
        pages += 1
        cursor = body["cursor"]
        if not cursor:
            break
    assert pages == 15 and len(set(seen)) == 2880
    assert fake.handle("GET", "/events", {"limit": "201"})[0] == 400


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = (MarketDataFake(days=1, seed=s) for s in (1, 1, 2))
    assert [m["result"] for m in a.markets] == [m["result"] for m in b.markets]
    assert a.spot != c.spot


def test_results_follow_the_spot_path(fake: MarketDataFake) -> None:
    for m in fake.markets[:200]:
        if m["status"] == "finalized":
            up = float(m["expiration_value"]) >= float(m["floor_strike"])
            assert m["result"] == ("yes" if up else "no")


def test_every_answer_validates_against_the_spec(fake: MarketDataFake, registry: Registry) -> None:
    _check_all(fake, registry)


def _check_all(fake: MarketDataFake, registry: Registry) -> None:
    live = next(m for m in fake.markets if m["status"] == "finalized" and not fake.historical(m))
    old = next(m for m in fake.markets if fake.historical(m))
    o, c = live["open_time"], live["close_time"]
    s, e = _ts(o), _ts(c)
    hs, he = _ts(old["open_time"]), _ts(old["close_time"])
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/historical/cutoff", {}, "GetHistoricalCutoffResponse"),
        (f"/series/{fake.series}", {}, "GetSeriesResponse"),
        ("/events", {"series_ticker": fake.series, "limit": 200}, "GetEventsResponse"),
        ("/markets", {"series_ticker": fake.series, "limit": 1000}, "GetMarketsResponse"),
        ("/historical/markets", {"series_ticker": fake.series, "limit": 50}, "GetMarketsResponse"),
        (
            f"/series/{fake.series}/markets/{live['ticker']}/candlesticks",
            {"start_ts": s, "end_ts": e, "period_interval": 1},
            "GetMarketCandlesticksResponse",
        ),
        (
            "/markets/candlesticks",
            {"market_tickers": live["ticker"], "start_ts": s, "end_ts": e, "period_interval": 1},
            "BatchGetMarketCandlesticksResponse",
        ),
        (
            f"/historical/markets/{old['ticker']}/candlesticks",
            {"start_ts": hs, "end_ts": he, "period_interval": 1},
            "GetMarketCandlesticksHistoricalResponse",
        ),
        ("/events/" + live["event_ticker"], {}, "GetEventResponse"),
        ("/markets/trades", {"ticker": live["ticker"]}, "GetTradesResponse"),
        ("/historical/trades", {"ticker": old["ticker"]}, "GetTradesResponse"),
    ]
    for path, q, schema in cases:
        body = _ok(fake, path, **q)
        assert errors(registry, schema, body) == [], (path, schema)
    candles = _ok(fake, cases[5][0], **cases[5][1])["candlesticks"]
    assert len(candles) == 15 and all(s < x["end_period_ts"] <= e for x in candles)


def test_batch_candles_refuse_more_than_100_tickers(fake: MarketDataFake) -> None:
    tickers = ",".join(m["ticker"] for m in fake.markets[-101:])
    q = {"market_tickers": tickers, "start_ts": "0", "end_ts": "1", "period_interval": "1"}
    assert fake.handle("GET", "/markets/candlesticks", q)[0] == 400


def test_requests_are_counted_by_endpoint(fake: MarketDataFake) -> None:
    before = fake.requests["/series/{t}"]
    fake.handle("GET", f"/series/{fake.series}", {})
    assert fake.requests["/series/{t}"] == before + 1

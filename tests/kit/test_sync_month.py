"""``data sync`` of a month of KXBTC15M against the market-data fake: request economy."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import responses

from kalshibot.clock import SimClock
from kalshibot.ingest.sync import SyncOptions, run_sync
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.kalshi.http import HttpClient
from kalshibot.store import open_store
from tests.kalshi.helpers import BASE
from tests.kit.market_data import MarketDataFake, _ts

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def test_events_of_a_month_come_in_pages_of_200_not_one_request_per_market(
        rsps: responses.RequestsMock, tmp_path: object) -> None:
    """On f6e3055 this made 2,880 ``GET /events/{ticker}`` requests (one per market)."""
    fake = MarketDataFake(days=30, seed=3, now=NOW)
    fake.install(rsps, BASE)
    clock = SimClock(NOW)
    client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
    conn = open_store(f"{tmp_path}/s.db")
    opts = SyncOptions(series=(fake.series,), since=NOW - timedelta(days=30), until=NOW,
                       candles=False, trades=False, account_settlements=False)
    report = run_sync(client, conn, opts, clock=clock)
    n_events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert n_events == len(fake.markets) == 2880, report
    assert fake.requests["/events/{t}"] == 0
    assert fake.requests["/events"] <= 15


CANDLE_TRADE = ("/series/{t}/markets/{t}/candlesticks", "/historical/markets/{t}/candlesticks",
                "/markets/candlesticks", "/markets/trades", "/historical/trades")


def test_rerunning_a_sync_asks_nothing_new_for_settled_markets(
        rsps: responses.RequestsMock, tmp_path: object) -> None:
    """Two days across the historical cutoff: the second identical run makes no candle or
    trade request, and stores nothing new."""
    fake = MarketDataFake(days=2, seed=5, now=NOW, cutoff_days=1)
    fake.install(rsps, BASE)
    clock = SimClock(NOW)
    client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
    conn = open_store(f"{tmp_path}/s.db")
    opts = SyncOptions(series=(fake.series,), status="settled", since=NOW - timedelta(days=2),
                       until=NOW, account_settlements=False)
    first = run_sync(client, conn, opts, clock=clock)
    assert first.added["candles"] > 0 and first.added["trades"] > 0, first
    before = sum(fake.requests[k] for k in CANDLE_TRADE)
    assert before > 0
    second = run_sync(client, conn, opts, clock=clock)
    assert sum(fake.requests[k] for k in CANDLE_TRADE) == before, fake.requests
    assert second.added["candles"] == 0 and second.added["trades"] == 0


def test_live_candles_come_in_batches_and_match_the_exchange_exactly(
        rsps: responses.RequestsMock, tmp_path: object) -> None:
    """Two days of live-listed markets (192): a few batch requests, no per-market candle
    request, and every market's stored candles are exactly what the exchange has for it."""
    fake = MarketDataFake(days=2, seed=9, now=NOW, cutoff_days=5)
    fake.install(rsps, BASE)
    clock = SimClock(NOW)
    client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
    conn = open_store(f"{tmp_path}/s.db")
    opts = SyncOptions(series=(fake.series,), status="settled", since=NOW - timedelta(days=2),
                       until=NOW, trades=False, account_settlements=False)
    run_sync(client, conn, opts, clock=clock)
    assert fake.requests["/series/{t}/markets/{t}/candlesticks"] == 0
    assert 0 < fake.requests["/markets/candlesticks"] <= 4
    want = {(m["ticker"], c["end_period_ts"], c["yes_bid"]["close_dollars"])
            for m in fake.markets if m["status"] == "finalized"
            for c in fake.candles(m, _ts(m["open_time"]), _ts(m["close_time"]), hist=False)}
    got = {(t, ts, bid) for t, ts, bid in conn.execute(
        "SELECT ticker, end_ts / 1000, yes_bid_close FROM candles")}
    assert len(want) > 0
    assert got == {(t, ts, int(Decimal(bid) * 10_000)) for t, ts, bid in want}


def test_the_series_category_is_stored(rsps: responses.RequestsMock, tmp_path: object) -> None:
    """On f6e3055 the category was stored empty."""
    fake = MarketDataFake(days=1, seed=1, now=NOW)
    fake.install(rsps, BASE)
    clock = SimClock(NOW)
    client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
    conn = open_store(f"{tmp_path}/s.db")
    opts = SyncOptions(series=(fake.series,), since=NOW - timedelta(hours=2), until=NOW,
                       candles=False, trades=False, account_settlements=False)
    run_sync(client, conn, opts, clock=clock)
    assert conn.execute("SELECT category FROM series").fetchall() == [("Crypto",)]


def test_a_month_costs_few_requests_per_1000_settled_markets(
        rsps: responses.RequestsMock, tmp_path: object) -> None:
    """The report counts every request; a month of KXBTC15M (2,880 markets, cutoff 10 days
    back) needs far fewer than the 7,098 requests (~2,460 per 1,000) f6e3055 spent."""
    fake = MarketDataFake(days=30, seed=3, now=NOW)
    fake.install(rsps, BASE)
    clock = SimClock(NOW)
    client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
    conn = open_store(f"{tmp_path}/s.db")
    opts = SyncOptions(series=(fake.series,), status="settled", since=NOW - timedelta(days=30),
                       until=NOW, trades=False, account_settlements=False)
    report = run_sync(client, conn, opts, clock=clock)
    assert report.requests == sum(fake.requests.values())
    assert report.per_1000_settled is not None and report.per_1000_settled < 1000
    assert report.to_json()["requests"] == report.requests


@pytest.mark.parametrize("status", [429, 503])
def test_injected_faults_change_nothing_stored(tmp_path: object, status: int) -> None:
    """Every 5th request fails with ``status``: the rate limiter's retries store exactly
    what a clean run stores."""
    stored, faults = [], []
    for every in (0, 5):
        fake = MarketDataFake(days=1, seed=4, now=NOW, cutoff_days=0.5)
        fake.fault_every, fake.fault_status = every, status
        with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
            fake.install(r, BASE)
            clock = SimClock(NOW)
            client = KalshiClient(HttpClient(BASE, clock, rng=random.Random(7)))
            conn = open_store(f"{tmp_path}/s{every}.db")
            opts = SyncOptions(series=(fake.series,), status="settled",
                               since=NOW - timedelta(days=1), until=NOW,
                               account_settlements=False)
            report = run_sync(client, conn, opts, clock=clock)
            assert report.ok, report.stopped
            stored.append([conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                           for t in ("markets", "events", "candles", "trades")])
        faults.append(fake.fault_every and fake._n // fake.fault_every)
    assert faults[1] > 10
    assert stored[0] == stored[1] and stored[0][2] and stored[0][3]

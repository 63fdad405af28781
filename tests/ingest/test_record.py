"""`data record`: polls with `responses` + SimClock; books and spot stored; clean stops."""

from __future__ import annotations

import copy
import signal
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses

from kalshibot.clock import SimClock
from kalshibot.feeds import CoinbaseSpotSource, KrakenSpotSource, SpotFeed
from kalshibot.ingest.record import (
    RecordOptions,
    RecordReport,
    StopFlag,
    install_signal_handlers,
    run_record,
)
from kalshibot.kalshi.endpoints.client import KalshiClient
from kalshibot.store import integrity_check
from kalshibot.store.books import latest_books
from kalshibot.store.spot import latest_spot
from tests.ingest.conftest import ACTIVE, NEXT, NOW, SERIES, FakeKalshi

FEED_FIXTURES = Path(__file__).resolve().parents[1] / "feeds" / "fixtures"
CB = "https://api.exchange.coinbase.com"
KR = "https://api.kraken.com/0/public"


@pytest.fixture
def spot(rsps: responses.RequestsMock, clock: SimClock) -> SpotFeed:
    rsps.get(f"{CB}/products/BTC-USD/ticker",
             body=(FEED_FIXTURES / "coinbase_ticker_btc.json").read_text())
    rsps.get(f"{KR}/Ticker", body=(FEED_FIXTURES / "kraken_ticker_btc.json").read_text())
    session = requests.Session()
    return SpotFeed([CoinbaseSpotSource(session, clock), KrakenSpotSource(session, clock)],
                    clock, symbols=("BTC",))


def opts(**kw: object) -> RecordOptions:
    base: dict[str, object] = {"series": (SERIES,), "tickers": (ACTIVE,), "interval_s": 5.0,
                               "max_polls": 4, "refresh_markets_s": 10.0, "symbols": ("BTC",)}
    base.update(kw)
    return RecordOptions(**base)  # type: ignore[arg-type]


def count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_polls_store_books_and_spot(fake: FakeKalshi, client: KalshiClient,
                                    conn: sqlite3.Connection, clock: SimClock,
                                    spot: SpotFeed) -> None:
    report = run_record(client, conn, opts(), clock=clock, spot=spot)
    assert report.polls == 4 and report.failed_polls == 0
    assert report.stopped == "max polls (4) reached"
    # ACTIVE (explicit) + NEXT (the series' market still open at 19:20); 4 polls, 5 s apart
    assert report.book_rows == count(conn, "book_snapshots") == 8
    assert report.spot_rows == count(conn, "spot_prices") == 8  # 2 sources x 4 polls
    assert report.market_refreshes == 2  # t=0 and t=10 s
    assert fake.count("/markets/orderbooks") == 4
    ts = [r[0] for r in conn.execute(
        "SELECT DISTINCT ts FROM book_snapshots ORDER BY ts")]
    # polls start every 5 s; a snapshot is stamped when its books arrive (after the rate
    # limiter's spacing, which also runs on the simulated clock)
    assert len(ts) == 4 and all(4500 <= b - a <= 5500 for a, b in zip(ts, ts[1:], strict=False))
    book = latest_books(conn, [NEXT])[NEXT]
    assert book.best_bid is not None
    assert [lv.price.value for lv in book.yes_bids] == [Decimal("0.47"), Decimal("0.46"),
                                                      Decimal("0.45"), Decimal("0.44")]
    s = latest_spot(conn, "BTC", "kraken")
    assert s is not None and s.price == Decimal("64158.00000")  # bid/ask mid, exact
    assert integrity_check(conn) == []
    assert clock.now() - NOW >= timedelta(seconds=15)


def test_new_series_markets_are_picked_up(fake: FakeKalshi, client: KalshiClient,
                                          conn: sqlite3.Connection, clock: SimClock) -> None:
    def add_market(r: RecordReport) -> None:
        if r.polls == 1:
            m = copy.deepcopy(next(x for x in fake.markets if x["ticker"] == NEXT))
            m["ticker"], m["event_ticker"] = "KXSOL15M-26NOV201445-45", "KXSOL15M-26NOV201445"
            m["close_time"] = "2026-11-20T19:45:00Z"
            fake.markets.append(m)

    report = run_record(client, conn, opts(tickers=(), max_polls=3), clock=clock,
                        on_poll=add_market)
    polled = [q["tickers"].split(",") for p, q in fake.calls if p == "/markets/orderbooks"]
    assert polled == [[NEXT], [NEXT], [NEXT, "KXSOL15M-26NOV201445-45"]]
    assert report.book_rows == 4 and report.spot_rows == 0


def test_stop_flag_and_sigterm_stop_cleanly(fake: FakeKalshi, client: KalshiClient,
                                            conn: sqlite3.Connection, clock: SimClock) -> None:
    stop = StopFlag()
    restore = install_signal_handlers(stop)
    try:
        def term_after_two(r: RecordReport) -> None:
            if r.polls == 2:
                signal.raise_signal(signal.SIGTERM)

        report = run_record(client, conn, opts(max_polls=None), clock=clock, stop=stop,
                            on_poll=term_after_two)
    finally:
        restore()
    assert report.polls == 2 and report.stopped == "SIGTERM received"
    assert count(conn, "book_snapshots") == 4
    assert not conn.in_transaction


def test_duration_bounds_the_session(fake: FakeKalshi, client: KalshiClient,
                                     conn: sqlite3.Connection, clock: SimClock) -> None:
    report = run_record(client, conn, opts(max_polls=None, duration_s=12.0), clock=clock)
    assert report.polls == 3  # t = 0, 5, 10
    assert report.stopped.startswith("duration")
    assert report.seconds == pytest.approx(12.0)


def test_interrupted_poll_writes_nothing(fake: FakeKalshi, client: KalshiClient,
                                         conn: sqlite3.Connection, clock: SimClock,
                                         spot: SpotFeed, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    import kalshibot.ingest.record as rec

    real = rec.upsert_spot
    calls = {"n": 0}

    def crash_on_second(c: sqlite3.Connection, prices: object) -> int:
        calls["n"] += 1
        n = real(c, prices)  # type: ignore[arg-type]
        if calls["n"] == 2:  # after books and spot of poll 2 are written, before commit
            raise KeyboardInterrupt
        return n

    monkeypatch.setattr(rec, "upsert_spot", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_record(client, conn, opts(), clock=clock, spot=spot)
    assert count(conn, "book_snapshots") == 2  # only poll 1
    assert count(conn, "spot_prices") == 2
    assert not conn.in_transaction and integrity_check(conn) == []


def test_failed_poll_is_counted_and_recording_goes_on(fake: FakeKalshi, client: KalshiClient,
                                                      conn: sqlite3.Connection,
                                                      clock: SimClock) -> None:
    fake.fail[("/markets/orderbooks", None)] = 4  # every retry of poll 1
    report = run_record(client, conn, opts(max_polls=3), clock=clock)
    assert report.failed_polls == 1 and report.polls == 2
    assert "connection failed" in report.errors[0]
    assert count(conn, "book_snapshots") == 4


def test_too_many_failures_stop(fake: FakeKalshi, client: KalshiClient,
                                conn: sqlite3.Connection, clock: SimClock) -> None:
    fake.fail[("/markets/orderbooks", None)] = 1000
    report = run_record(client, conn, opts(max_polls=None, max_consecutive_errors=3),
                        clock=clock)
    assert report.polls == 0 and report.failed_polls == 3
    assert "3 polls failed in a row" in report.stopped

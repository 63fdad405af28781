"""SpotFeed over both sources with `responses`: refresh, staleness, failures, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
import responses

from kalshibot.clock import SimClock
from kalshibot.errors import ConfigError, ExchangeUnavailableError
from kalshibot.feeds import (
    CoinbaseSpotSource,
    KrakenSpotSource,
    Resolution,
    SpotCandle,
    SpotFeed,
    SpotFeedConfig,
    SpotFeedLike,
    SpotQuote,
    SpotSource,
    SpotUnavailableError,
)
from tests.feeds.conftest import T0, raw

CB = "https://api.exchange.coinbase.com"
KR = "https://api.kraken.com/0/public"
CB_MID = Decimal("64152.43")
KR_MID = Decimal("64158.0")


def make_feed(
    session: requests.Session, clock: SimClock, config: SpotFeedConfig | None = None
) -> SpotFeed:
    sources: list[SpotSource] = [
        CoinbaseSpotSource(session, clock),
        KrakenSpotSource(session, clock),
    ]
    return SpotFeed(sources, clock, config, symbols=("BTC", "DOGE"))


def mock_btc() -> None:
    responses.get(f"{CB}/products/BTC-USD/ticker", body=raw("coinbase_ticker_btc.json"))
    responses.get(f"{KR}/Ticker", body=raw("kraken_ticker_btc.json"))


@responses.activate
def test_refresh_then_latest_is_median(session: requests.Session, clock: SimClock) -> None:
    mock_btc()
    feed: SpotFeedLike = make_feed(session, clock)  # live and replay share one interface
    statuses = feed.refresh(("BTC",))
    assert statuses["BTC"].ok
    p = feed.latest("btc")
    assert p.price == (CB_MID + KR_MID) / 2 == Decimal("64155.215")
    assert p.sources == ("coinbase", "kraken") and p.ts == T0 and p.age_s == 0
    assert p.price_float == pytest.approx(64155.215)
    st = feed.status("BTC")
    assert st.prices == {"coinbase": CB_MID, "kraken": KR_MID}
    assert st.diverging == () and st.stale == () and st.failed == {}


@responses.activate
def test_goes_stale_between_refreshes(session: requests.Session, clock: SimClock) -> None:
    mock_btc()
    feed = make_feed(session, clock, SpotFeedConfig(stale_after_s=5))
    feed.refresh(("BTC",))
    clock.advance(timedelta(seconds=4))
    assert feed.status("BTC").age_s == pytest.approx(4)
    clock.advance(timedelta(seconds=2))
    st = feed.status("BTC")
    assert not st.ok and st.stale == ("coinbase", "kraken")
    with pytest.raises(SpotUnavailableError) as info:
        feed.latest("BTC")
    assert info.value.status is st or info.value.status == st
    assert "no fresh source" in str(info.value)


@responses.activate
def test_failing_source_recorded_and_other_used(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/BTC-USD/ticker", body=raw("coinbase_ticker_btc.json"))
    responses.get(f"{KR}/Ticker", status=502)
    feed = make_feed(session, clock)
    st = feed.refresh(("BTC",))["BTC"]
    assert st.ok and st.used == ("coinbase",) and st.price == CB_MID
    assert set(st.failed) == {"kraken"} and "502" in st.failed["kraken"]


@responses.activate
def test_all_sources_down_refuses(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/BTC-USD/ticker", body=requests.ConnectionError("down"))
    responses.get(f"{KR}/Ticker", body=raw("kraken_error_unavailable.json"))
    feed = make_feed(session, clock)
    st = feed.refresh(("BTC",))["BTC"]
    assert not st.ok and st.reason is not None and st.reason.startswith("no source")
    assert set(st.failed) == {"coinbase", "kraken"}
    assert feed.history("BTC", "1s") == []


def test_diverging_sources_refuse(clock: SimClock) -> None:
    class Fixed:
        def __init__(self, name: str, price: str) -> None:
            self.name, self.price = name, Decimal(price)

        def supports(self, symbol: str) -> bool:
            return True

        def fetch_quote(self, symbol: str) -> SpotQuote:
            return SpotQuote(self.name, symbol, self.price, clock.now())

        def fetch_candles(self, symbol: str, start: datetime, end: datetime) -> list[SpotCandle]:
            return []

    feed = SpotFeed([Fixed("a", "100"), Fixed("b", "105")], clock, symbols=("BTC",))
    st = feed.refresh()["BTC"]
    assert not st.ok and st.excluded == ("a", "b") and "diverge" in (st.reason or "")
    assert feed.history("BTC", Resolution.SECOND) == []
    three = SpotFeed(
        [Fixed("a", "100"), Fixed("b", "100.1"), Fixed("c", "105")], clock, symbols=("BTC",)
    )
    st3 = three.refresh()["BTC"]
    assert st3.ok and st3.excluded == ("c",) and st3.price == Decimal("100.05")


def test_history_resolutions_and_ring_bound(clock: SimClock) -> None:
    class Ramp:
        name = "ramp"

        def __init__(self) -> None:
            self.n = 0

        def supports(self, symbol: str) -> bool:
            return symbol == "BTC"

        def fetch_quote(self, symbol: str) -> SpotQuote:
            self.n += 1
            return SpotQuote(self.name, symbol, Decimal(100 + self.n), clock.now())

        def fetch_candles(self, symbol: str, start: datetime, end: datetime) -> list[SpotCandle]:
            return []

    cfg = SpotFeedConfig(history_1s=100, history_1m=3)
    feed = SpotFeed([Ramp()], clock, cfg, symbols=("BTC",))
    start = clock.now()  # 00:15:30
    for _ in range(300):  # two polls per second for 150 s
        feed.refresh()
        clock.advance(timedelta(milliseconds=500))
    sec = feed.history("BTC", "1s")
    assert len(sec) == 100  # bounded
    assert all(b.count == 2 for b in sec)
    assert sec[-1].close == Decimal(400) and sec[-1].open == Decimal(399)
    assert sec[-1].start == start + timedelta(seconds=149)
    minute = feed.history("BTC", Resolution.MINUTE)
    assert [b.start.minute for b in minute] == [15, 16, 17]
    assert minute[0].count == 60 and minute[1].count == 120 and minute[2].count == 120
    m16 = minute[1]
    assert (m16.open, m16.high, m16.low, m16.close) == (
        Decimal(161), Decimal(280), Decimal(161), Decimal(280),
    )  # fmt: skip
    since = datetime(2026, 10, 1, 0, 16, 59, 500000, tzinfo=UTC)
    assert [b.start.minute for b in feed.history("BTC", "1m", since)] == [16, 17]
    assert feed.history("BTC", "1s", since)[0].start == since.replace(microsecond=0)
    with pytest.raises(ConfigError):
        feed.history("BTC", "5m")
    # settlement window (T-60, T] before 00:18:00, one sample per whole second: the close of
    # the second starting there (f6e3055 averaged [T-60, T) instead: one second early)
    end = datetime(2026, 10, 1, 0, 18, tzinfo=UTC)
    avg = feed.average("BTC", end - timedelta(seconds=60), end)
    assert end == start + timedelta(seconds=150)
    # the second starting at offset o (s after ``start``) closes at poll 2o+2, price 102 + 2o;
    # offsets 91..149, and 150 (no poll yet) holds 149's close, 400
    assert avg == (sum(Decimal(102 + 2 * o) for o in range(91, 150)) + 400) / 60


def test_unknown_symbol_and_bad_setup(session: requests.Session, clock: SimClock) -> None:
    feed = make_feed(session, clock)
    with pytest.raises(SpotUnavailableError):
        feed.status("HYPE")
    with pytest.raises(SpotUnavailableError):
        feed.average("BTC", T0 - timedelta(seconds=60), T0)
    cb = CoinbaseSpotSource(session, clock)
    with pytest.raises(ConfigError):
        SpotFeed([cb, cb], clock)
    with pytest.raises(ConfigError):
        SpotFeed([], clock)


@responses.activate
def test_backfill_minutes_from_candles(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/BTC-USD/candles", body=raw("coinbase_candles_btc.json"))
    responses.get(f"{KR}/OHLC", body=raw("kraken_ohlc_btc.json"))
    feed = make_feed(session, clock)
    added = feed.backfill("BTC", datetime(2026, 10, 1, 0, 10, tzinfo=UTC))
    assert added == 5
    bars = feed.history("BTC", "1m")
    assert [b.start.minute for b in bars] == [10, 11, 12, 13, 14]
    assert bars[0].close == (Decimal("64095.0") + Decimal("64097.0")) / 2
    assert all(b.count == 2 for b in bars)
    # re-running adds nothing (existing minutes win)
    assert feed.backfill("BTC", datetime(2026, 10, 1, 0, 10, tzinfo=UTC)) == 0


@responses.activate
def test_backfill_all_sources_failing_raises(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/BTC-USD/candles", status=500)
    responses.get(f"{KR}/OHLC", status=503)
    with pytest.raises(ExchangeUnavailableError):
        make_feed(session, clock).backfill("BTC", T0 - timedelta(minutes=5))


@responses.activate
def test_doge_both_sources(session: requests.Session, clock: SimClock) -> None:
    responses.get(f"{CB}/products/DOGE-USD/ticker", body=raw("coinbase_ticker_doge.json"))
    responses.get(f"{KR}/Ticker", body=raw("kraken_ticker_doge.json"))
    feed = make_feed(session, clock)
    st = feed.refresh(("DOGE",))["DOGE"]
    assert st.ok and st.price == (Decimal("0.11852") + Decimal("0.1185300")) / 2

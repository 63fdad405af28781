"""ReplaySpotFeed / StaticSpotFeed: same interface over a DataFrame, no look-ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from kalshibot.clock import SimClock
from kalshibot.errors import DataError
from kalshibot.feeds import (
    ReplaySpotFeed,
    SpotFeedConfig,
    SpotFeedLike,
    SpotUnavailableError,
    StaticSpotFeed,
)

S = datetime(2026, 10, 1, 0, 0, tzinfo=UTC)


def frame() -> pd.DataFrame:
    rows = []
    for i in range(120):  # two sources, one row per second each for 2 minutes
        t = pd.Timestamp(S + timedelta(seconds=i))
        rows.append((t, "coinbase", "BTC", f"{64000 + i}.00"))
        rows.append((t, "kraken", "BTC", f"{64002 + i}.00"))
    rows.append((pd.Timestamp(S), "coinbase", "ETH", "2500.5"))
    return pd.DataFrame(rows, columns=["ts", "source", "symbol", "price"])


def test_same_interface_and_no_lookahead() -> None:
    clock = SimClock(S + timedelta(seconds=30, milliseconds=500))
    feed: SpotFeedLike = ReplaySpotFeed(frame(), clock)
    assert feed.symbols() == ("BTC", "ETH")
    p = feed.latest("BTC")
    assert p.price == Decimal("64031.00")  # median of 64030 and 64032 at 00:00:30
    assert p.age_s == pytest.approx(0.5)
    bars = feed.history("BTC", "1s")
    assert len(bars) == 31 and bars[-1].start == S + timedelta(seconds=30)
    assert bars[-1].close == Decimal("64031.00") and bars[-1].count == 1
    assert feed.history("BTC", "1m")[-1].close == Decimal("64031.00")
    clock.advance(timedelta(seconds=60))
    minute = feed.history("BTC", "1m")
    assert [b.start for b in minute] == [S, S + timedelta(minutes=1)]
    assert minute[0].open == Decimal("64001.00") and minute[0].close == Decimal("64060.00")
    assert minute[0].count == 60
    assert feed.refresh()["BTC"].ok


def test_stale_and_diverging_in_replay() -> None:
    clock = SimClock(S + timedelta(seconds=30))
    feed = ReplaySpotFeed(frame(), clock, SpotFeedConfig(stale_after_s=10))
    st = feed.status("ETH")
    assert not st.ok and st.stale == ("coinbase",)
    with pytest.raises(SpotUnavailableError):
        feed.latest("ETH")
    df = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2026-10-01T00:00:00Z"] * 2),
            "source": ["a", "b"],
            "symbol": ["SOL", "SOL"],
            "price": ["150", "160"],
        }
    )
    st2 = ReplaySpotFeed(df, clock, SpotFeedConfig(stale_after_s=60)).status("SOL")
    assert not st2.ok and "diverge" in (st2.reason or "")


def test_history_since_and_average() -> None:
    clock = SimClock(S + timedelta(minutes=5))
    feed = ReplaySpotFeed(frame(), clock)
    since = S + timedelta(seconds=100, milliseconds=300)
    bars = feed.history("BTC", "1s", since=since, until=S + timedelta(seconds=104))
    assert [b.start for b in bars] == [S + timedelta(seconds=s) for s in range(100, 105)]
    end = S + timedelta(seconds=120)
    avg = feed.average("BTC", end - timedelta(seconds=60), end)
    # Kalshi's window (T-60, T]: seconds 61..120; second 120 has no row and holds 119's level
    # (on f6e3055 the window was [T-60, T): seconds 60..119)
    assert avg == (sum(Decimal(64001 + i) for i in range(61, 120)) + 64001 + 119) / 60


def test_frame_validation() -> None:
    clock = SimClock(S)
    with pytest.raises(DataError, match="missing columns"):
        ReplaySpotFeed(pd.DataFrame({"ts": [], "price": []}), clock)
    naive = frame().assign(ts=lambda d: d["ts"].dt.tz_localize(None))
    with pytest.raises(DataError, match="timezone"):
        ReplaySpotFeed(naive, clock)
    bad = frame()
    bad.loc[3, "price"] = "-1"
    with pytest.raises(DataError, match="row 3"):
        ReplaySpotFeed(bad, clock)
    with pytest.raises(SpotUnavailableError):
        ReplaySpotFeed(frame(), clock).status("DOGE")


def test_float_prices_and_string_times_accepted() -> None:
    df = pd.DataFrame(
        {
            "ts": ["2026-10-01T00:00:00Z", "2026-10-01T00:00:01Z"],
            "source": ["x", "x"],
            "symbol": ["xrp", "xrp"],
            "price": [0.5123, 0.5124],
        }
    )
    feed = ReplaySpotFeed(df, SimClock(S + timedelta(seconds=1)))
    assert feed.latest("XRP").price == Decimal("0.5124")


def test_static_feed_never_stale() -> None:
    clock = SimClock(S)
    feed = StaticSpotFeed({"BTC": Decimal("65000"), "ETH": "2500.25"}, clock)
    clock.advance(timedelta(days=3))
    assert feed.latest("BTC").price == Decimal("65000")
    assert feed.latest("eth").price_float == pytest.approx(2500.25)
    assert feed.status("BTC").used == ("static",)

"""ReferenceFeed: index primary, exchange-spot fallback with its basis, stale limits, and the
settlement window (T-60, T]; all on an injected clock."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from kalshibot.clock import SimClock
from kalshibot.feeds import SpotCandle, SpotFeed, SpotFeedConfig, SpotQuote, SpotUnavailableError
from kalshibot.feeds.index import IndexTape, RunningAverage
from kalshibot.feeds.reference import (
    BPS,
    ReferenceConfig,
    ReferenceFeed,
    replay_reference,
)

T = datetime(2026, 10, 1, 0, 15, tzinfo=UTC)  # a quarter-hour close


class Quoted:
    """A fake exchange whose price the test sets; quotes are stamped with the clock."""

    def __init__(self, name: str, clock: SimClock, price: float) -> None:
        self.name, self.clock, self.price, self.polls = name, clock, price, 0

    def supports(self, symbol: str) -> bool:
        return symbol == "BTC"

    def fetch_quote(self, symbol: str) -> SpotQuote:
        self.polls += 1
        return SpotQuote(self.name, symbol, Decimal(str(self.price)), self.clock.now())

    def fetch_candles(self, symbol: str, start: datetime, end: datetime) -> list[SpotCandle]:
        return []


def setup(start: datetime, spot: float = 100_000.0,
          config: ReferenceConfig | None = None) -> tuple[SimClock, Quoted, IndexTape,
                                                          ReferenceFeed]:
    clock = SimClock(start)
    ex = Quoted("ex", clock, spot)
    feed = SpotFeed([ex], clock, SpotFeedConfig(stale_after_s=30), symbols=("BTC",))
    tape = IndexTape()
    return clock, ex, tape, ReferenceFeed(feed, tape, clock, config, poll=True)


def test_index_is_primary_and_spot_the_fallback_with_the_basis_applied() -> None:
    """The index sits 5 bp above exchange spot. While both tick, the basis is learnt; when the
    index goes stale the reference switches to spot corrected by that basis (and back)."""
    clock, ex, tape, ref = setup(T - timedelta(minutes=10))
    for _ in range(120):  # two minutes of both sources, once a second
        ex.price = 100_000.0 + 10 * math.sin(clock.now().timestamp() / 7)
        tape.add("BRTI", clock.now(), ex.price * 1.0005)
        ref.refresh(("BTC",))
        r = ref.reference("BTC")
        assert (r.source, r.detail, r.age_s) == ("index", "BRTI", 0.0)
        assert r.price == pytest.approx(ex.price * 1.0005) and r.extra_sd == 0.0
        clock.advance(timedelta(seconds=1))
    last_index = tape.latest("BRTI", clock.now())
    assert last_index is not None
    # 4 s without an index tick: still the index (stale limit 5 s), its age reported
    clock.advance(timedelta(seconds=3))
    ref.refresh(("BTC",))
    r = ref.reference("BTC")
    assert r.source == "index" and r.age_s == pytest.approx(4.0)
    assert "index BRTI 4.0s" in r.describe()
    # 6 s: fall back to spot x exp(basis), with the basis' uncertainty (>= 1 bp floor)
    clock.advance(timedelta(seconds=2))
    ref.refresh(("BTC",))
    r = ref.reference("BTC")
    assert r.source == "spot" and r.on_fallback and r.detail == "ex"
    assert r.basis == pytest.approx(math.log(1.0005), abs=0.05 * BPS)
    assert r.price == pytest.approx(ex.price * 1.0005, rel=0.05 * BPS)
    assert 1.0 * BPS <= r.extra_sd < 1.1 * BPS
    assert "spot fallback ex" in r.describe() and "+5.0bp" in r.describe()
    # the index comes back: primary again
    tape.add("BRTI", clock.now(), 100_050.0)
    assert ref.reference("BTC").source == "index"


def test_fallback_without_any_index_has_no_basis_and_a_wide_uncertainty() -> None:
    clock, ex, tape, ref = setup(T - timedelta(minutes=5),
                                 config=ReferenceConfig(basis_unknown_sd_bps=12.0))
    ref.refresh(("BTC",))
    r = ref.reference("BTC")
    assert r.source == "spot" and r.basis == 0.0 and r.price == 100_000.0
    assert r.extra_sd == pytest.approx(12.0 * BPS)
    assert ex.polls == 1  # refresh() polled the exchange


def test_stale_sources_block_pricing() -> None:
    clock, ex, tape, ref = setup(T - timedelta(minutes=5),
                                 config=ReferenceConfig(index_stale_s=2.0, spot_stale_s=3.0))
    tape.add("BRTI", clock.now(), 100_000.0)
    ref.refresh(("BTC",))  # spot polled now
    clock.advance(timedelta(seconds=4))  # no refresh: spot 4 s old, index 4 s old
    with pytest.raises(SpotUnavailableError) as exc:
        ref.reference("BTC")
    assert "BRTI 4.0s old > 2s" in exc.value.reason and "spot 4.0s old > 3s" in exc.value.reason
    # a symbol neither source knows
    with pytest.raises(SpotUnavailableError, match="no ETHUSD_RTI tick"):
        ref.reference("ETH")


def test_settlement_window_excludes_t_minus_60_and_counts_each_second() -> None:
    """Index ticks at every second from T-70 s: the observed average at T-30.5 s is the mean of
    the ticks at T-59 .. T-31 (the tick at T-60 is outside Kalshi's window (T-60, T])."""
    clock, ex, tape, ref = setup(T - timedelta(seconds=61))
    for k in range(70, 30, -1):  # value = seconds before close, so each tick is identifiable
        tape.add("BRTI", T - timedelta(seconds=k), float(1000 + k))
    # before the window nothing is observed
    assert math.isnan(ref.reference("BTC", T).observed_avg)
    clock.set(T - timedelta(seconds=30.5))
    r = ref.reference("BTC", T)
    assert r.observed_n == 29
    assert r.observed_avg == pytest.approx(sum(1000 + k for k in range(31, 60)) / 29)


def test_kalshis_running_average_is_used_and_completed() -> None:
    """On the index the socket's own running average wins; a second it has not counted yet is
    filled with the latest level."""
    clock, ex, tape, ref = setup(T - timedelta(seconds=20))
    tape.add("BRTI", T - timedelta(seconds=20), 105.0)
    tape.add_running("BRTI", RunningAverage(100.0, 39, T, T - timedelta(seconds=20)))
    clock.set(T - timedelta(seconds=20))  # 40 seconds of the window have passed
    r = ref.reference("BTC", T)
    assert r.observed_n == 40
    assert r.observed_avg == pytest.approx((39 * 100.0 + 105.0) / 40)


def test_fallback_window_from_5_second_polls_has_one_sample_per_second() -> None:
    """Spot polled every 5 s: each of the 30 seconds observed so far holds the level known
    then (6 polls would give a different, unweighted mean)."""
    start = T - timedelta(seconds=60)
    clock, ex, tape, ref = setup(start)
    levels = {}
    for k in range(0, 31, 5):  # polls at T-60, T-55, ..., T-30
        ex.price = 100_000.0 + 10 * k * k
        levels[k] = ex.price
        ref.refresh(("BTC",))
        if k < 30:
            clock.advance(timedelta(seconds=5))
    r = ref.reference("BTC", T)
    expect = [levels[(s // 5) * 5] for s in range(1, 31)]  # seconds T-59 .. T-30
    assert r.source == "spot" and r.observed_n == 30
    assert r.observed_avg == pytest.approx(sum(expect) / 30)
    assert r.observed_avg != pytest.approx(sum(levels[k] for k in range(5, 31, 5)) / 6)


def test_5hz_line_gives_the_fresher_level() -> None:
    clock, ex, tape, ref = setup(T - timedelta(minutes=2))
    tape.add("BRTI", clock.now() - timedelta(seconds=1), 100.0)
    tape.add("BRTI@5hz", clock.now() - timedelta(milliseconds=200), 101.0)
    r = ref.reference("BTC")
    assert r.price == 101.0 and r.age_s == pytest.approx(0.2)


def test_replay_splits_index_rows_from_exchange_spot() -> None:
    """Stored rows of the recorded index (or the sample path) are the index; others spot."""
    rows = []
    for k in range(0, 120):
        ts = pd.Timestamp(T - timedelta(seconds=120 - k))
        rows.append((ts, "cfbenchmarks", "BTC", 100_050.0))
        rows.append((ts, "coinbase", "BTC", 100_000.0))
    frame = pd.DataFrame(rows, columns=["ts", "source", "symbol", "price"])
    clock = SimClock(T - timedelta(seconds=60))
    ref = replay_reference(frame, clock)
    r = ref.reference("BTC")
    assert (r.source, r.price) == ("index", 100_050.0)
    t, v, src = ref.path("BTC", T - timedelta(seconds=200))
    assert src == "index" and len(t) == 61 and t[-1] <= clock.now().timestamp()
    # the index stops in the replay: fall back to coinbase x the learnt basis
    late = frame[~((frame["source"] == "cfbenchmarks") &
                   (pd.to_datetime(frame["ts"]) > T - timedelta(seconds=50)))]
    clock2 = SimClock(T - timedelta(seconds=70))
    ref2 = replay_reference(late.reset_index(drop=True), clock2)
    for _ in range(20):  # both sources seen each second until T-50
        ref2.refresh(("BTC",))
        ref2.reference("BTC")
        clock2.advance(timedelta(seconds=1))
    clock2.set(T - timedelta(seconds=40))
    r2 = ref2.reference("BTC")
    assert r2.source == "spot" and r2.price == pytest.approx(100_050.0)

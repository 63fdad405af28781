"""CryptoVolStrategy on the index-first reference: which source priced a market, the wider
distribution on fallback, refusal on stale sources, and polling of a live spot feed."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from kalshibot.clock import SimClock
from kalshibot.domain.portfolio import Position
from kalshibot.feeds import SpotCandle, SpotFeed, SpotQuote
from kalshibot.feeds.index import IndexTape
from kalshibot.feeds.reference import ReferenceFeed
from kalshibot.strategy.base import MarketView
from kalshibot.strategy.crypto import CryptoVolStrategy
from tests.engine.helpers import book, market

T = datetime(2026, 10, 1, 12, 15, tzinfo=UTC)  # market close
TICKER = "KXBTC15M-26OCT010815-15"


class Walk:
    """A fake exchange: a seeded random walk, one quote per poll, 1-minute candles."""

    name = "walk"

    def __init__(self, clock: SimClock, seed: int = 5) -> None:
        self.clock = clock
        self.rng = np.random.default_rng(seed)
        self.price = 100_000.0
        self.polls = 0

    def supports(self, symbol: str) -> bool:
        return symbol == "BTC"

    def fetch_quote(self, symbol: str) -> SpotQuote:
        self.polls += 1
        return SpotQuote(self.name, symbol, Decimal(f"{self.price:.2f}"), self.clock.now())

    def fetch_candles(self, symbol: str, start: datetime, end: datetime) -> list[SpotCandle]:
        out = []
        t = start.replace(second=0, microsecond=0)
        p = 100_000.0
        while t + timedelta(minutes=1) <= end:
            p *= math.exp(self.rng.normal(0, 8e-4))
            d = Decimal(f"{p:.2f}")
            out.append(SpotCandle(self.name, symbol, t, d, d, d, d, Decimal(1)))
            t += timedelta(minutes=1)
        self.price = p
        return out


def view(now: datetime, strike: str = "100000") -> MarketView:
    m = replace(market(TICKER, now=now), close_time=T, floor_strike=Decimal(strike))
    return MarketView(m, book(TICKER, ts=now), now, Position(TICKER))


def history_tape(clock: SimClock, level: float = 100_000.0) -> IndexTape:
    """Three hours of index ticks every 10 s (a seeded walk) ending now at ``level``."""
    rng = np.random.default_rng(11)
    steps = rng.normal(0, 3e-4, 3 * 360)
    path = level * np.exp(np.cumsum(steps) - np.cumsum(steps)[-1])
    tape = IndexTape()
    now = clock.now()
    for k, v in enumerate(path):
        tape.add("BRTI", now - timedelta(seconds=10 * (len(path) - 1 - k)), float(v))
    return tape


def test_index_prices_the_market_and_the_reason_says_so() -> None:
    clock = SimClock(T - timedelta(minutes=5))
    spot = SpotFeed([Walk(clock)], clock, symbols=("BTC",))
    strat = CryptoVolStrategy(ReferenceFeed(spot, history_tape(clock), clock))
    [fv] = strat.fair_values([view(clock.now(), "99990")])
    assert fv.p_yes is not None and 0.5 < fv.p_yes < 1
    assert "ref index BRTI 0.0s" in fv.reason and "strike 99990" in fv.reason
    assert strat.last_refs[TICKER].source == "index"


def test_fallback_is_wider_and_says_so() -> None:
    """Same level and strike 60 s before close: on spot fallback (basis unknown, 10 bp) the
    probability is pulled toward 0.5 compared with pricing on the index."""
    clock = SimClock(T - timedelta(seconds=90))
    tape = history_tape(clock)
    on_index = CryptoVolStrategy(ReferenceFeed(None, tape, clock))
    [a] = on_index.fair_values([view(clock.now(), "99990")])
    walk = Walk(clock)
    walk.fetch_candles = lambda *a: []  # type: ignore[method-assign]
    spot = SpotFeed([walk], clock, symbols=("BTC",))
    no_index = CryptoVolStrategy(ReferenceFeed(spot, None, clock, poll=True))
    no_index._sigma_cache = dict(on_index._sigma_cache)  # the same volatility for both
    [b] = no_index.fair_values([view(clock.now(), "99990")])
    assert a.p_yes is not None and b.p_yes is not None
    assert "ref spot fallback walk" in b.reason and "±10.0bp" in b.reason
    assert 0.5 < b.p_yes < a.p_yes


def test_stale_index_and_spot_give_no_fair_value() -> None:
    clock = SimClock(T - timedelta(minutes=5))
    tape = history_tape(clock)
    spot = SpotFeed([Walk(clock)], clock, symbols=("BTC",))
    ref = ReferenceFeed(spot, tape, clock)  # poll=False: spot is never refreshed
    strat = CryptoVolStrategy(ref)
    clock.advance(timedelta(seconds=30))
    [fv] = strat.fair_values([view(clock.now())])
    assert fv.p_yes is None
    assert "reference refused" in fv.reason and "BRTI 30.0s old > 5s" in fv.reason


def test_a_plain_live_spot_feed_is_polled_every_cycle() -> None:
    """Regression: on f6e3055 nothing refreshed the live SpotFeed the strategy was given, so
    every market was refused ("no source"). Now the strategy polls it (and back-fills its
    minute history once) at each cycle."""
    clock = SimClock(T - timedelta(minutes=10))
    walk = Walk(clock)
    strat = CryptoVolStrategy(SpotFeed([walk], clock, symbols=("BTC",)))
    [fv] = strat.fair_values([view(clock.now())])
    assert walk.polls == 1
    assert fv.p_yes is not None, fv.reason
    assert "spot fallback walk" in fv.reason


def test_no_strike_and_unknown_series_are_refused_with_reasons() -> None:
    clock = SimClock(T - timedelta(minutes=5))
    strat = CryptoVolStrategy(ReferenceFeed(None, history_tape(clock), clock))
    v = view(clock.now())
    no_strike = replace(v, market=replace(v.market, floor_strike=None))
    other = replace(v, market=replace(v.market, series_ticker="KXHIGHNY"))
    a, b = strat.fair_values([no_strike, other])
    assert a.p_yes is None and "no strike" in a.reason
    assert b.p_yes is None and "not a 15-minute crypto series" in b.reason


def test_a_market_without_a_coin_costs_no_memory_per_cycle() -> None:
    """Regression (issue 22 speed work): the refusal of a series without a coin was one cached
    exception re-raised per market and cycle, whose traceback grew by a frame (holding that
    cycle's views) at every raise: peak RSS of the 3-day sample backtest 580 MB, 434 MB
    without. Now the refusal is one shared answer, the same text. Fails on 075c299 (grew
    2.3 MB here); f6e3055 had no such cache."""
    import tracemalloc

    clock = SimClock(T - timedelta(minutes=5))
    strat = CryptoVolStrategy(ReferenceFeed(None, history_tape(clock), clock))
    v = view(clock.now())
    other = [replace(v, market=replace(v.market, series_ticker="KXHIGHNY"))]
    first = strat.fair_values(other)
    tracemalloc.start()
    try:
        for _ in range(50):
            strat.fair_values(other)
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            assert strat.fair_values(other) == first
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert grown < 20_000, grown
    assert "no reference" in first[0].reason

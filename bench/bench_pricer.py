"""Crypto pricer benchmark (not part of the test run): 1,000 markets x 1 horizon.

1. ``digital_prob`` vectorised over 1,000 markets (spot, strike, sigma, seconds to close,
   observed window average, extra basis variance), as the strategy calls it once per cycle.
   Target: under 5 ms.
2. ``CryptoVolStrategy.fair_values`` for 1,000 market views on 9 coins (15-minute series with
   staggered closes) over an index tape: reference lookup per (coin, close), cached volatility,
   the vectorised digital and the ``FairValue`` reasons (about 4 ms on the 2-core dev box,
   shared). Target: under 5 ms as well.

Run: ``python bench/bench_pricer.py [--markets 1000] [--repeat 200]``; prints medians in ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from kalshibot.clock import SimClock
from kalshibot.domain.book import OrderBook
from kalshibot.domain.market import Market, MarketStatus
from kalshibot.domain.portfolio import Position
from kalshibot.domain.ticks import TickGrid
from kalshibot.features.digital import digital_prob
from kalshibot.feeds.index import CF_INDEX_IDS, FIFTEEN_MIN_SERIES, IndexTape
from kalshibot.feeds.reference import ReferenceFeed
from kalshibot.feeds.symbols import series_to_symbol
from kalshibot.strategy.base import MarketView
from kalshibot.strategy.crypto import CryptoVolStrategy


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out) * 1000.0


def bench_digital(n: int, repeat: int) -> float:
    rng = np.random.default_rng(1)
    spot = 100_000 * np.exp(rng.normal(0, 1e-3, n))
    strike = np.full(n, 100_000.0)
    sigma = np.full(n, 9e-5)
    tau = rng.uniform(1, 900, n)
    obs = np.where(tau < 60, spot * 1.0001, np.nan)
    extra = np.where(rng.random(n) < 0.2, (2e-4) ** 2, 0.0)
    return timed(lambda: digital_prob(spot, strike, sigma, tau, observed_avg=obs,
                                      extra_var=extra), repeat)


def bench_strategy(n: int, repeat: int) -> float:
    now = datetime(2026, 10, 1, 12, 7, 30, tzinfo=UTC)
    clock = SimClock(now)
    tape = IndexTape()
    rng = np.random.default_rng(2)
    for series in FIFTEEN_MIN_SERIES:
        idx = CF_INDEX_IDS[series_to_symbol(series)]
        level = 100.0 * np.exp(np.cumsum(rng.normal(0, 2e-4, 4 * 3600)))
        for k, v in enumerate(level):
            tape.add(idx, now - timedelta(seconds=4 * 3600 - k), float(v))
    strat = CryptoVolStrategy(ReferenceFeed(None, tape, clock))
    views = []
    for i in range(n):
        series = FIFTEEN_MIN_SERIES[i % len(FIFTEEN_MIN_SERIES)]
        close = now + timedelta(minutes=7.5 + 15 * (i // 90))
        t = f"{series}-X{i}-00"
        m = Market(t, t[:-3], series, "up?", MarketStatus.ACTIVE, close - timedelta(minutes=15),
                   close, TickGrid.linear_cent(), "greater_or_equal", Decimal("100"))
        views.append(MarketView(m, OrderBook.from_levels(t, [], [], now), now, Position(t)))
    strat.fair_values(views)  # warm the volatility cache (refreshed once a minute)
    return timed(lambda: strat.fair_values(views), max(repeat // 10, 5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--markets", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=200)
    a = ap.parse_args()
    d = bench_digital(a.markets, a.repeat)
    print(f"digital_prob, {a.markets} markets x 1 horizon: {d:.3f} ms median "
          f"(target < 5 ms: {'ok' if d < 5 else 'MISSED'})")
    s = bench_strategy(a.markets, a.repeat)
    print(f"CryptoVolStrategy.fair_values, {a.markets} markets on 9 coins: {s:.2f} ms median "
          f"(target < 5 ms: {'ok' if s < 5 else 'MISSED'})")


if __name__ == "__main__":
    main()

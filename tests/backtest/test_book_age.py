"""Only quotes that existed (issue 22): a taker order fills only against a book recorded at
most ``max_book_age`` before it reaches the venue; otherwise the decision is "no current order
book" and the report counts it. The default limit is twice the data's median recording interval.

Fails on f6e3055: there every book up to 5 minutes old was traded, so the order below filled
against a quote recorded 2 minutes earlier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from kalshibot.backtest import BacktestConfig, backtest
from kalshibot.backtest.runner import NO_CURRENT_BOOK, median_interval
from kalshibot.store import open_store
from kalshibot.store.markets import upsert_markets
from kalshibot.strategy.base import FairValue, MarketView, Strategy
from kalshibot.strategy.registry import REGISTRY, StrategyContext, register
from tests.engine.helpers import T0, market

TICKER = "KXTEST-26NOV19-A"
LAST_BOOK = T0 - timedelta(minutes=50)  # snapshots every 10 s until here, then none
WANTS_FROM = T0 - timedelta(minutes=48)  # the strategy wants to buy only from here on


class LateBuyer:
    """Fair YES 0.90 from ``WANTS_FROM`` on (the recorded ask is 0.45): a sure taker buy."""

    name = "late-buyer"

    def fair_values(self, views: Sequence[MarketView]) -> list[FairValue]:
        return [FairValue(0.9 if v.now >= WANTS_FROM else None, "test") for v in views]


def _late(ctx: StrategyContext, params: Mapping[str, str]) -> Strategy:
    return LateBuyer()


@pytest.fixture
def data(tmp_path: Path) -> Path:
    db = tmp_path / "data.sqlite"
    conn = open_store(db)
    m = market(TICKER, now=T0)  # open T0 - 1 h, close T0 + 1 h
    upsert_markets(conn, [m], now=T0 - timedelta(hours=2))
    ts = T0 - timedelta(hours=1)
    rows = []
    while ts <= LAST_BOOK:
        rows.append((TICKER, int(ts.timestamp() * 1000), 4000, 10000, 4500, 10000, None))
        ts += timedelta(seconds=10)
    conn.executemany("INSERT INTO book_snapshots (ticker, ts, yes_bid, yes_bid_size, yes_ask, "
                     "yes_ask_size, depth) VALUES (?,?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()
    return db


def _cfg(db: Path) -> BacktestConfig:
    if "late-buyer" not in REGISTRY:
        register("late-buyer", _late)
    return BacktestConfig(data=db, strategies=("late-buyer",), tickers=(TICKER,),
                          interval_s=10.0, latency_s=1.0)


def test_default_limit_is_twice_the_median_recording_interval(data: Path) -> None:
    conn = open_store(data)
    try:
        assert median_interval(conn, [TICKER]) == timedelta(seconds=10)
    finally:
        conn.close()
    rep = backtest(_cfg(data))[0]
    assert rep.run.max_book_age == timedelta(seconds=20)


@pytest.mark.parametrize("fast", [True, False])
def test_taker_never_fills_against_a_book_older_than_the_limit(data: Path, fast: bool) -> None:
    rep = backtest(replace(_cfg(data), fast=fast))[0]
    assert rep.run.fills == []  # the only cheap quote was 2 minutes old when it was wanted
    assert rep.run.no_current_book > 0
    wanted = [d for d in rep.run.decisions if d.ts >= WANTS_FROM and d.ts < T0]
    assert wanted and all(d.reason == NO_CURRENT_BOOK for d in wanted)
    assert rep.as_dict()["no_current_book"] == rep.run.no_current_book


def test_a_longer_limit_fills_and_the_export_carries_the_book_age(data: Path,
                                                                  tmp_path: Path) -> None:
    from kalshibot.backtest.report import export

    rep = backtest(replace(_cfg(data), max_book_age_s=300.0))[0]
    assert rep.run.fills, "with a 5-minute limit the 2-minute-old quote is taken"
    limit = rep.run.max_book_age.total_seconds()
    for f in rep.run.fills:
        assert 0 <= rep.run.fill_book_age[f.fill_id] <= limit
    trades, _ = export([rep], tmp_path / "out")
    header, first = trades.read_text().splitlines()[:2]
    assert header.endswith("book_age_s")
    assert float(first.rsplit(",", 1)[1]) > 60  # the stale quote's age is visible


def test_median_interval_is_the_middle_of_all_gaps(tmp_path: Path) -> None:
    """The gaps of every market pooled and sorted, the one at index len // 2 (equal
    timestamps are not a gap)."""
    conn = open_store(tmp_path / "gaps.sqlite")
    try:
        base = int(T0.timestamp() * 1000)
        rows = [("A", base + s * 1000, 4000, 100, 4500, 100, None) for s in (0, 1, 2, 7)]
        rows += [("B", base + s * 1000, 4000, 100, 4500, 100, None) for s in (0, 2, 12)]
        conn.executemany("INSERT INTO book_snapshots (ticker, ts, yes_bid, yes_bid_size, "
                         "yes_ask, yes_ask_size, depth) VALUES (?,?,?,?,?,?,?)", rows)
        conn.commit()
        # gaps: A 1, 1, 5; B 2, 10 -> sorted 1, 1, 2, 5, 10
        assert median_interval(conn, ["A", "B"]) == timedelta(seconds=2)
        assert median_interval(conn, ["A"]) == timedelta(seconds=1)
        assert median_interval(conn, ["C"]) is None
    finally:
        conn.close()


def test_median_interval_does_not_depend_on_how_markets_are_batched(tmp_path: Path) -> None:
    """Markets read together never contribute a 'gap' between one market's last snapshot and
    the next market's first (here an hour, which would move the median): every batch size
    gives the exact median of the per-market gaps (computed here directly)."""
    conn = open_store(tmp_path / "batches.sqlite")
    try:
        base = int(T0.timestamp() * 1000)
        rows, gaps = [], []
        names = [f"M{i:02d}" for i in range(23)]
        for i, name in enumerate(names):
            start = base + i * 3_600_000  # one market per hour
            times = [start, start + (i % 5 + 1) * 1000, start + (i % 5 + 1) * 2000]
            gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
            rows += [(name, ts, 4000, 100, 4500, 100, None) for ts in times]
        rows.append(("NOT-ASKED", base + 500, 4000, 100, 4500, 100, None))
        conn.executemany("INSERT INTO book_snapshots (ticker, ts, yes_bid, yes_bid_size, "
                         "yes_ask, yes_ask_size, depth) VALUES (?,?,?,?,?,?,?)", rows)
        conn.commit()
        want = timedelta(milliseconds=sorted(gaps)[len(gaps) // 2])
        asked = [*names, "NO-SNAPSHOTS"]
        for batch in (1, 2, 5, 512):
            assert median_interval(conn, asked, batch=batch) == want
    finally:
        conn.close()


def test_median_interval_of_a_long_selection_is_measured_on_an_even_sample(
        tmp_path: Path) -> None:
    """More markets than the sample size: the median is that of every k-th market (here the
    even-numbered ones, recorded every 2 s, against odd ones every 3 s), not of the first
    ones only; with a sample as large as the selection it is the median over all."""
    conn = open_store(tmp_path / "sample.sqlite")
    try:
        base = int(T0.timestamp() * 1000)
        names = [f"M{i:02d}" for i in range(40)]
        rows = []
        for i, name in enumerate(names):
            gap = 2000 if i % 2 == 0 else 3000
            gap = 1000 if i >= 30 and i % 2 == 0 else gap  # late even markets: 1 s
            rows += [(name, base + i * 3_600_000 + k * gap, 4000, 100, 4500, 100, None)
                     for k in range(5 if i % 2 == 0 else 8)]
        conn.executemany("INSERT INTO book_snapshots (ticker, ts, yes_bid, yes_bid_size, "
                         "yes_ask, yes_ask_size, depth) VALUES (?,?,?,?,?,?,?)", rows)
        conn.commit()
        # every second market: 60 gaps of 2 s, 20 of 1 s -> 2 s (the first 20 markets
        # would give 3 s: 40 gaps of 2 s, 70 of 3 s)
        assert median_interval(conn, names, sample=20) == timedelta(seconds=2)
        # all: 20 gaps of 1 s, 60 of 2 s, 140 of 3 s -> 3 s
        assert median_interval(conn, names, sample=40) == timedelta(seconds=3)
        assert median_interval(conn, names) == timedelta(seconds=3)  # default: all of 40
    finally:
        conn.close()

"""Backtest throughput in order-book snapshots per second (not part of the tests).

Generates one year of a synthetic 15-minute crypto series (35,040 markets of ``KXBENCH15M``) with
a top-of-book snapshot every 6 seconds (150 per market, 5.26M snapshots) and its settlement
index (``cfbenchmarks`` rows of symbol ``BENCH``, a GBM at 50%/year printed every 5 s, the
reference's stale limit: 6.3M rows) straight into a temp SQLite file through the store's bulk
insert paths. Each market's strike is the index at its open and it settles YES when the 60 s
average before close is >= the strike; the YES quotes are a market maker's digital fair value
on the index seen 0-5 s late, with a per-market volatility error (~20%), an AR(1) quote error
(sd ~0.8 cent) and a 1-3 cent spread. (Until issue 22's crypto work the mids were a slow
random walk from 50 with no index: meanrev's figures from before that are not comparable.)
It then backtests each strategy (fast path on, default pessimistic fills, 1 s latency, a cycle
every 10 s) over the first ~1M, ~2.6M and all snapshots, printing seconds, snapshots/s,
seconds per million snapshots (flat = linear growth), engine cycles run/skipped, orders, fills
and peak RSS. Targets (issue 22): meanrev >= 300k snapshots/s, crypto >= 200k/s on one core,
time growing linearly and memory bounded (markets are streamed a day or two ahead of the clock).

Throughput is set by how often the strategy acts: every cycle in which an order is placed,
re-priced, cancelled or exited runs the whole engine (~0.5-1 ms), while the cycles in between
are skipped in bulk. ``taker`` (``allow_passive=false``, meanrev only) trades less often;
``default`` also rests passive bids. ``crypto`` has no vectorised screen: the probe asks it
for its fair values at every cycle (``kalshibot.backtest.probe``); on this data it trades
about as often as on the 3-day ``kalshibot data sample`` (the quotes lag the index by up to a
snapshot interval).

``--strategies meanrev,crypto,edge`` runs each (``edge`` needs ``--model PATH``, a registry
artefact, and runs in-sample on this synthetic data). ``cpu s`` is the process CPU time.

    python bench/bench_backtest.py [--days 365] [--step 6] [--keep PATH] [--configs taker,default]
        [--strategies meanrev,crypto,edge] [--model PATH]
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import lfilter
from scipy.special import ndtr

from kalshibot.backtest import BacktestConfig
from kalshibot.backtest.runner import open_data, run_strategy
from kalshibot.domain.fees import FeeType
from kalshibot.domain.market import Event, Market, MarketStatus, Result, Series
from kalshibot.domain.money import Price
from kalshibot.domain.ticks import TickGrid
from kalshibot.store import open_store
from kalshibot.store.books import SnapshotRow, insert_snapshot_rows
from kalshibot.store.connection import atomic
from kalshibot.store.markets import upsert_events, upsert_markets, upsert_series
from kalshibot.store.spot import insert_spot_rows

START = datetime(2025, 1, 1, tzinfo=UTC)
SERIES = "KXBENCH15M"


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


SPOT_STEP = 5  # seconds between spot prints (the reference's default stale limit)
SPOT_SOURCE, SPOT_SYMBOL = "cfbenchmarks", "BENCH"  # the settlement index of KXBENCH15M
SPOT_VOL = 0.5  # annualised volatility of the spot walk
YEAR_S = 365.0 * 86_400


def _spot(rng: np.random.Generator, n: int, start: float) -> np.ndarray:
    """A GBM path of ``n`` prints every ``SPOT_STEP`` s from ``start`` (USD, cents)."""
    sd = SPOT_VOL * math.sqrt(SPOT_STEP / YEAR_S)
    ret = rng.normal(-0.5 * sd * sd, sd, size=n)
    ret[0] = 0.0
    return np.round(start * np.exp(np.cumsum(ret)), 2)


def _quotes(rng: np.random.Generator, path: np.ndarray, opens: np.ndarray, step: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strikes, YES mids in cents, results) of the windows opening at ``opens`` (indices of
    ``path``). Strike: spot at the open; result: the 60 s average before close >= strike. The
    market maker quotes the digital fair value on the print of the snapshot time or the one
    before, with a per-market volatility
    error (~20%) and an AR(1) quote error (sd ~0.8 cent, half-life ~2 snapshots)."""
    per = 900 // step
    strike = path[opens]
    close = opens + 900 // SPOT_STEP
    settle = np.stack([path[close - i] for i in range(60 // SPOT_STEP)]).mean(axis=0)
    t = np.arange(per) * step  # seconds since the open
    idx = opens[:, None] + t[None, :] // SPOT_STEP - rng.integers(0, 2, size=(len(opens), per))
    seen = path[idx]
    tau = (900 - t)[None, :].astype(float)
    sig = SPOT_VOL / math.sqrt(YEAR_S) * np.exp(rng.normal(0.0, 0.2, size=(len(opens), 1)))
    z = np.log(seen / strike[:, None]) / (sig * np.sqrt(tau))
    err = lfilter([0.006], [1.0, -0.7], rng.standard_normal((len(opens), per)), axis=1)
    mids = np.clip(np.round(100 * (ndtr(z) + err)), 2, 98).astype(np.int64)
    return strike, mids, settle >= strike


def generate(path: Path, days: int, step: int, seed: int = 5) -> int:
    """Write the dataset; returns the number of snapshots. Spot starts an hour before the
    first market (volatility warm-up)."""
    conn = open_store(path)
    per = 900 // step
    n = days * 96
    rng = np.random.default_rng(seed)
    warm = 3600 // SPOT_STEP
    per_day = 86_400 // SPOT_STEP
    spot = _spot(rng, warm + days * per_day + 1, 100_000.0)
    t0_ms = int(START.timestamp() * 1000) - warm * SPOT_STEP * 1000
    total = 0
    markets: list[Market] = []
    events: list[Event] = []
    for day in range(days):
        opens = warm + day * per_day + np.arange(96) * (900 // SPOT_STEP)
        strikes, mids, yes_all = _quotes(rng, spot, opens, step)
        spread = rng.choice(np.array([1, 2, 2, 3]), size=mids.shape)
        bid = np.maximum(mids - spread // 2, 1)
        ask = np.minimum(bid + spread, 99)
        size_b = rng.integers(10, 500, size=mids.shape) * 100
        size_a = rng.integers(10, 500, size=mids.shape) * 100
        rows: list[SnapshotRow] = []
        for j in range(96):
            o = START + timedelta(days=day, minutes=15 * j)
            t = f"{SERIES}-{o:%y%m%d%H%M}-00"
            o_ms = int(o.timestamp() * 1000)
            b, a, sb, sa = (bid[j] * 100).tolist(), (ask[j] * 100).tolist(), \
                size_b[j].tolist(), size_a[j].tolist()
            rows += [(t, o_ms + k * step * 1000, b[k], sb[k], a[k], sa[k], None)
                     for k in range(per)]
            yes = bool(yes_all[j])
            events.append(Event(t.rsplit("-", 1)[0], SERIES, "bench", False))
            markets.append(Market(t, t.rsplit("-", 1)[0], SERIES, "bench",
                                  MarketStatus.FINALIZED, o, o + timedelta(minutes=15),
                                  TickGrid.linear_cent(), "greater_or_equal",
                                  Decimal(f"{strikes[j]:.2f}"),
                                  result=Result.YES if yes else Result.NO,
                                  settlement_value=Price(1 if yes else 0),
                                  fee_type=FeeType.QUADRATIC))
        total += insert_snapshot_rows(conn, rows)
    lo = 0
    while lo < len(spot):  # a day of prints per transaction
        hi = min(lo + per_day, len(spot))
        with atomic(conn):
            insert_spot_rows(conn, [(SPOT_SOURCE, SPOT_SYMBOL, t0_ms + i * SPOT_STEP * 1000,
                                     f"{spot[i]:.2f}", None, None, None, None)
                                    for i in range(lo, hi)])
        lo = hi
    with atomic(conn):
        upsert_series(conn, [Series(SERIES, "bench", FeeType.QUADRATIC, Decimal(1),
                                    "fifteen_min")], now=START, category="bench")
        upsert_events(conn, events, now=START)
        upsert_markets(conn, markets, now=START, source="bench")
    conn.close()
    assert len(markets) == n
    return total


CONFIGS: dict[str, dict[str, str]] = {"taker": {"allow_passive": "false"}, "default": {}}


def run(path: Path, until: datetime | None, params: dict[str, str], strategy: str = "meanrev",
        model: str | None = None) -> tuple[int, float, float, Any]:
    cfg = BacktestConfig(data=path, strategies=(strategy,), end=until,
                         params=params if strategy == "meanrev" else {}, model=model,
                         allow_in_sample=model is not None)
    data = open_data(path)
    t0, c0 = time.perf_counter(), time.process_time()
    r = run_strategy(cfg, strategy, data)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    data.close()
    return r.snapshots, secs, cpu, r


def one(path: Path, name: str, label: str, until: datetime | None, strategy: str = "meanrev",
        model: str | None = None) -> None:
    """One backtest in this (fresh) process: its peak RSS is this run's alone."""
    snaps, secs, cpu, r = run(path, until, CONFIGS[name], strategy, model)
    print(f"{strategy + '/' + name:>16} {label:>9} {snaps:>10,} {secs:>8.1f} {cpu:>8.1f} "
          f"{snaps / cpu:>9,.0f} {cpu / snaps * 1e6:>8.2f} {r.cycles_run:>10,} "
          f"{r.cycles_skipped:>10,} {len(r.orders):>7,} {len(r.fills):>6,} "
          f"{peak_rss_mb():>11.0f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--step", type=int, default=6, help="seconds between snapshots")
    ap.add_argument("--keep", type=Path, default=None, help="reuse/keep the dataset here")
    ap.add_argument("--configs", default="taker,default",
                    help=f"comma-separated, from {', '.join(CONFIGS)}")
    ap.add_argument("--strategies", default="meanrev",
                    help="comma-separated: meanrev (every --configs), crypto, edge (default)")
    ap.add_argument("--model", default=None, help="registry artefact folder for edge")
    ap.add_argument("--one", nargs=4, metavar=("STRATEGY", "CONFIG", "LABEL", "UNTIL"),
                    help=argparse.SUPPRESS)  # internal: one run in a child process
    args = ap.parse_args()
    if args.one:
        strategy, name, label, until = args.one
        one(args.keep, name, label, None if until == "-" else datetime.fromisoformat(until),
            strategy, args.model)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.sqlite"
        if not path.exists():
            t = time.perf_counter()
            n = generate(path, args.days, args.step)
            print(f"generated {n:,} snapshots in {time.perf_counter() - t:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)")
        per_day = 96 * 900 // args.step
        cuts = [("~1M", START + timedelta(days=-(-1_000_000 // per_day))),
                ("~2.6M", START + timedelta(days=-(-2_600_000 // per_day))), ("all", None)]
        print(f"{'strategy/config':>16} {'selection':>9} {'snapshots':>10} {'wall s':>8} "
              f"{'cpu s':>8} {'snap/cpu s':>9} {'cpu s/1M':>8} {'cycles run':>10} "
              f"{'skipped':>10} {'orders':>7} {'fills':>6} {'peak RSS MB':>11}", flush=True)
        runs = [(st, name) for st in args.strategies.split(",")
                for name in (args.configs.split(",") if st == "meanrev" else ["default"])]
        for strategy, name in runs:
            for label, until in cuts:
                if until is not None and until >= START + timedelta(days=args.days):
                    continue
                extra = ["--model", args.model] if args.model else []
                subprocess.run([sys.executable, __file__, "--keep", str(path), *extra, "--one",
                                strategy, name, label,
                                "-" if until is None else until.isoformat()], check=True)


if __name__ == "__main__":
    main()

"""Backtest throughput in order-book snapshots per second (not part of the tests).

Generates one year of two synthetic 15-minute series, each 35,040 markets with a top-of-book
snapshot every 6 seconds (150 per market, 5.26M snapshots), straight into a temp SQLite file
through the store's bulk insert paths:

- ``KXBENCH15M`` (meanrev, edge): YES mids a slow random walk from 50 with sparse 1-cent moves,
  strike 50, no index: the rows are exactly those of the bench before issue 22's crypto work,
  so meanrev's figures compare with earlier ones;
- ``KXBENCHIDX15M`` (crypto, added for issue 22): its settlement index (``cfbenchmarks`` rows of
  symbol ``BENCHIDX``, a GBM at 50%/year printed every 5 s, the reference's stale limit: 6.3M
  rows). Each market's strike is the index at its open; it settles YES when the 60 s average
  before close is >= the strike; the YES quotes are a market maker's digital fair value on the
  index seen 0-5 s late, with a per-market volatility error (~20%), an AR(1) quote error (sd
  ~0.8 cent) and a 1-3 cent spread. (Meanrev on this series trips the circuit breaker within
  days: betting against moves of a digital price loses.)

It then backtests each strategy on its series (fast path on, default pessimistic fills, 1 s
latency, a cycle every 10 s) over the first ~1M, ~2.6M and all snapshots of it, printing
seconds, snapshots/s, seconds per million snapshots (flat = linear growth), engine cycles
run/skipped, orders, fills and peak RSS. Targets (issue 22): meanrev >= 300k snapshots/s,
crypto >= 200k/s on one core, time growing linearly and memory bounded (markets are streamed a
day or two ahead of the clock).

Throughput is set by how often the strategy acts: every cycle in which an order is placed,
re-priced, cancelled or exited runs the whole engine (~0.5-1 ms), while the cycles in between
are skipped in bulk. ``taker`` (``allow_passive=false``, meanrev only) trades a few times a
day; ``default`` rests a passive bid when a move pays more than the half-spread
adverse-selection allowance (~20 orders a day). ``crypto`` has no vectorised screen: the probe
asks it for its fair values at every cycle (``kalshibot.backtest.probe``); it trades about as
often as on the 3-day ``kalshibot data sample`` (the quotes lag the index by up to a snapshot
interval), and its replay feed holds the span's index in memory.

``--strategies meanrev,crypto,edge`` runs each (``edge`` needs ``--model PATH``, a registry
artefact, or ``--train-model``, which trains one on the bench store's first ``--train-days``
days with ``kalshibot train``'s pipeline; it runs in-sample on this synthetic data, with
precomputed features). ``cpu s`` is the process CPU time.

    python bench/bench_backtest.py [--days 365] [--step 6] [--keep PATH] [--configs taker,default]
        [--strategies meanrev,crypto,edge] [--model PATH | --train-model [--train-days 7]]
"""

from __future__ import annotations

import argparse
import math
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

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
SERIES = "KXBENCH15M"  # meanrev and edge: random-walk quotes, no index
CRYPTO_SERIES = "KXBENCHIDX15M"  # crypto: quotes on a digital fair value of the index
WARM_S = 3600


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


SPOT_STEP = 5  # seconds between spot prints (the reference's default stale limit)
SPOT_SOURCE, SPOT_SYMBOL = "cfbenchmarks", "BENCHIDX"  # CRYPTO_SERIES's settlement index
SPOT_VOL = 0.5  # annualised volatility of the spot walk
YEAR_S = 365.0 * 86_400


def _spot(rng: np.random.Generator, n: int, start: float) -> np.ndarray:
    """A GBM path of ``n`` prints every ``SPOT_STEP`` s from ``start`` (USD, cents)."""
    sd = SPOT_VOL * math.sqrt(SPOT_STEP / YEAR_S)
    ret = rng.normal(-0.5 * sd * sd, sd, size=n)
    ret[0] = 0.0
    return np.round(start * np.exp(np.cumsum(ret)), 2)


def _quotes(rng: np.random.Generator, path: np.ndarray, opens: np.ndarray, step: int
            ) -> tuple[list[Decimal], np.ndarray, np.ndarray]:
    """(strikes, YES mids in cents, results) of the windows opening at ``opens`` (indices of
    ``path``). Strike: spot at the open; result: the 60 s average before close >= strike. The
    market maker quotes the digital fair value on the print of the snapshot time or the one
    before, with a per-market volatility error (~20%) and an AR(1) quote error (sd ~0.8
    cent, half-life ~2 snapshots)."""
    from scipy.signal import lfilter  # here: a timed run must not carry scipy in its RSS
    from scipy.special import ndtr

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
    return [Decimal(f"{k:.2f}") for k in strike], mids, settle >= strike


def _walk(rng: np.random.Generator, per: int) -> tuple[list[Decimal], np.ndarray, np.ndarray]:
    """``SERIES`` (as before issue 22's crypto work; strike 50, no index): YES mids in cents a
    slow random walk from 50 with sparse 1-cent moves, YES iff the last mid >= 50."""
    moves = rng.choice(np.array([-1, 0, 1]), p=[0.04, 0.92, 0.04], size=(96, per))
    mids = np.clip(50 + np.cumsum(moves, axis=1), 3, 97)
    return [Decimal(50)] * 96, mids, mids[:, -1] >= 50


def _series(conn: sqlite3.Connection, series: str, rng: np.random.Generator, days: int,
            step: int, spot: np.ndarray | None) -> int:
    """One series' markets and snapshots (``spot``: the index path, else ``_walk`` quotes);
    returns the number of snapshots."""
    per = 900 // step
    warm, per_day = WARM_S // SPOT_STEP, 86_400 // SPOT_STEP
    total = 0
    markets: list[Market] = []
    events: list[Event] = []
    for day in range(days):
        if spot is None:
            strikes, mids, yes_all = _walk(rng, per)
        else:
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
            t = f"{series}-{o:%y%m%d%H%M}-00"
            o_ms = int(o.timestamp() * 1000)
            b, a, sb, sa = (bid[j] * 100).tolist(), (ask[j] * 100).tolist(), \
                size_b[j].tolist(), size_a[j].tolist()
            rows += [(t, o_ms + k * step * 1000, b[k], sb[k], a[k], sa[k], None)
                     for k in range(per)]
            yes = bool(yes_all[j])
            events.append(Event(t.rsplit("-", 1)[0], series, "bench", False))
            markets.append(Market(t, t.rsplit("-", 1)[0], series, "bench",
                                  MarketStatus.FINALIZED, o, o + timedelta(minutes=15),
                                  TickGrid.linear_cent(), "greater_or_equal", strikes[j],
                                  result=Result.YES if yes else Result.NO,
                                  settlement_value=Price(1 if yes else 0),
                                  fee_type=FeeType.QUADRATIC))
        total += insert_snapshot_rows(conn, rows)
    with atomic(conn):
        upsert_series(conn, [Series(series, "bench", FeeType.QUADRATIC, Decimal(1),
                                    "fifteen_min")], now=START, category="bench")
        upsert_events(conn, events, now=START)
        upsert_markets(conn, markets, now=START, source="bench")
    assert len(markets) == days * 96
    return total


def generate(path: Path, days: int, step: int, seed: int = 5) -> int:
    """Write the dataset (``SERIES`` from ``seed``, exactly as before the index was added;
    ``CRYPTO_SERIES`` and its index from ``seed + 1``); returns the number of snapshots of
    ``SERIES`` (each series has as many). The index starts ``WARM_S`` before the first market
    (volatility warm-up)."""
    conn = open_store(path)
    total = _series(conn, SERIES, np.random.default_rng(seed), days, step, None)
    rng = np.random.default_rng(seed + 1)
    per_day = 86_400 // SPOT_STEP
    spot = _spot(rng, WARM_S // SPOT_STEP + days * per_day + 1, 100_000.0)
    _series(conn, CRYPTO_SERIES, rng, days, step, spot)
    t0_ms = int(START.timestamp() * 1000) - WARM_S * 1000
    for lo in range(0, len(spot), per_day):  # a day of prints per transaction
        with atomic(conn):
            insert_spot_rows(conn, [(SPOT_SOURCE, SPOT_SYMBOL, t0_ms + i * SPOT_STEP * 1000,
                                     f"{spot[i]:.2f}", None, None, None, None)
                                    for i in range(lo, min(lo + per_day, len(spot)))])
    conn.close()
    return total


CONFIGS: dict[str, dict[str, str]] = {"taker": {"allow_passive": "false"}, "default": {}}


def run(path: Path, until: datetime | None, params: dict[str, str], strategy: str = "meanrev",
        model: str | None = None) -> tuple[int, float, float, Any]:
    series = CRYPTO_SERIES if strategy == "crypto" else SERIES
    cfg = BacktestConfig(data=path, strategies=(strategy,), end=until, series=(series,),
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


def train_bench_model(path: Path, model_dir: Path, days: int) -> str:
    """An edge model trained on the store's markets closing in its first ``days`` days by the
    product's training pipeline (``kalshibot train``); returns the registry artefact folder."""
    import pandas as pd

    from kalshibot.models.training import Selection, TrainConfig, run_training

    sel = Selection(until=pd.Timestamp(START + timedelta(days=days)))
    t = time.process_time()
    _, saved = run_training(path, model_dir, sel, TrainConfig(n_jobs=1))
    print(f"trained edge model {saved.model_id} on {days} day(s) in "
          f"{time.process_time() - t:.1f} cpu s", flush=True)
    return str(saved.path)


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
    ap.add_argument("--train-model", action="store_true",
                    help="train the edge model on the bench store (see --train-days)")
    ap.add_argument("--train-days", type=int, default=7, help="days --train-model trains on")
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
            n = 2 * generate(path, args.days, args.step)
            print(f"generated {n:,} snapshots in {time.perf_counter() - t:.1f} s "
                  f"({path.stat().st_size / 1e6:.0f} MB)")
        per_day = 96 * 900 // args.step
        cuts = [("~1M", START + timedelta(days=-(-1_000_000 // per_day))),
                ("~2.6M", START + timedelta(days=-(-2_600_000 // per_day))), ("all", None)]
        print(f"{'strategy/config':>16} {'selection':>9} {'snapshots':>10} {'wall s':>8} "
              f"{'cpu s':>8} {'snap/cpu s':>9} {'cpu s/1M':>8} {'cycles run':>10} "
              f"{'skipped':>10} {'orders':>7} {'fills':>6} {'peak RSS MB':>11}", flush=True)
        if args.train_model and "edge" in args.strategies.split(","):
            args.model = train_bench_model(path, path.parent / "bench-models", args.train_days)
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

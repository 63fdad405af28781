"""Backtest throughput in order-book snapshots per second (not part of the tests).

Generates one year of a synthetic 15-minute series (35,040 markets) with a top-of-book snapshot
every 6 seconds (150 per market, 5.26M snapshots) straight into a temp SQLite file through the
store's fast insert path, then backtests the mean-reversion strategy (fast path on, default
pessimistic fills, 1 s latency, a cycle every 10 s) over the first ~1M, ~2.6M and all
snapshots, printing seconds, snapshots/s, seconds per million snapshots (flat = linear growth),
engine cycles run/skipped, orders, fills and peak RSS. Target: >= 500k snapshots/s on one core,
time growing linearly and memory bounded (markets are streamed a day or two ahead of the clock).

Two configurations, because throughput is set by how often the strategy acts: every cycle in
which an order is placed, re-priced, cancelled or exited runs the whole engine (~0.5-1 ms),
while the cycles in between are skipped in bulk. ``taker`` (``allow_passive=false``) trades
a few times a day; ``default`` rests a passive bid when a move pays more than the half-spread
adverse-selection allowance (~20 orders a day, each cancelled at the first cycle whose proposal
is not that bid), so it runs ~18x more engine cycles.

Other strategies (issue 22): ``--strategies meanrev,edge`` runs each (``edge`` needs
``--model PATH``, a registry artefact, or ``--train-model``, which trains one on the bench
store's first ``--train-days`` days with ``kalshibot train``'s pipeline; it runs in-sample on
this synthetic data, with precomputed features). ``crypto``
needs recorded spot, which this dataset does not have (the run refuses to start): time it on a
``kalshibot data sample`` store instead. ``cpu s`` is the process CPU time.

    python bench/bench_backtest.py [--days 365] [--step 6] [--keep PATH] [--configs taker,default]
        [--strategies meanrev,crypto,edge] [--model PATH | --train-model [--train-days 7]]
"""

from __future__ import annotations

import argparse
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

START = datetime(2025, 1, 1, tzinfo=UTC)
SERIES = "KXBENCH15M"


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def _mids(rng: np.random.Generator, n_markets: int, steps: int) -> np.ndarray:
    """YES mids in cents: a slow random walk from 50 with sparse 1-cent moves."""
    moves = rng.choice(np.array([-1, 0, 1]), p=[0.04, 0.92, 0.04], size=(n_markets, steps))
    return np.clip(50 + np.cumsum(moves, axis=1), 3, 97)


def generate(path: Path, days: int, step: int, seed: int = 5) -> int:
    """Write the dataset; returns the number of snapshots."""
    conn = open_store(path)
    per = 900 // step
    n = days * 96
    rng = np.random.default_rng(seed)
    total = 0
    markets: list[Market] = []
    events: list[Event] = []
    for day in range(days):
        mids = _mids(rng, 96, per)
        spread = rng.choice(np.array([1, 2, 2, 3]), size=mids.shape)
        bid = mids - spread // 2
        ask = bid + spread
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
            yes = bool(mids[j, -1] >= 50)
            events.append(Event(t.rsplit("-", 1)[0], SERIES, "bench", False))
            markets.append(Market(t, t.rsplit("-", 1)[0], SERIES, "bench",
                                  MarketStatus.FINALIZED, o, o + timedelta(minutes=15),
                                  TickGrid.linear_cent(), "greater_or_equal", Decimal(50),
                                  result=Result.YES if yes else Result.NO,
                                  settlement_value=Price(1 if yes else 0),
                                  fee_type=FeeType.QUADRATIC))
        total += insert_snapshot_rows(conn, rows)
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
            n = generate(path, args.days, args.step)
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

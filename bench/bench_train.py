"""Benchmark `kalshibot train` on the generated sample dataset (>= 200k snapshot rows).

Generates a seeded sample store with ``kalshibot.sim.sample`` (not timed), then runs the exact
pipeline of ``kalshibot train`` (``kalshibot.models.training.run_training``: load from SQLite,
features, walk-forward folds + final fit through joblib, registry) and prints the time per
stage, the rows and rows/s. Target: < 60 s on 2 cores for 200k rows.

Usage: python bench/bench_train.py [--days 9] [--jobs 2] [--folds 3] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kalshibot.models.training import Selection, TrainConfig, run_training
from kalshibot.sim.sample import SampleConfig, generate_sample
from kalshibot.store import open_store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=9.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--db", type=Path, default=None, help="reuse or keep this sample store")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    db = args.db or tmp / "sample.sqlite"
    if not db.exists():
        t = time.perf_counter()
        conn = open_store(db)
        try:
            s = generate_sample(conn, SampleConfig(days=args.days, seed=7,
                                                   end=datetime(2026, 10, 1, tzinfo=UTC)))
        finally:
            conn.close()
        print(f"generated sample: {s.rows.get('book_snapshots', 0):,} snapshots, "
              f"{s.rows.get('spot_prices', 0):,} spot rows in {time.perf_counter() - t:.1f} s "
              "(not timed)")
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total:
            stages[stage] = now - last[0]
            last[0] = now

    t0 = time.perf_counter()
    last[0] = t0
    result, saved = run_training(db, tmp / "models", Selection(),
                                 TrainConfig(n_folds=args.folds, n_jobs=args.jobs), progress)
    total = time.perf_counter() - t0
    o = result.report["overall"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores available: {os.cpu_count()}, joblib jobs: {args.jobs}, folds: {args.folds}, "
          f"1-min load average at the end: {load:.1f} (other processes slow the wall time)")
    print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
    print(f"train rows (labelled snapshots): {result.rows:,}")
    print(f"total: {total:.1f} s  ->  {result.rows / total:,.0f} rows/s  "
          f"(target < 60 s: {'OK' if total < 60 else 'MISSED'})")
    print(f"out-of-sample Brier model {o['model']['brier']:.4f} vs market "
          f"{o['market']['brier']:.4f}; {o['verdict']}")
    print(f"artefact: {saved.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

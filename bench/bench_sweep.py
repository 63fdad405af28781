"""Sweep speed-up on a local Dask cluster: 16 configurations on 1 vs 2 workers (not a test).

Generates a synthetic 15-minute series (``--days`` of history) into a temp SQLite file, then
runs the same 16-configuration grid (z_entry x min_edge) on a ``LocalCluster`` with one worker
process and with two, checks both give identical results, and prints seconds and the speed-up.
Each worker process runs one task at a time (``threads_per_worker=1``); the data goes to the
workers as a snapshot (``kalshibot.backtest.distributed``), never as a path.

    python bench/bench_sweep.py [--days 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

GRID = ["z_entry=1.5,2,2.5,3", "min_edge=0.01,0.02,0.03,0.04"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--days", type=float, default=1.0, help="days of synthetic history")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    from kalshibot.backtest import BacktestConfig
    from kalshibot.backtest.distributed import run_on_client
    from kalshibot.backtest.sweep import combinations, parse_grid
    from kalshibot.sim.sample import SampleConfig, generate_sample
    from kalshibot.store.connection import connect

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as d:
        db = Path(d) / "market.sqlite"
        conn = connect(db)
        generate_sample(conn, SampleConfig(days=args.days, seed=7, series=("KXBTC15M",),
                                           end=datetime(2026, 9, 1, tzinfo=UTC)))
        conn.close()
        cfg = replace(BacktestConfig(data=db, strategies=("meanrev",)), state_dir=None)
        tasks = [("meanrev", c) for c in combinations(parse_grid(GRID))]
        timings: dict[int, float] = {}
        results = {}
        for n in (1, 2):
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                              dashboard_address=None) as cluster, Client(cluster) as client:
                client.run(lambda: None)  # workers up before the clock starts
                t0 = time.perf_counter()
                results[n] = run_on_client(client, cfg, tasks)
                timings[n] = time.perf_counter() - t0
            print(f"{len(tasks)} configurations, {n} worker(s): {timings[n]:.2f} s")
        assert results[1] == results[2], "1 and 2 workers disagree"
        print(f"speed-up 2 vs 1 workers: {timings[1] / timings[2]:.2f}x (results identical)")


if __name__ == "__main__":
    main()

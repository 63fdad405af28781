"""`train` speed-up on a local Dask cluster: folds + final fit on 1 vs 2 workers (not a test).

Builds features from seeded synthetic history (``--rows`` snapshot rows), then trains the
default ensemble with ``--folds`` walk-forward folds (``folds + 1`` fit tasks) in one process
and on a ``LocalCluster`` with one worker process and with two; checks that every run gives
the same report and predictions, and prints seconds and the speed-up. The feature frame goes to
the workers scattered, never as a path (``kalshibot.models.training``).

    python bench/bench_train_dask.py [--rows 60000] [--folds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=60_000, help="synthetic snapshot rows")
    ap.add_argument("--folds", type=int, default=3, help="walk-forward folds")
    args = ap.parse_args()
    import numpy as np
    from distributed import Client, LocalCluster

    from kalshibot.features import FeatureBuilder
    from kalshibot.models.synthetic import synthetic_history
    from kalshibot.models.training import TrainConfig, train_model

    frame = FeatureBuilder().batch(synthetic_history(args.rows, seed=5))
    cfg = TrainConfig(n_folds=args.folds, n_jobs=1)
    t0 = time.perf_counter()
    base = train_model(frame, cfg)
    single = time.perf_counter() - t0
    print(f"{len(frame):,} rows, {args.folds} folds + final: one process {single:.2f} s")
    expected = (json.dumps(base.report, sort_keys=True, default=str),
                base.model.predict_proba(frame))
    timings: dict[int, float] = {}
    for n in (1, 2):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(lambda: None)  # workers up before the clock starts
            t0 = time.perf_counter()
            got = train_model(frame, replace(cfg, backend="dask"), client=client)
            timings[n] = time.perf_counter() - t0
        assert json.dumps(got.report, sort_keys=True, default=str) == expected[0], "reports differ"
        assert np.array_equal(got.model.predict_proba(frame), expected[1]), "models differ"
        print(f"dask, {n} worker(s): {timings[n]:.2f} s")
    print(f"speed-up 2 vs 1 workers: {timings[1] / timings[2]:.2f}x (reports and models "
          "identical to the single-process run)")


if __name__ == "__main__":
    main()

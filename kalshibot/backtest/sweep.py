"""Parameter sweeps: every combination of ``--sweep name=v1,v2,...`` as its own backtest.

The grid runs through ``joblib.Parallel`` (``backend``: "loky" by default or "threading"), each
task opening the market data itself (read-only) with a fresh state store, or on a Dask cluster
(``backend="dask"``, see ``kalshibot.backtest.distributed``) where tasks get a snapshot of the
data instead of its path. Results are ranked by a metric of
``stats.Stats`` (higher is better, except ``max_drawdown``/``max_drawdown_pct``/``fees``).
Large grids get a multiple-testing warning: the best of N noisy backtests looks good by chance.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

from kalshibot.backtest.config import BacktestConfig
from kalshibot.errors import UserInputError

LOWER_IS_BETTER = {"max_drawdown", "max_drawdown_pct", "fees", "brier_model"}
METRICS = ("net_pnl", "sharpe", "sortino", "return_on_capital", "win_rate", "max_drawdown",
           "max_drawdown_pct", "fees", "avg_edge_realised", "brier_model")
WARN_GRID = 20
BACKENDS = ("loky", "threading", "dask")


def parse_grid(specs: list[str]) -> dict[str, list[str]]:
    """``["min_edge=0.01,0.02", "z_entry=1.5,2"]`` -> {name: values}."""
    grid: dict[str, list[str]] = {}
    for s in specs:
        name, sep, vals = s.partition("=")
        values = [v.strip() for v in vals.split(",") if v.strip()]
        if not sep or not name.strip() or not values:
            raise UserInputError(f"--sweep {s!r}: expected name=v1,v2,...")
        grid[name.strip()] = values
    return grid


def combinations(grid: dict[str, list[str]]) -> list[dict[str, str]]:
    names = list(grid)
    return [dict(zip(names, vals, strict=True))
            for vals in itertools.product(*(grid[n] for n in names))]


@dataclass
class SweepRow:
    strategy: str
    params: dict[str, str]
    stats: dict[str, Any]
    score: float | None


def run_one(cfg: BacktestConfig, strategy: str, params: dict[str, str]) -> dict[str, Any]:
    from kalshibot.backtest.analysis import run_stats
    from kalshibot.backtest.runner import open_data, run_strategy

    data = open_data(cfg.data)
    try:
        run = run_strategy(cfg.with_params(**params), strategy, data)
        return run_stats(run, data).as_dict()
    finally:
        data.close()


def multiple_testing_warning(n: int) -> str | None:
    """A warning for grids of ``WARN_GRID`` or more configurations (None below)."""
    if n < WARN_GRID:
        return None
    expected = math.sqrt(2 * math.log(n))
    return (f"{n} configurations tested: the best one is selected from many noisy trials and "
            f"will look better than it is (with no real skill, the best of {n} annualised "
            f"Sharpe ratios is about {expected:.1f} standard errors above zero). Confirm it "
            "out of sample (--from/--to on later data) before trusting it.")


def check_backend(backend: str | None, scheduler: str | None = None) -> str:
    """The backend to use; unknown or uninstalled ones are a one-line ``UserInputError``."""
    from kalshibot.cluster import check_backend as check

    return check(backend, scheduler, default="loky", listed=BACKENDS)


def run_sweep(cfg: BacktestConfig, specs: list[str], *, metric: str = "sharpe",
              n_jobs: int = 1, backend: str | None = None,
              scheduler: str | None = None) -> tuple[list[SweepRow], str | None]:
    """Run the grid for every strategy of ``cfg``; rows best first, plus the warning.

    ``scheduler`` (a Dask scheduler address) implies ``backend="dask"``; with the dask backend
    and no scheduler a local cluster of ``n_jobs`` worker processes is started."""
    if metric not in METRICS:
        raise UserInputError(f"--rank-by {metric!r}: choose from {', '.join(METRICS)}")
    backend = check_backend(backend, scheduler)
    combos = combinations(parse_grid(specs))
    tasks = [(s, c) for s in cfg.strategies for c in combos]
    cfg = replace(cfg, state_dir=None)
    if backend == "dask":
        from kalshibot.backtest.distributed import run_dask

        results = run_dask(cfg, tasks, scheduler=scheduler, n_workers=n_jobs)
    else:
        from joblib import Parallel, delayed, parallel_config

        from kalshibot.cluster import local_workers

        with parallel_config(backend=backend, n_jobs=local_workers(n_jobs, len(tasks))):
            results = Parallel()(delayed(run_one)(cfg, s, c) for s, c in tasks)
    rows = []
    for (s, c), st in zip(tasks, results, strict=True):
        v = st.get(metric)
        rows.append(SweepRow(s, c, st, None if v is None else float(v)))
    sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
    rows.sort(key=lambda r: (r.score is None, sign * (r.score or 0.0)))
    return rows, multiple_testing_warning(len(tasks))

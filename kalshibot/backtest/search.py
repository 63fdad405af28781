"""Parameter search beyond a grid (``backtest --search``): Optuna's TPE sampler over declared
ranges (``--param-range z_entry=1.0:3.0``), minimising a loss on the same backends as sweeps.

Losses (all "higher is better" figures negated): ``net_pnl`` (dollars), ``sharpe``,
``sortino``, ``calmar`` (return on capital / max drawdown fraction) and ``pnl_over_dd``
(net P&L / max drawdown dollars). A trial whose loss is undefined (e.g. Sharpe with fewer than
two days, no drawdown) ranks last. Needs the ``search`` extra (``optuna``); seeded, so a search
is repeatable. The multiple-testing warning counts every trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from kalshibot.backtest.config import BacktestConfig
from kalshibot.backtest.sweep import (
    SweepRow,
    check_backend,
    multiple_testing_warning,
    run_one,
)
from kalshibot.errors import UserInputError

LOSSES = ("net_pnl", "sharpe", "sortino", "calmar", "pnl_over_dd")
INSTALL_HINT = ("--search needs the 'optuna' package: pip install optuna "
                "(the kalshibot 'search' extra)")


def parse_ranges(specs: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``["z_entry=1.0:3.0"]`` -> {"z_entry": (1.0, 3.0)}; low < high, both finite."""
    out: dict[str, tuple[float, float]] = {}
    for s in specs:
        name, sep, rng = s.partition("=")
        lo_s, colon, hi_s = rng.partition(":")
        try:
            lo, hi = float(lo_s), float(hi_s)
        except ValueError:
            lo = hi = float("nan")
        if not sep or not colon or not name.strip() or not (lo < hi) or abs(hi - lo) == float(
                "inf"):
            raise UserInputError(f"--param-range {s!r}: expected name=low:high with low < high")
        out[name.strip()] = (lo, hi)
    if not out:
        raise UserInputError("--search needs at least one --param-range name=low:high")
    return out


def score(stats: dict[str, Any], loss: str) -> float | None:
    """The figure to maximise for ``loss`` from ``Stats.as_dict()`` (None = undefined)."""
    if loss == "net_pnl":
        return float(stats["net_pnl"])
    if loss in ("sharpe", "sortino"):
        v = stats[loss]
        return None if v is None else float(v)
    if loss == "calmar":
        dd = float(stats["max_drawdown_pct"])
        return None if dd <= 0 else float(stats["return_on_capital"]) / dd
    if loss == "pnl_over_dd":
        dd = float(stats["max_drawdown"])
        return None if dd <= 0 else float(stats["net_pnl"]) / dd
    raise UserInputError(f"--loss {loss!r}: choose from {', '.join(LOSSES)}")


def _evaluate(cfg: BacktestConfig, tasks: list[tuple[str, dict[str, str]]], backend: str,
              n_jobs: int, client: Any) -> list[dict[str, Any]]:
    if client is not None:
        from kalshibot.backtest.distributed import run_on_client

        return run_on_client(client, cfg, tasks)
    from joblib import Parallel, delayed, parallel_config

    from kalshibot.cluster import local_workers

    with parallel_config(backend=backend, n_jobs=local_workers(n_jobs, len(tasks))):
        return list(Parallel()(delayed(run_one)(cfg, s, p) for s, p in tasks))


def run_search(cfg: BacktestConfig, ranges: Sequence[str], *, loss: str = "sharpe",
               trials: int = 20, seed: int = 0, n_jobs: int = 1, backend: str | None = None,
               scheduler: str | None = None) -> tuple[list[SweepRow], str | None]:
    """``trials`` trials per strategy of ``cfg`` (batches of ``n_jobs`` asked together); rows
    best first (``score`` = the loss's figure, higher is better), plus the warning."""
    if loss not in LOSSES:
        raise UserInputError(f"--loss {loss!r}: choose from {', '.join(LOSSES)}")
    if trials < 1:
        raise UserInputError(f"--trials must be at least 1, got {trials}")
    bounds = parse_ranges(ranges)
    name = check_backend(backend, scheduler)
    try:
        import optuna
    except ImportError:
        raise UserInputError(INSTALL_HINT) from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = replace(cfg, state_dir=None)
    client = cluster = None
    if name == "dask":
        from kalshibot.backtest.distributed import make_client

        client, cluster = make_client(scheduler, n_jobs)
    rows: list[SweepRow] = []
    try:
        for strategy in cfg.strategies:
            study = optuna.create_study(direction="maximize",
                                        sampler=optuna.samplers.TPESampler(seed=seed))
            done = 0
            while done < trials:
                batch = [study.ask() for _ in range(min(max(1, n_jobs), trials - done))]
                params = [{k: repr(round(t.suggest_float(k, lo, hi), 6))
                           for k, (lo, hi) in bounds.items()} for t in batch]
                results = _evaluate(cfg, [(strategy, p) for p in params], name, n_jobs, client)
                for t, p, st in zip(batch, params, results, strict=True):
                    v = score(st, loss)
                    if v is None:
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
                    else:
                        study.tell(t, v)
                    rows.append(SweepRow(strategy, p, st, v))
                done += len(batch)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    rows.sort(key=lambda r: (r.score is None, -(r.score or 0.0)))
    return rows, multiple_testing_warning(len(rows))


def windows_of(cfg: BacktestConfig, n: int) -> list[BacktestConfig]:
    """``n`` consecutive equal windows of ``[cfg.start, cfg.end)`` (markets by close time)."""
    if cfg.start is None or cfg.end is None:
        raise UserInputError("--walk-forward needs --from and --to (the span it splits)")
    if n < 2:
        raise UserInputError(f"--walk-forward needs at least 2 windows, got {n}")
    step = (cfg.end - cfg.start) / n
    edges = [cfg.start + step * i for i in range(n)] + [cfg.end]
    return [replace(cfg, start=edges[i], end=edges[i + 1]) for i in range(n)]


def walk_forward(cfg: BacktestConfig, ranges: Sequence[str], *, windows: int,
                 loss: str = "sharpe", trials: int = 20, seed: int = 0, n_jobs: int = 1,
                 backend: str | None = None, scheduler: str | None = None
                 ) -> tuple[list[dict[str, Any]], str | None]:
    """Walk-forward optimisation: search on window k, test the best parameters on window k+1.

    Returns one row per out-of-sample window and strategy (``window`` = [from, to) of the test,
    ``params`` fitted on the window before, ``in_sample`` its search score, ``out_of_sample``
    the loss figure on the test window, ``stats`` its statistics), plus the multiple-testing
    warning for the trials of one fit."""
    parts = windows_of(cfg, windows)
    rows: list[dict[str, Any]] = []
    warning = None
    for k in range(len(parts) - 1):
        for strategy in cfg.strategies:
            fit = replace(parts[k], strategies=(strategy,))
            ranked, warning = run_search(fit, ranges, loss=loss, trials=trials, seed=seed,
                                         n_jobs=n_jobs, backend=backend, scheduler=scheduler)
            best = ranked[0]
            test = replace(parts[k + 1], strategies=(strategy,), state_dir=None)
            st = run_one(test, strategy, best.params)
            rows.append({"window": [test.start, test.end], "strategy": strategy,
                         "params": best.params, "in_sample": best.score,
                         "out_of_sample": score(st, loss), "stats": st})
    return rows, warning

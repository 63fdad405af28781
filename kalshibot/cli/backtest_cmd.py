"""`kalshibot backtest`: replay stored history through the trading engine and report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer

from kalshibot.cli.context import console, err_console, settings
from kalshibot.cli.options import parse_when, split_list
from kalshibot.cli.progress import progress_bar
from kalshibot.cli.render import dollars, print_json, print_table
from kalshibot.errors import UserInputError


def _params(values: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        k, sep, x = v.partition("=")
        if not sep or not k.strip():
            raise UserInputError(f"--param {v!r}: expected name=value")
        out[k.strip()] = x.strip()
    return out


def _dec(text: str | None, option: str) -> Decimal | None:
    """A finite decimal option value (None when not given). NaN/Infinity are refused here:
    they used to pass and end as an "internal error" (NaN compared) or an infinite bankroll."""
    if text is None:
        return None
    try:
        v = Decimal(text.strip())
    except InvalidOperation:
        raise UserInputError(f"{option}: not a number: {text!r}") from None
    if not v.is_finite():
        raise UserInputError(f"{option}: not a finite number: {text!r}")
    return v


def _env_scheduler(backend: str | None, configured: str) -> str | None:
    """KALSHIBOT_DASK_SCHEDULER applies to ``--backend dask`` only (loky stays local)."""
    return configured or None if (backend or "").strip().lower() == "dask" else None


def _limits_json(cfg: Any) -> dict[str, Any]:
    """The risk limits the backtest ran with (the trader's settings), exact decimals as text."""
    from dataclasses import fields

    from kalshibot.backtest.runner import risk_limits

    limits = risk_limits(cfg)
    out: dict[str, Any] = {}
    for f in fields(limits):
        v = getattr(limits, f.name)
        v = getattr(v, "amount", v)
        out[f.name] = v if v is None or isinstance(v, (int, float)) else str(v)
    return out


def _with_breakdown(doc: dict[str, Any], run: Any, period: str | None) -> dict[str, Any]:
    if period is not None:
        from kalshibot.backtest.breakdown import breakdown

        doc["breakdown"] = {"period": period,
                            "rows": [r.as_dict() for r in breakdown(run, period)]}
    return doc


def _print_breakdown(reports: Sequence[Any], period: str) -> None:
    from kalshibot.backtest.breakdown import breakdown

    for rep in reports:
        print_table(f"{rep.run.strategy} by {period} (UTC)",
                    [period, "open $", "close $", "P&L $", "return %", "fees $", "fills",
                     "contracts", "max DD $"],
                    [(r.period, dollars(r.start_equity), dollars(r.end_equity), dollars(r.pnl),
                      f"{r.return_pct:.2f}", dollars(r.fees), r.fills, r.contracts,
                      dollars(r.max_drawdown))
                     for r in breakdown(rep.run, period)])


def _print_walk_forward(cfg: Any, ranges: list[str], windows: int, loss: str, trials: int,
                        seed: int, jobs: int, backend: str | None, where: str | None,
                        as_json: bool) -> None:
    from kalshibot.backtest.search import walk_forward

    rows, warning = walk_forward(cfg, ranges, windows=windows, loss=loss, trials=trials,
                                 seed=seed, n_jobs=jobs, backend=backend, scheduler=where)
    if as_json:
        print_json({"loss": loss, "warning": warning, "windows": rows})
        return
    print_table(f"walk-forward, out-of-sample windows only ({loss})",
                ["test window", "strategy", "params (fitted before)", "in-sample", "out-of-sample",
                 "net P&L $", "max DD $"],
                [(f"{r['window'][0]:%Y-%m-%d %H:%M} .. {r['window'][1]:%Y-%m-%d %H:%M}",
                  r["strategy"], " ".join(f"{k}={v}" for k, v in r["params"].items()),
                  "-" if r["in_sample"] is None else f"{r['in_sample']:.4f}",
                  "-" if r["out_of_sample"] is None else f"{r['out_of_sample']:.4f}",
                  dollars(r["stats"]["net_pnl"]), dollars(r["stats"]["max_drawdown"]))
                 for r in rows])
    if warning:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


def backtest(
    strategy: list[str] = typer.Option(None, "--strategy", help="Strategies to compare side by side (comma-separated or repeated): meanrev, crypto, edge (alias model). Default: meanrev."),
    series: list[str] = typer.Option(None, "--series", "-s", help="Series tickers (comma-separated or repeated)."),
    tickers: list[str] = typer.Option(None, "--tickers", "-t", help="Market tickers (comma-separated or repeated)."),
    from_: str = typer.Option(None, "--from", help="Only markets closing at or after this UTC time (ISO, e.g. 2026-09-01T00:00Z, or 30m/6h/7d ago)."),
    to: str = typer.Option(None, "--to", help="Only markets closing before this UTC time (ISO or 30m/6h/7d ago)."),
    database: Path = typer.Option(None, "--db", help="Market-data store (default: KALSHIBOT_DB_PATH)."),
    interval: float = typer.Option(10.0, "--interval", help="Seconds of simulated time between engine cycles."),
    latency: float = typer.Option(1.0, "--latency", help="Seconds between a decision and its order reaching the venue (fills use the book at that later time)."),
    fills: str = typer.Option("pessimistic", "--fills", help="Fill model: worst | pessimistic (default) | neutral | optimistic."),
    unknown_size: str = typer.Option(None, "--unknown-size", help="Contracts assumed at recorded prices whose size was not recorded (default: none, i.e. untradeable)."),
    cash: str = typer.Option("10000", "--cash", help="Starting cash in dollars."),
    min_edge: str = typer.Option(None, "--min-edge", help="Dollars per contract after fees (default: KALSHIBOT_MIN_EDGE)."),
    kelly: str = typer.Option(None, "--kelly", help="Kelly fraction (default: KALSHIBOT_KELLY_FRACTION)."),
    param: list[str] = typer.Option(None, "--param", help="Strategy parameter name=value (repeatable), e.g. z_entry=2.5."),
    model: str = typer.Option(None, "--model", help="For --strategy edge (alias model): 'walk-forward' (default: retrained on settled markets as time passes), 'current' or a registry artefact folder."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Model registry folder (default: KALSHIBOT_MODEL_DIR)."),
    allow_in_sample: bool = typer.Option(False, "--allow-in-sample", help="With --model: allow a span overlapping the model's training window (the report is stamped IN-SAMPLE)."),
    max_book_age: float = typer.Option(None, "--max-book-age", help="Seconds: a fill needs a book recorded at most this long before the order arrives (default: twice the data's median recording interval)."),
    retrain_every: float = typer.Option(24.0, "--retrain-every", help="Hours between walk-forward retrainings."),
    full: bool = typer.Option(False, "--full", help="Run the engine on every cycle (no fast path)."),
    check_lookahead: bool = typer.Option(False, "--check-lookahead", help="Re-run truncated at each entry; fail if any decision changes."),
    lookahead_points: int = typer.Option(25, "--lookahead-points", help="At most this many truncation points (evenly spread over the entries)."),
    sweep: list[str] = typer.Option(None, "--sweep", help="Parameter grid name=v1,v2,... (repeatable)."),
    rank_by: str = typer.Option("sharpe", "--rank-by", help="Sweep ranking metric: net_pnl, sharpe, sortino, return_on_capital, win_rate, max_drawdown, ..."),
    jobs: int = typer.Option(1, "--jobs", help="Sweep/search: parallel jobs (at most the CPUs available); walk-forward retraining: local Dask workers."),
    backend: str = typer.Option(None, "--backend", help="Sweep/search, and walk-forward retraining of --strategy edge: loky (default, local processes), threading, or dask (needs the dask extra: pip install distributed; a local cluster of --jobs workers unless --scheduler)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --backend dask; with --backend dask the default is KALSHIBOT_DASK_SCHEDULER, else a local cluster)."),
    search: bool = typer.Option(False, "--search", help="Optuna search over --param-range instead of a grid (needs optuna); ranked like --sweep."),
    param_range: list[str] = typer.Option(None, "--param-range", help="Search range name=low:high (repeatable), e.g. z_entry=1.0:3.0."),
    loss: str = typer.Option("sharpe", "--loss", help="Search objective (maximised): net_pnl, sharpe, sortino, calmar, pnl_over_dd."),
    trials: int = typer.Option(20, "--trials", help="Search: trials per strategy (the budget)."),
    walk_forward: int = typer.Option(0, "--walk-forward", help="Search: split --from..--to into N windows, fit on each, report the next window out of sample only."),
    seed: int = typer.Option(0, "--seed", help="Search: sampler seed (same seed, same trials)."),
    breakdown: str = typer.Option(None, "--breakdown", help="Also report P&L, return, fees, fills and drawdown per UTC day, ISO week or month: day | week | month."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    export: Path = typer.Option(None, "--export", help="Write trades.csv and decisions.csv into this folder."),
    plot: Path = typer.Option(None, "--plot", help="Write equity, drawdown and reliability charts to this PNG (needs matplotlib)."),
) -> None:
    """Replay stored history through the same engine as `trade`, with conservative fills and fees.

    Exit code 1 when --check-lookahead finds a decision that changes when the future is removed.
    """
    from kalshibot.backtest import BacktestConfig, FillModel
    from kalshibot.backtest import backtest as run
    from kalshibot.backtest.config import backtest_settings

    s = settings()
    fm = FillModel.preset(fills)
    size = _dec(unknown_size, "--unknown-size")
    if size is not None:
        if size <= 0:
            raise UserInputError("--unknown-size must be positive")
        fm = FillModel(fm.name, fm.trade_through, fm.queue_front, fm.taker_fee_always, size)
    cash_d = _dec(cash, "--cash")
    # ``is not None``, not ``or``: an explicit 0 (e.g. --min-edge 0) must not become the default.
    edge, kelly_d = _dec(min_edge, "--min-edge"), _dec(kelly, "--kelly")
    if edge is not None and not (0 <= edge < 1):
        raise UserInputError(f"--min-edge must be in [0, 1) dollars per contract, got {edge}")
    if kelly_d is not None and not (0 < kelly_d <= 1):
        raise UserInputError(f"--kelly must be in (0, 1], got {kelly_d}")
    now = datetime.now(UTC)
    cfg = BacktestConfig(
        data=database or s.database_path,
        strategies=split_list(strategy) or ("meanrev",),
        series=split_list(series), tickers=split_list(tickers),
        start=parse_when(from_, "--from", now), end=parse_when(to, "--to", now),
        interval_s=interval, latency_s=latency, fill=fm,
        starting_cash=cash_d if cash_d is not None else Decimal("10000"),
        min_edge=edge if edge is not None else Decimal(str(s.min_edge)),
        kelly_fraction=kelly_d if kelly_d is not None else Decimal(str(s.kelly_fraction)),
        adverse_selection=Decimal(str(s.adverse_selection)),
        params=_params(param), model=model, model_dir=model_dir or s.model_dir,
        retrain_every_h=retrain_every, fast=not full, direct_member=s.direct_member,
        max_book_age_s=max_book_age, allow_in_sample=allow_in_sample,
        settings=backtest_settings(s))
    cfg.validate()
    if breakdown is not None:
        from kalshibot.backtest.breakdown import PERIODS

        breakdown = breakdown.strip().lower()
        if breakdown not in PERIODS:
            raise UserInputError(f"--breakdown {breakdown!r}: choose from {', '.join(PERIODS)}")
        if sweep or search:
            raise UserInputError("--breakdown does not apply to --sweep or --search")
    if sweep and search:
        raise UserInputError("--sweep and --search are alternatives: choose one")
    if sweep or search:
        from kalshibot.backtest.search import run_search
        from kalshibot.backtest.sweep import run_sweep

        where = scheduler or _env_scheduler(backend, s.dask_scheduler)
        if walk_forward:
            if not search:
                raise UserInputError("--walk-forward applies to --search")
            _print_walk_forward(cfg, list(param_range or []), walk_forward, loss, trials, seed,
                                jobs, backend, where, as_json)
            return
        if search:
            rank_by = loss
            rows, warning = run_search(cfg, list(param_range or []), loss=loss, trials=trials,
                                       seed=seed, n_jobs=jobs, backend=backend, scheduler=where)
        else:
            rows, warning = run_sweep(cfg, list(sweep), metric=rank_by, n_jobs=jobs,
                                      backend=backend, scheduler=where)
        if as_json:
            print_json({"metric": rank_by, "warning": warning,
                        "rows": [{"strategy": r.strategy, "params": r.params, "score": r.score,
                                  "stats": r.stats} for r in rows]})
        else:
            print_table(f"sweep ranked by {rank_by}", ["#", "strategy", "params", rank_by,
                                                       "net P&L $", "fees $", "max DD $"],
                        [(i + 1, r.strategy, " ".join(f"{k}={v}" for k, v in r.params.items()),
                          "-" if r.score is None else f"{r.score:.4f}",
                          dollars(r.stats["net_pnl"]), dollars(r.stats["fees"]),
                          dollars(r.stats["max_drawdown"]))
                         for i, r in enumerate(rows)])
            if warning:
                err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        return
    from dataclasses import replace

    from kalshibot.backtest.sweep import check_backend
    from kalshibot.cluster import close_shared, scheduler_for

    where = scheduler_for(backend, scheduler, s.dask_scheduler)
    dask = check_backend(backend, where) == "dask"  # same choices and errors as a sweep
    cfg = replace(cfg, train_backend="dask" if dask else "local", train_scheduler=where,
                  train_jobs=jobs)  # walk-forward retraining of --strategy edge (issue 18)
    try:
        with progress_bar(show=not as_json) as bar:
            reports = run(cfg, check_lookahead=check_lookahead, lookahead_points=lookahead_points)
            bar.finish()
    finally:
        close_shared()
    from kalshibot.store.quotes import history_of, summary_line

    history = history_of(cfg.data, cfg.series, cfg.tickers, cfg.start, cfg.end)
    if export is not None:
        from kalshibot.backtest.report import export as write_csv

        paths = write_csv(reports, export)
        if not as_json:
            console.print("wrote " + ", ".join(str(p) for p in paths))
    if plot is not None:
        from kalshibot.backtest.report import plot as draw

        draw(reports, plot)
        if not as_json:
            console.print(f"wrote {plot}")
    if as_json:
        print_json({"config": {"strategies": list(cfg.strategies), "series": list(cfg.series),
                               "tickers": list(cfg.tickers), "from": cfg.start, "to": cfg.end,
                               "interval_s": cfg.interval_s, "latency_s": cfg.latency_s,
                               "fills": fm.name, "starting_cash": format(cfg.starting_cash, "f"),
                               "fast": cfg.fast, "max_book_age_s": cfg.max_book_age_s,
                               "allow_in_sample": cfg.allow_in_sample,
                               "risk_limits": _limits_json(cfg)},
                    "history": history,
                    "runs": [_with_breakdown(r.as_dict(), r.run, breakdown) for r in reports]})
    else:
        from kalshibot.backtest.report import render

        render(reports, console)
        console.print(summary_line(history), highlight=False)
        if breakdown is not None:
            _print_breakdown(reports, breakdown)
    if check_lookahead and any(r.lookahead is not None and not r.lookahead.ok for r in reports):
        err_console.print("[red]lookahead check failed:[/red] a decision changed when the "
                          "future was removed from the data")
        raise typer.Exit(1)

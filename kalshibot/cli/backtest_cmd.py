"""`kalshibot backtest`: replay stored history through the trading engine and report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from kalshibot.cli.context import console, err_console, settings
from kalshibot.cli.options import parse_when, split_list
from kalshibot.cli.progress import progress_bar
from kalshibot.cli.render import print_json, print_table
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


def backtest(
    strategy: list[str] = typer.Option(None, "--strategy", help="Strategies to compare side by side (comma-separated or repeated): meanrev, crypto, model. Default: meanrev."),
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
    model: str = typer.Option(None, "--model", help="For --strategy edge (alias model): a registry artefact folder, 'current' (default) or 'walk-forward'."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Model registry folder (default: KALSHIBOT_MODEL_DIR)."),
    retrain_every: float = typer.Option(24.0, "--retrain-every", help="Hours between walk-forward retrainings."),
    full: bool = typer.Option(False, "--full", help="Run the engine on every cycle (no fast path)."),
    check_lookahead: bool = typer.Option(False, "--check-lookahead", help="Re-run truncated at each entry; fail if any decision changes."),
    lookahead_points: int = typer.Option(25, "--lookahead-points", help="At most this many truncation points (evenly spread over the entries)."),
    sweep: list[str] = typer.Option(None, "--sweep", help="Parameter grid name=v1,v2,... (repeatable)."),
    rank_by: str = typer.Option("sharpe", "--rank-by", help="Sweep ranking metric: net_pnl, sharpe, sortino, return_on_capital, win_rate, max_drawdown, ..."),
    jobs: int = typer.Option(1, "--jobs", help="Sweep: parallel jobs."),
    backend: str = typer.Option(None, "--backend", help="Sweep: joblib backend (loky, threading, dask, ray)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    export: Path = typer.Option(None, "--export", help="Write trades.csv and decisions.csv into this folder."),
    plot: Path = typer.Option(None, "--plot", help="Write equity, drawdown and reliability charts to this PNG (needs matplotlib)."),
) -> None:
    """Replay stored history through the same engine as `trade`, with conservative fills and fees.

    Exit code 1 when --check-lookahead finds a decision that changes when the future is removed.
    """
    from kalshibot.backtest import BacktestConfig, FillModel
    from kalshibot.backtest import backtest as run

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
        retrain_every_h=retrain_every, fast=not full, direct_member=s.direct_member)
    cfg.validate()
    if sweep:
        from kalshibot.backtest.sweep import run_sweep

        rows, warning = run_sweep(cfg, list(sweep), metric=rank_by, n_jobs=jobs,
                                  backend=backend)
        if as_json:
            print_json({"metric": rank_by, "warning": warning,
                        "rows": [{"strategy": r.strategy, "params": r.params, "score": r.score,
                                  "stats": r.stats} for r in rows]})
        else:
            print_table(f"sweep ranked by {rank_by}", ["#", "strategy", "params", rank_by,
                                                       "net P&L $", "fees $", "max DD $"],
                        [(i + 1, r.strategy, " ".join(f"{k}={v}" for k, v in r.params.items()),
                          "-" if r.score is None else f"{r.score:.4f}", r.stats["net_pnl"],
                          r.stats["fees"], r.stats["max_drawdown"])
                         for i, r in enumerate(rows)])
            if warning:
                err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        return
    with progress_bar(show=not as_json) as bar:
        reports = run(cfg, check_lookahead=check_lookahead, lookahead_points=lookahead_points)
        bar.finish()
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
                               "fast": cfg.fast},
                    "runs": [r.as_dict() for r in reports]})
    else:
        from kalshibot.backtest.report import render

        render(reports, console)
    if check_lookahead and any(r.lookahead is not None and not r.lookahead.ok for r in reports):
        err_console.print("[red]lookahead check failed:[/red] a decision changed when the "
                          "future was removed from the data")
        raise typer.Exit(1)

"""`kalshibot train`: fit the probability model on settled history and judge it against the market.

Store -> features -> walk-forward folds (through joblib) -> final model -> ``models/`` registry
(marked current). Prints per-fold and overall metrics next to the market's mid and the base
rate, the verdict (does it beat the market?) and the saved artefact's path; ``--json`` prints
the same as one JSON document.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kalshibot.cli.context import console, err_console, lock_for_writing, settings
from kalshibot.cli.options import parse_when, split_list
from kalshibot.cli.progress import stage_bars
from kalshibot.cli.render import print_json, table
from kalshibot.config import Settings
from kalshibot.errors import UserInputError
from kalshibot.models.registry import Model, jsonable

if TYPE_CHECKING:  # pandas loads only when `train` runs (issue 19: start-up CPU)
    import pandas as pd

_STAGES = {"load": "loading history", "features": "building features",
           "fit": "fitting folds + final model"}


def _ts(t: datetime | None) -> pd.Timestamp | None:
    import pandas as pd

    return None if t is None else pd.Timestamp(t)


def _f(x: Any, nd: int = 4) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _usd(text: str) -> str:
    v = float(text)
    return f"{'-' if v < 0 else '+'}${abs(v):.2f}"


def train(
    series: list[str] | None = typer.Option(None, "--series", help="Series ticker(s), e.g. "
                                            "KXBTC15M (repeat or comma-separate)."),
    tickers: list[str] | None = typer.Option(None, "--tickers", help="Market ticker(s)."),
    since: str | None = typer.Option(None, "--since", help="Markets closing at or after (UTC)."),
    until: str | None = typer.Option(None, "--until", help="Markets closing before (UTC)."),
    folds: int = typer.Option(3, "--folds", help="Walk-forward folds."),
    jobs: int = typer.Option(2, "--jobs", help="Parallel fit tasks (local processes, or the "
                             "workers of a local Dask cluster)."),
    backend: str | None = typer.Option(None, "--backend", help="Where the folds and the final "
                                       "fit run: local (default, joblib) or dask (needs the "
                                       "dask extra: pip install distributed; a local cluster "
                                       "of --jobs workers unless --scheduler)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address, "
                                         "e.g. tcp://10.0.0.5:8786 (implies --backend dask; "
                                         "with --backend dask the default is "
                                         "KALSHIBOT_DASK_SCHEDULER, else a local cluster)."),
    min_edge: float | None = typer.Option(None, "--min-edge", help="Edge after fees to trade "
                                          "in the P&L simulation (default: KALSHIBOT_MIN_EDGE)."),
    require_edge: bool = typer.Option(False, "--require-edge", hidden=True,
                                      help="Kept for scripts: this is now the default."),
    force: bool = typer.Option(False, "--force", help="Mark the new model current even when it "
                               "does not beat the market out of sample."),
    db: Path | None = typer.Option(None, "--db", help="SQLite store (default: KALSHIBOT_DB_PATH)."),
    model_dir: Path | None = typer.Option(None, "--model-dir", help="Model registry folder "
                                          "(default: KALSHIBOT_MODEL_DIR)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train the probability model on settled history; report it against the market."""
    from kalshibot.cluster import scheduler_for
    from kalshibot.models.training import Selection, TrainConfig, check_backend, run_training

    if folds < 1:
        raise UserInputError(f"--folds must be at least 1, got {folds}")
    if jobs < 1:
        raise UserInputError(f"--jobs must be at least 1, got {jobs}")
    if min_edge is not None and not (0 <= min_edge < 1):
        raise UserInputError(f"--min-edge must be in [0, 1), got {min_edge}")
    sel = Selection(series=list(split_list(series)) or None,
                    tickers=list(split_list(tickers)) or None,
                    since=_ts(parse_when(since, "--since")), until=_ts(parse_when(until, "--until")))
    if sel.since is not None and sel.until is not None and sel.since >= sel.until:
        raise UserInputError(f"--since {sel.since} is not before --until {sel.until}")
    s = settings(db_path=db, model_dir=model_dir)
    where = scheduler_for(backend, scheduler, s.dask_scheduler)
    backend = check_backend(backend, where)
    lock_for_writing(s.database_path)  # the model registry is written to this database
    cfg = TrainConfig(n_folds=folds, n_jobs=jobs, direct_member=s.direct_member,
                      backend=backend, scheduler=where,
                      min_edge=s.min_edge if min_edge is None else min_edge)
    with stage_bars(_STAGES, show=not as_json) as cb:
        result, saved = run_training(s.database_path, s.model_dir, sel, cfg, cb,
                                     require_beats_market=not force)
    report = result.report
    from kalshibot.store.quotes import history_of, summary_line

    history = history_of(s.database_path, sel.series or (), sel.tickers or (),
                         sel.since, sel.until)
    if as_json:
        print_json(jsonable({"model_id": saved.model_id, "path": str(saved.path),
                             "current": saved.meta.get("current"),
                             "beats_market": saved.meta.get("beats_market"),
                             "forced": force, "rows": result.rows,
                             "training_window": [str(result.window[0]), str(result.window[1])],
                             "seconds": result.seconds, "report": report,
                             "history": history}))
        return
    render_report(report)
    console.print(summary_line(history), highlight=False)
    console.print(f"rows {result.rows:,} | window {result.window[0]:%Y-%m-%d %H:%M} to "
                  f"{result.window[1]:%Y-%m-%d %H:%M} UTC | {result.seconds['total']:.1f} s")
    beats = bool(saved.meta.get("beats_market"))
    if not saved.meta.get("current"):
        state = ("NOT marked current: it does not beat the market out of sample "
                 "(the previous current model stays; --force to use it anyway)" if not beats
                 else "NOT marked current")
    elif not beats:
        state = "marked current by --force although it does NOT beat the market out of sample"
    else:
        state = "marked current: it beats the market out of sample"
    console.print(f"saved model {saved.model_id} ({state}): {saved.path / 'model.joblib'}",
                  highlight=False)


def render_report(report: dict[str, Any]) -> None:
    """Rich tables: metrics per fold and overall, model vs market vs base rate; verdict."""
    rows: list[list[str]] = []
    blocks = [(str(f["fold"]), f) for f in report.get("folds", [])]
    if report.get("overall"):
        blocks.append(("all", report["overall"]))
    for name, b in blocks:
        for who in ("model", "market", "base_rate"):
            m = b[who]
            rows.append([name if who == "model" else "", {"base_rate": "base"}.get(who, who),
                         f"{b['rows']:,}" if who == "model" else "", _f(m["brier"]),
                         _f(m["log_loss"]), _f(m["ece"]),
                         _f(b["bss_vs_market"], 3) if who == "model" else "",
                         (f"{_usd(b['pnl']['pnl'])}/{b['pnl']['trades']}"
                          if who == "model" else "")])
    console.print(table("walk-forward evaluation (test folds; market = YES mid as probability; "
                        "skill = Brier skill vs market; P&L after fees / trades)",
                        ["fold", "who", "rows", "Brier", "logloss", "ECE", "skill", "P&L"],
                        rows))
    overall = report.get("overall")
    if overall:
        rel = overall["reliability"]
        console.print(table("reliability (all test folds)",
                            ["bin", "n", "model p", "freq", "mkt n", "mkt p", "freq"],
                            [[a["bin"], a["n"], _f(a["mean_pred"], 3), _f(a["freq_yes"], 3),
                              b["n"], _f(b["mean_pred"], 3), _f(b["freq_yes"], 3)]
                             for a, b in zip(rel["model"], rel["market"], strict=True)]))
        style = "green" if overall["beats_market"] else "bold red"
        console.print(f"[{style}]{overall['verdict']}[/{style}]", highlight=False)
    else:
        console.print(f"[bold red]{report.get('verdict', 'no evaluation')}[/bold red]")


def train_for_trading(s: Settings, *, series: list[str] | None = None,
                      tickers: list[str] | None = None) -> Model:
    """``trade --train``: train on the settled history of the series being traded, save the
    model and mark it current **only when it beats the market out of sample** (as ``train``
    without ``--force``: the session then trades the previous current model, or refuses to
    start without one), print a one-line verdict; returns the saved model.

    Traded tickers are usually still open, so training uses their *series* (the ticker's part
    before the first ``-``) rather than the tickers themselves.
    """
    from kalshibot.models.training import Selection, TrainConfig, run_training

    if not series and tickers:
        series = sorted({t.split("-", 1)[0] for t in tickers if t})
    lock_for_writing(s.database_path)  # the model registry is written to this database
    with stage_bars(_STAGES, show=True) as cb:
        result, saved = run_training(s.database_path, s.model_dir, Selection(series=series),
                                     TrainConfig(min_edge=s.min_edge,
                                                 direct_member=s.direct_member), cb,
                                     require_beats_market=True)
    overall = result.report.get("overall") or {}
    state = ("marked current" if saved.meta.get("current") else
             "NOT marked current: it does not beat the market out of sample (the previous "
             "current model stays; `kalshibot train --force` to use it anyway)")
    err_console.print(f"trained model {saved.model_id} on {result.rows:,} rows: "
                      f"{(overall.get('verdict') or result.report.get('verdict', '')).rstrip('.')}; "
                      f"{state}",
                      highlight=False, soft_wrap=True)
    return saved

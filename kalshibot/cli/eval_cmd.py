"""`kalshibot eval crypto`: score the 15-minute crypto pricer on stored spot and settlements.

The work is ``kalshibot.models.crypto_eval.evaluate`` (walk-forward, day-block bootstrap); this
module parses options, prints the tables or JSON, and draws the reliability curves.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kalshibot.cli.context import console, settings
from kalshibot.cli.options import parse_when, split_list
from kalshibot.cli.status_cmd import DB_HELP, _clock, open_db, resolve_db
from kalshibot.errors import UserInputError

eval_app = typer.Typer(help="Evaluate pricers out of sample.", no_args_is_help=True)

HORIZONS_HELP = ("Minutes into the 15-minute window at which to price (1..14), "
                 "comma-separated.")


def _horizons(raw: list[str] | None) -> tuple[int, ...]:
    vals = split_list(raw) or ("1", "5", "10")
    try:
        out = tuple(sorted({int(v) for v in vals}))
    except ValueError:
        raise UserInputError(f"--horizons must be whole minutes, got {','.join(vals)}") from None
    if any(not 1 <= h <= 14 for h in out):
        raise UserInputError("--horizons must be within 1..14 minutes into the window")
    return out


def _fmt(x: float | None, nd: int = 4) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def _ci(ci: Any, nd: int = 4, signed: bool = True) -> str:
    if not ci:
        return "-"
    f = f"{{:+.{nd}f}}" if signed else f"{{:.{nd}f}}"
    return "[" + f.format(ci[0]) + "," + f.format(ci[1]) + "]"


def _clean(x: Any) -> Any:
    """NaN -> None, recursively (JSON has no NaN)."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def render(r: dict[str, Any]) -> None:
    ref = r["reference"]
    console.print(f"[bold]{r['series']}[/bold]: reference {ref['description']}",
                  highlight=False)
    w = r["windows"]
    skipped = ", ".join(f"{k}: {v}" for k, v in w["skipped"].items()) or "none"
    console.print(f"windows: {w['count']} ({w['mode']}); samples {r['samples']}, scored "
                  f"{r['test_samples']} on {len(r['test_days'])} test day(s) after "
                  f"{r['train_only_days']} training-only day(s); skipped: {skipped}",
                  highlight=False)
    console.print(f"pricer {r['pricer']} vs baseline {r['baseline']}; 95% intervals: paired "
                  f"bootstrap over UTC days ({r['bootstrap']['draws']} draws, seed "
                  f"{r['bootstrap']['seed']})", highlight=False)
    for h in r["horizons"]:
        t = Table(title=f"{h['minutes_into_window']} min into the window", title_justify="left",
                  box=None, padding=(0, 1), pad_edge=False, header_style="bold")
        for col in ("model", "n", "logloss", "vs EWMA [95% CI]", "Brier", "slope [95% CI]"):
            t.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
        for m in h["models"]:
            slope_ci = m.get("calibration_slope_ci95")
            t.add_row(m["name"], str(m["n"]), _fmt(m["log_loss"]),
                      f"{m['vs_ewma']['diff']:+.4f} {_ci(m['vs_ewma']['ci95'])}"
                      if m["name"] != "ewma" else "baseline",
                      _fmt(m["brier"]),
                      _fmt(m["calibration_slope"], 2) + (
                          f" {_ci(slope_ci, 2, signed=False)}" if slope_ci else ""))
        console.print(t)
        pricer = next((m for m in h["models"] if m["name"] == "pricer"), None)
        if pricer is not None:
            rel = "  ".join(f"{b['bin']}: {_fmt(b['mean_pred'], 2)}/{_fmt(b['freq_yes'], 2)} "
                            f"(n={b['n']})" for b in pricer["reliability"] if b["n"])
            console.print(f"pricer reliability (mean forecast / YES rate): {rel}",
                          highlight=False)
    for note in r["notes"]:
        console.print(f"note: {note}", highlight=False)


def plot_reliability(r: dict[str, Any], path: Path) -> None:
    """Reliability curves of the pricer and the EWMA baseline, one panel per horizon."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserInputError("--plot needs matplotlib",
                             hint="pip install 'kalshibot[plot]'") from None
    hs = r["horizons"]
    fig, axes = plt.subplots(1, len(hs), figsize=(4.2 * len(hs), 4.2), squeeze=False)
    for ax, h in zip(axes[0], hs, strict=True):
        ax.plot([0, 1], [0, 1], color="0.7", lw=1)
        for m in h["models"]:
            if m["name"] not in ("pricer", "ewma"):
                continue
            pts = [(b["mean_pred"], b["freq_yes"]) for b in m["reliability"] if b["n"]]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                    label=f"{m['name']} (log loss {m['log_loss']:.3f})")
        ax.set_title(f"{r['series']}: {h['minutes_into_window']} min in")
        ax.set_xlabel("forecast P(YES)")
        ax.set_ylabel("observed YES rate")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UserInputError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)


@eval_app.command("crypto")
def crypto(
    series: str = typer.Option("KXBTC15M", "--series", "-s", help="15-minute crypto series to score (its coin picks the spot symbol)."),
    horizons: list[str] = typer.Option(None, "--horizons", help=HORIZONS_HELP + " Default 1,5,10."),
    windows: str = typer.Option("auto", "--windows", help="markets: settled markets in the store; spot: every quarter-hour, outcome from the spot path; auto: markets when any has spot data around it, else spot."),
    symbol: str = typer.Option(None, "--symbol", help="Spot symbol to use (default: the settlement index if recorded, else the longest of BTC, BTCUSD, BTCUSDT, BTCUSDC...)."),
    source: str = typer.Option(None, "--source", help="Spot source to use (e.g. cfbenchmarks, binanceus)."),
    since: str = typer.Option(None, "--since", help="Use spot data from this time (ISO, UTC) or 7d ago."),
    until: str = typer.Option(None, "--until", help="Use spot data up to this time (ISO, UTC) or 1d ago."),
    min_train_days: int = typer.Option(3, "--min-train-days", min=1, help="Days used only to fit before the first test day."),
    boot: int = typer.Option(2000, "--boot", min=0, help="Bootstrap draws (0: no intervals)."),
    seed: int = typer.Option(17, "--seed", help="Bootstrap seed."),
    research: bool = typer.Option(True, "--research/--no-research", help="Also score the candidate forecasts that are not in the product."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable result."),
    plot: Path = typer.Option(None, "--plot", help="Write reliability curves to this PNG (needs matplotlib: pip install 'kalshibot[plot]')."),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Score the crypto pricer: log loss, Brier, reliability and calibration slope at each
    horizon, against the EWMA baseline and a coin flip, walk-forward by day."""
    from kalshibot.features.volatility import VolSpec
    from kalshibot.models.crypto_eval import EvalConfig, evaluate

    s = settings()
    now = _clock().now()
    cfg = EvalConfig(series=series.strip().upper(), horizons=_horizons(horizons),
                     windows=windows, symbol=symbol, source=source,
                     since=parse_when(since, "--since", now),
                     until=parse_when(until, "--until", now), min_train_days=min_train_days,
                     n_boot=boot, seed=seed,
                     pricer=VolSpec(s.crypto_vol_model, s.crypto_vol_halflife_s),
                     research=research)
    conn = open_db(resolve_db(s, db, False))
    try:
        result = evaluate(conn, cfg)
    finally:
        conn.close()
    if plot is not None:
        plot_reliability(result, plot)
    if as_json:
        print(json.dumps(_clean(result), indent=2, default=str))
        return
    render(result)
    if plot is not None:
        console.print(f"reliability curves written to {plot}", highlight=False)

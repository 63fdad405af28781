"""Backtest reports: rich tables, a JSON document, CSV exports and a PNG chart.

Money columns are exact dollars (printed with 4 decimals; JSON carries decimal strings).
``plot`` imports matplotlib lazily (optional extra: ``pip install kalshibot[plot]``).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kalshibot.backtest.runner import StrategyRun
from kalshibot.backtest.stats import Stats, money
from kalshibot.errors import UserInputError


@dataclass
class RunReport:
    run: StrategyRun
    stats: Stats
    unfilled: dict[str, int]
    book_warnings: list[str]
    lookahead: Any = None  # analysis.LookaheadReport when checked
    extra_warnings: list[str] = field(default_factory=list)

    def warnings(self) -> list[str]:
        w = list(self.run.warnings) + self.extra_warnings
        if self.stats.days < MIN_DAILY_RETURNS and (self.stats.sharpe is not None
                                                    or self.stats.sortino is not None):
            w.append(f"Sharpe/Sortino from {self.stats.days} daily return(s), fewer than "
                     f"{MIN_DAILY_RETURNS}: too little data to mean much (marked *)")
        if self.book_warnings:
            w.append(f"{len(self.book_warnings)} order(s) sent without a usable recorded book: "
                     + "; ".join(self.book_warnings[:3]))
        if self.run.errors:
            w.append(f"{len(self.run.errors)} engine error(s), first: {self.run.errors[0]}")
        return w

    def as_dict(self) -> dict[str, Any]:
        r = self.run
        doc: dict[str, Any] = {
            "strategy": r.strategy, "params": r.params, "stats": self.stats.as_dict(),
            "cycles_run": r.cycles_run, "cycles_skipped": r.cycles_skipped,
            "snapshots": r.snapshots, "seconds": round(r.seconds, 3),
            "orders": len(r.orders), "unfilled": self.unfilled,
            "unsettled": [{"ticker": u.ticker, "qty": format(u.qty.value, "f"),
                           "cost": format(u.cost.amount, "f"),
                           "mark": None if u.mark is None else u.mark.to_str(),
                           "value": format(u.value.amount, "f")} for u in r.unsettled],
            "warnings": self.warnings(),
            "max_book_age_s": r.max_book_age.total_seconds(),
            "no_current_book": r.no_current_book,
            "in_sample": r.in_sample,
        }
        if self.lookahead is not None:
            doc["lookahead"] = {"ok": self.lookahead.ok, "checked": self.lookahead.checked,
                                "entries": self.lookahead.entries,
                                "differences": self.lookahead.differences}
        return doc


#: Fewer daily returns than this: ratio statistics are shown with a warning (``*``).
MIN_DAILY_RETURNS = 30


def _ratio(x: float | None, days: int) -> str:
    return _f(x, ".2f") + ("*" if x is not None and days < MIN_DAILY_RETURNS else "")


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def render(reports: Sequence[RunReport], console: Console) -> None:
    """Side-by-side summary, per-series breakdown, unfilled orders and warnings."""
    t = Table(title="backtest: strategies side by side", title_justify="left",
              header_style="bold")
    t.add_column("metric")
    for rep in reports:
        t.add_column(rep.run.strategy, justify="right")
    rows: list[tuple[str, list[str]]] = [
        ("net P&L $", [money(r.stats.net_pnl) for r in reports]),
        ("fees $", [money(r.stats.fees) for r in reports]),
        ("return on capital", [f"{r.stats.return_on_capital:.2%}" for r in reports]),
        ("max drawdown $", [money(r.stats.max_drawdown) for r in reports]),
        ("max drawdown %", [f"{r.stats.max_drawdown_pct:.2%}" for r in reports]),
        ("Sharpe (daily, ann.)", [_ratio(r.stats.sharpe, r.stats.days) for r in reports]),
        ("Sortino (daily, ann.)", [_ratio(r.stats.sortino, r.stats.days) for r in reports]),
        ("days", [str(r.stats.days) for r in reports]),
        ("fills / markets", [f"{r.stats.trades} / {r.stats.markets_traded}" for r in reports]),
        ("win rate (settled mkts)", [_f(r.stats.win_rate, ".1%") for r in reports]),
        ("edge at entry $/ct", [_f(r.stats.avg_edge_entry, ".4f") for r in reports]),
        ("edge realised $/ct", [_f(r.stats.avg_edge_realised, ".4f") for r in reports]),
        ("volume $ / turnover", [f"{money(r.stats.volume)} / {r.stats.turnover:.2f}x"
                                 for r in reports]),
        ("exposure avg / max", [f"{r.stats.exposure_avg:.1%} / {r.stats.exposure_max:.1%}"
                                for r in reports]),
        ("time in market", [f"{r.stats.time_in_market:.1%}" for r in reports]),
        ("Brier model / market", [f"{_f(r.stats.brier_model, '.4f')} / "
                                  f"{_f(r.stats.brier_market, '.4f')}" for r in reports]),
        ("unsettled (marked at mid)", [str(r.stats.unsettled) for r in reports]),
        ("orders / not filled", [f"{len(r.run.orders)} / {sum(r.unfilled.values())}"
                                 for r in reports]),
        ("cycles run / skipped", [f"{r.run.cycles_run} / {r.run.cycles_skipped}"
                                  for r in reports]),
        ("no current book (skips)", [str(r.run.no_current_book) for r in reports]),
        ("book age limit s", [f"{r.run.max_book_age.total_seconds():g}" for r in reports]),
        ("snapshots/s", [f"{r.run.snapshots / r.run.seconds:,.0f}" if r.run.seconds else "-"
                         for r in reports]),
    ]
    if any(r.lookahead is not None for r in reports):
        rows.append(("lookahead check", [
            "-" if r.lookahead is None else
            ("ok" if r.lookahead.ok else f"FAILED ({len(r.lookahead.differences)})")
            + f" ({r.lookahead.checked} cuts)" for r in reports]))
    for name, vals in rows:
        t.add_row(name, *vals)
    for r in reports:
        if r.run.in_sample:
            console.print(f"[bold red]IN-SAMPLE ({r.run.strategy}):[/bold red] {r.run.in_sample}",
                          highlight=False)
    console.print(t)
    for rep in reports:
        s = Table(title=f"{rep.run.strategy}: per series", title_justify="left",
                  header_style="bold")
        for c in ("series", "markets", "P&L $", "fees $", "win rate", "volume $"):
            s.add_column(c)
        for name, b in sorted(rep.stats.by_series.items()):
            wr = f"{b['wins'] / b['settled']:.1%}" if b["settled"] else "-"
            s.add_row(name, str(b["markets"]), money(b["pnl"]), money(b["fees"]), wr,
                      money(b["volume"]))
        if rep.stats.by_series:
            console.print(s)
        if rep.unfilled:
            u = Table(title=f"{rep.run.strategy}: orders that did not fill", title_justify="left",
                      header_style="bold")
            u.add_column("reason")
            u.add_column("orders", justify="right")
            for k, v in sorted(rep.unfilled.items(), key=lambda kv: -kv[1]):
                u.add_row(k, str(v))
            console.print(u)
        if rep.run.unsettled:
            console.print(f"[yellow]{rep.run.strategy}: unsettled positions marked at the last "
                          "mid:[/yellow] " + ", ".join(
                              f"{u.ticker} {u.qty} @ {u.mark.to_str() if u.mark else 'cost'}"
                              for u in rep.run.unsettled[:10]))
        for w in rep.warnings():
            console.print(f"[yellow]warning ({rep.run.strategy}):[/yellow] {w}",
                          highlight=False)
        if rep.lookahead is not None and not rep.lookahead.ok:
            for d in rep.lookahead.differences[:5]:
                console.print(f"[red]lookahead ({rep.run.strategy}):[/red] {d}",
                              highlight=False)


def export(reports: Sequence[RunReport], folder: Path) -> list[Path]:
    """``trades.csv`` (every fill) and ``decisions.csv`` (every decision) for all runs."""
    folder.mkdir(parents=True, exist_ok=True)
    trades, decisions = folder / "trades.csv", folder / "decisions.csv"
    with trades.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["strategy", "fill_id", "order_id", "ts", "ticker", "series", "side", "action",
                    "price", "count", "fee", "is_taker", "result", "book_age_s"])
        for rep in reports:
            for f in sorted(rep.run.fills, key=lambda f: (f.ts, f.fill_id)):
                m = rep.run.markets.get(f.ticker)
                w.writerow([rep.run.strategy, f.fill_id, f.order_id, f.ts.isoformat(), f.ticker,
                            m.series if m else "", f.side.value, f.action.value,
                            f.price.to_str(), format(f.count.value, "f"),
                            format(f.fee.amount, "f"), int(f.is_taker),
                            m.result.value if m else "",
                            rep.run.fill_book_age.get(f.fill_id, "")])
    with decisions.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["strategy", "cycle", "ts", "ticker", "verdict", "model_p", "market_price",
                    "side", "edge", "proposed_size", "reason"])
        for rep in reports:
            for d in rep.run.decisions:
                w.writerow([rep.run.strategy, d.cycle, d.ts.isoformat(), d.ticker,
                            d.verdict.value, "" if d.model_p is None else repr(d.model_p),
                            "" if d.market_price is None else format(d.market_price, "f"),
                            d.side or "", "" if d.edge is None else format(d.edge, "f"),
                            "" if d.proposed_size is None else format(d.proposed_size, "f"),
                            d.reason])
    return [trades, decisions]


def reliability_points(run: StrategyRun, n_bins: int = 10) -> list[tuple[float, float, int]]:
    """(mean model p, observed YES rate, markets) per bin over the first model p recorded
    for each settled market (float probabilities)."""
    first: dict[str, float] = {}
    for d in run.decisions:
        if d.model_p is not None and d.ticker not in first:
            first[d.ticker] = d.model_p
    bins: list[list[tuple[float, int]]] = [[] for _ in range(n_bins)]
    for t, p in first.items():
        m = run.markets.get(t)
        if m is None or m.result.value not in ("yes", "no"):
            continue
        bins[min(int(p * n_bins), n_bins - 1)].append((p, int(m.result.value == "yes")))
    return [(sum(p for p, _ in b) / len(b), sum(y for _, y in b) / len(b), len(b))
            for b in bins if b]


def plot(reports: Sequence[RunReport], path: Path) -> Path:
    """Equity curve, drawdown and reliability chart of every run in one PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserInputError("--plot needs matplotlib",
                             hint="pip install 'kalshibot[plot]'") from None
    fig, (a1, a2, a3) = plt.subplots(3, 1, figsize=(10, 11))
    for rep in reports:
        pts = rep.run.equity
        xs = [p.ts for p in pts]
        eq = [float(p.equity.amount) for p in pts]  # float for drawing only
        a1.plot(xs, eq, label=rep.run.strategy + (" (IN-SAMPLE)" if rep.run.in_sample else ""))
        peak, dd = float("-inf"), []
        for e in eq:
            peak = max(peak, e)
            dd.append(e - peak)
        a2.plot(xs, dd, label=rep.run.strategy)
        rp = reliability_points(rep.run)
        if rp:
            a3.plot([p for p, _, _ in rp], [y for _, y, _ in rp], marker="o",
                    label=rep.run.strategy)
    a1.set_title("equity ($)")
    if any(r.run.in_sample for r in reports):
        fig.suptitle("IN-SAMPLE: the model was trained on this span", color="red")
    a2.set_title("drawdown from peak ($)")
    a3.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    a3.set_title("reliability: model P(YES) vs observed YES rate (first forecast per market)")
    a3.set_xlim(0, 1)
    a3.set_ylim(0, 1)
    for a in (a1, a2, a3):
        a.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

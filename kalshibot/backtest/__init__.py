"""``kalshibot backtest``: the trading engine replayed over stored history.

API::

    from kalshibot.backtest import BacktestConfig, FillModel, backtest
    reports = backtest(BacktestConfig(data="data/kalshibot.sqlite", strategies=("meanrev",)))
    reports[0].stats.net_pnl          # Decimal dollars

Modules: ``config`` (settings, fill-model presets), ``runner`` (engine over SimExchange),
``fastpath`` (vectorised strategy screens), ``planner`` (which cycles to skip with a screen),
``probe`` (event-driven skipping for strategies without one), ``stats`` (pure statistics),
``analysis`` (linking fills to decisions, unfilled orders, book warnings, lookahead check),
``report`` (tables, JSON, CSV, PNG), ``sweep`` (joblib parameter grids). Strategies come from
the one registry ``kalshibot.strategy.registry``, shared with ``trade``.
"""

from __future__ import annotations

import sqlite3

from kalshibot.backtest.config import BacktestConfig, FillModel
from kalshibot.backtest.report import RunReport


def backtest(cfg: BacktestConfig, *, check_lookahead: bool = False, lookahead_points: int = 25,
             data: sqlite3.Connection | None = None) -> list[RunReport]:
    """Run every strategy of ``cfg`` and build its report (stats, unfilled orders, warnings,
    optionally the lookahead check)."""
    from kalshibot.backtest.analysis import (
        book_warnings,
        run_stats,
        unfilled_summary,
    )
    from kalshibot.backtest.analysis import (
        check_lookahead as lookahead,
    )
    from kalshibot.backtest.runner import open_data, run_backtest

    conn = data if data is not None else open_data(cfg.data)
    try:
        result = run_backtest(cfg, data=conn)
        out = []
        for run in result.runs:
            rep = RunReport(run, run_stats(run, conn), unfilled_summary(run),
                            book_warnings(run, conn))
            if check_lookahead:
                rep.lookahead = lookahead(cfg, run.strategy, conn, run,
                                          max_points=lookahead_points)
            out.append(rep)
        return out
    finally:
        if data is None:
            conn.close()


__all__ = ["BacktestConfig", "FillModel", "RunReport", "backtest"]

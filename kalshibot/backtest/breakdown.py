"""Per-period backtest report (``backtest --breakdown day|week|month``), as traders read it.

Periods are UTC calendar days, ISO weeks (Monday to Sunday, labelled ``2026-W36``) or calendar
months. A period's P&L is mark-to-market: its closing equity minus the previous period's closing
equity (the starting cash for the first), in exact dollars, so the periods add up to the run's
net P&L. Fees and fills are counted by fill time; drawdown is the worst fall from a running
peak inside the period (the peak starting at the period's opening equity), dollars, >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from kalshibot.backtest.analysis import equity_points
from kalshibot.backtest.runner import StrategyRun
from kalshibot.backtest.stats import max_drawdown
from kalshibot.errors import UserInputError

PERIODS = ("day", "week", "month")
ZERO = Decimal(0)


def period_of(ts: datetime, period: str) -> str:
    """The label of the UTC period holding ``ts``: ``2026-09-01``, ``2026-W36`` or ``2026-09``."""
    t = ts.astimezone(UTC)
    if period == "day":
        return t.date().isoformat()
    if period == "week":
        year, week, _ = t.isocalendar()
        return f"{year}-W{week:02d}"
    if period == "month":
        return f"{t.year}-{t.month:02d}"
    raise UserInputError(f"--breakdown {period!r}: choose from {', '.join(PERIODS)}")


@dataclass(frozen=True)
class PeriodRow:
    period: str
    start_equity: Decimal  # dollars at the period's open (previous close)
    end_equity: Decimal  # dollars at the period's close
    pnl: Decimal  # end_equity - start_equity
    return_pct: float  # pnl / start_equity * 100
    fees: Decimal  # dollars, >= 0
    fills: int
    contracts: Decimal
    max_drawdown: Decimal  # dollars, >= 0

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "start_equity": format(self.start_equity, "f"),
                "end_equity": format(self.end_equity, "f"), "pnl": format(self.pnl, "f"),
                "return_pct": round(self.return_pct, 4), "fees": format(self.fees, "f"),
                "fills": self.fills, "contracts": format(self.contracts, "f"),
                "max_drawdown": format(self.max_drawdown, "f")}


def breakdown(run: StrategyRun, period: str) -> list[PeriodRow]:
    """One row per period from the first to the last point of the run (quiet periods included
    only when they hold an equity point or a fill)."""
    period_of(datetime.now(UTC), period)  # validates the name
    curves: dict[str, list[Decimal]] = {}
    for ts, _cash, eq in equity_points(run):
        curves.setdefault(period_of(ts, period), []).append(eq)
    fees: dict[str, Decimal] = {}
    fills: dict[str, int] = {}
    contracts: dict[str, Decimal] = {}
    for f in run.fills:
        k = period_of(f.ts, period)
        curves.setdefault(k, [])
        fees[k] = fees.get(k, ZERO) + f.fee.amount
        fills[k] = fills.get(k, 0) + 1
        contracts[k] = contracts.get(k, ZERO) + f.count.value
    keys = sorted(curves)
    rows: list[PeriodRow] = []
    prev = run.starting_cash.amount
    for i, k in enumerate(keys):
        curve = curves[k]
        end = run.final_equity.amount if i == len(keys) - 1 else (curve[-1] if curve else prev)
        dd, _ = max_drawdown([prev, *curve, end])
        pnl = end - prev
        rows.append(PeriodRow(k, prev, end, pnl, float(pnl / prev * 100) if prev else 0.0,
                              fees.get(k, ZERO), fills.get(k, 0), contracts.get(k, ZERO), dd))
        prev = end
    return rows

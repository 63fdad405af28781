"""Backtest (and ``status``) statistics: pure functions of fills, settlements and equity points.

Money is exact: P&L, fees, turnover and drawdown in dollars are ``Decimal`` (from ``Money``).
Ratios computed from exact values (Sharpe, Sortino, win rate, Brier) are floats.

- ``market_pnl``: per market, fills replayed through ``domain.portfolio`` then settled at the
  recorded result, or marked at the given mark (unsettled), in dollars, net of fees.
- ``daily_equity``: the last equity point of each UTC day, carried over days without points.
- ``sharpe`` / ``sortino``: mean daily return / (sample std | downside deviation) x sqrt(365)
  (Kalshi trades every day); None with fewer than two daily returns or zero dispersion.
- ``max_drawdown``: the largest fall from a running peak of equity in dollars, and the largest
  fall as a fraction of its running peak (the two may come from different falls: 1000 -> 500
  -> 5000 -> 4400 is a $600 and a 50% drawdown).
- ``edges``: edge at entry (the approved decision's edge after fees, dollars per contract) vs
  realised (payout - price - fee per contract) over settled entry fills, contract-weighted.
- ``brier``: mean squared error of P(YES) against outcomes (1 yes / 0 no).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from kalshibot.domain.market import Result
from kalshibot.domain.money import ONE, ZERO, Money, Price
from kalshibot.domain.orders import Action, Fill, Side
from kalshibot.domain.portfolio import Position, apply_fill, settle


@dataclass(frozen=True)
class MarketPnL:
    ticker: str
    pnl: Decimal  # dollars, net of fees (realised + marked)
    fees: Decimal  # dollars
    bought: Decimal  # contracts bought
    volume: Decimal  # dollars traded (sum of count x price)
    settled: bool  # False: marked at the last mid (or at cost)


def market_pnl(fills: Iterable[Fill], results: Mapping[str, Result],
               marks: Mapping[str, Price | None] | None = None) -> dict[str, MarketPnL]:
    """Per-market P&L (see module docstring). ``results`` maps ticker -> recorded result
    (``Result.NONE`` or missing: unsettled, valued at ``marks`` or at cost)."""
    pos: dict[str, Position] = {}
    cash: dict[str, Decimal] = {}
    bought: dict[str, Decimal] = {}
    vol: dict[str, Decimal] = {}
    for f in sorted(fills, key=lambda f: (f.ts, f.fill_id)):
        p = pos.get(f.ticker) or Position(f.ticker)
        eff = apply_fill(p, f)
        pos[f.ticker] = eff.position
        cash[f.ticker] = cash.get(f.ticker, ZERO) + eff.cash_delta.amount
        if f.action is Action.BUY:
            bought[f.ticker] = bought.get(f.ticker, ZERO) + f.count.value
        vol[f.ticker] = vol.get(f.ticker, ZERO) + f.count.value * f.price.value
    out: dict[str, MarketPnL] = {}
    for t, p in pos.items():
        res = results.get(t, Result.NONE)
        value = ZERO
        done = True
        if p.qty:
            if res in (Result.YES, Result.NO):
                value = settle(p, res).cash_delta.amount
            else:
                done = False
                mark = (marks or {}).get(t)
                value = (p.market_value(mark) if mark is not None else p.cost).amount
        out[t] = MarketPnL(t, cash[t] + value, p.fees.amount, bought.get(t, ZERO), vol[t], done)
    return out


def daily_equity(points: Sequence[tuple[datetime, Decimal]], start_equity: Decimal
                 ) -> list[tuple[date, Decimal]]:
    """End-of-day equity per UTC day from the first to the last point (carried forward)."""
    if not points:
        return []
    pts = sorted(points, key=lambda p: p[0])
    last: dict[date, Decimal] = {}
    for ts, eq in pts:
        last[ts.date()] = eq
    d0, d1 = pts[0][0].date(), pts[-1][0].date()
    out: list[tuple[date, Decimal]] = []
    cur = start_equity
    d = d0
    from datetime import timedelta

    while d <= d1:
        cur = last.get(d, cur)
        out.append((d, cur))
        d += timedelta(days=1)
    return out


def daily_returns(days: Sequence[tuple[date, Decimal]], start_equity: Decimal) -> list[float]:
    out = []
    prev = start_equity
    for _, eq in days:
        out.append(float((eq - prev) / prev) if prev else 0.0)
        prev = eq
    return out


def sharpe(returns: Sequence[float], periods: int = 365) -> float | None:
    if len(returns) < 2:
        return None
    mu = sum(returns) / len(returns)
    var = sum((r - mu) ** 2 for r in returns) / (len(returns) - 1)
    return None if var <= 0 else mu / math.sqrt(var) * math.sqrt(periods)


def sortino(returns: Sequence[float], periods: int = 365) -> float | None:
    if len(returns) < 2:
        return None
    mu = sum(returns) / len(returns)
    down = sum(min(r, 0.0) ** 2 for r in returns) / len(returns)
    return None if down <= 0 else mu / math.sqrt(down) * math.sqrt(periods)


def max_drawdown(equity: Sequence[Decimal]) -> tuple[Decimal, float]:
    """(largest peak-to-trough fall in dollars, largest fall / its running peak), each the
    worst of its own kind (a fall from a non-positive peak has no fraction)."""
    peak: Decimal | None = None
    worst, frac = ZERO, ZERO
    for e in equity:
        if peak is None or e > peak:
            peak = e
        dd = peak - e
        worst = max(worst, dd)
        if peak > 0:
            frac = max(frac, dd / peak)
    return worst, float(frac)


def brier(p: Sequence[float], y: Sequence[int]) -> float | None:
    if not p:
        return None
    return sum((a - b) ** 2 for a, b in zip(p, y, strict=True)) / len(p)


def realised_edge(fill: Fill, result: Result) -> Decimal | None:
    """Dollars per contract an entry fill earned at settlement, after its fee."""
    if fill.action is not Action.BUY or result not in (Result.YES, Result.NO):
        return None
    won = (result is Result.YES) == (fill.side is Side.YES)
    pay = ONE if won else ZERO
    return pay - fill.price.value - fill.fee.amount / fill.count.value


@dataclass
class Stats:
    """Summary of one run (dollars exact as ``Decimal``; ratios float)."""

    starting_cash: Decimal
    final_equity: Decimal
    net_pnl: Decimal
    fees: Decimal
    return_on_capital: float
    max_drawdown: Decimal
    max_drawdown_pct: float
    sharpe: float | None
    sortino: float | None
    days: int
    trades: int  # fills
    markets_traded: int
    win_rate: float | None  # settled markets with P&L > 0 / settled markets traded
    avg_edge_entry: float | None  # dollars per contract, contract-weighted
    avg_edge_realised: float | None
    volume: Decimal  # dollars traded
    turnover: float  # volume / starting cash
    exposure_avg: float  # time-weighted (equity - cash) / equity
    exposure_max: float
    time_in_market: float  # share of time with a position
    brier_model: float | None  # over traded markets: first entry's model p
    brier_market: float | None  # same markets: YES mid at that entry
    unsettled: int
    by_series: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        def j(v: Any) -> Any:
            if isinstance(v, Decimal):
                return format(v, "f")
            if isinstance(v, float):
                return round(v, 10)
            if isinstance(v, dict):
                return {k: j(x) for k, x in v.items()}
            return v

        return {k: j(v) for k, v in self.__dict__.items()}


def exposure(points: Sequence[tuple[datetime, Decimal, Decimal]]) -> tuple[float, float, float]:
    """(time-weighted mean, max of (equity - cash) / equity, share of time with a position)
    from (ts, cash, equity) points; each point holds until the next."""
    if len(points) < 2:
        return 0.0, 0.0, 0.0
    tot = w = busy = 0.0
    mx = 0.0
    for (t, c, e), (t2, _, _) in zip(points, points[1:], strict=False):
        dt = (t2 - t).total_seconds()
        x = float((e - c) / e) if e > 0 else 0.0
        tot += dt
        w += dt * abs(x)
        mx = max(mx, abs(x))
        if e != c:
            busy += dt
    return (w / tot if tot else 0.0), mx, (busy / tot if tot else 0.0)


def compute(*, starting_cash: Decimal, final_equity: Decimal, fills: Sequence[Fill],
            results: Mapping[str, Result], marks: Mapping[str, Price | None],
            equity_points: Sequence[tuple[datetime, Decimal, Decimal]],
            entry_edges: Mapping[str, Decimal], series_of: Mapping[str, str],
            forecasts: Mapping[str, tuple[float, float]]) -> Stats:
    """All statistics of a run.

    ``equity_points``: (ts, cash, equity) dollars; ``entry_edges``: fill_id -> edge at entry
    (dollars per contract); ``forecasts``: ticker -> (model p, market p) at the first entry.
    """
    per = market_pnl(fills, results, marks)
    net = final_equity - starting_cash
    fees = sum((f.fee.amount for f in fills), ZERO)
    eq_only = [(t, e) for t, _c, e in equity_points]
    days = daily_equity(eq_only, starting_cash)
    rets = daily_returns(days, starting_cash)
    dd, ddp = max_drawdown([starting_cash, *(e for _, e in eq_only), final_equity])
    settled = [m for m in per.values() if m.settled]
    wins = [m for m in settled if m.pnl > 0]
    e_in = e_re = w_in = ZERO
    for f in fills:
        r = realised_edge(f, results.get(f.ticker, Result.NONE))
        if r is None or f.fill_id not in entry_edges:
            continue
        e_in += entry_edges[f.fill_id] * f.count.value
        e_re += r * f.count.value
        w_in += f.count.value
    volume = sum((m.volume for m in per.values()), ZERO)
    ex_avg, ex_max, tin = exposure(equity_points)
    traded = [t for t in per if t in forecasts and results.get(t) in (Result.YES, Result.NO)]
    ys = [1 if results[t] is Result.YES else 0 for t in traded]
    by_series: dict[str, dict[str, Any]] = {}
    for t, m in per.items():
        s = series_of.get(t, t.split("-", 1)[0])
        b = by_series.setdefault(s, {"pnl": ZERO, "fees": ZERO, "markets": 0, "wins": 0,
                                     "settled": 0, "volume": ZERO})
        b["pnl"] += m.pnl
        b["fees"] += m.fees
        b["markets"] += 1
        b["volume"] += m.volume
        if m.settled:
            b["settled"] += 1
            b["wins"] += int(m.pnl > 0)
    return Stats(
        starting_cash=starting_cash, final_equity=final_equity, net_pnl=net, fees=fees,
        return_on_capital=float(net / starting_cash) if starting_cash else 0.0,
        max_drawdown=dd, max_drawdown_pct=ddp, sharpe=sharpe(rets), sortino=sortino(rets),
        days=len(days), trades=len(fills), markets_traded=len(per),
        win_rate=(len(wins) / len(settled)) if settled else None,
        avg_edge_entry=float(e_in / w_in) if w_in else None,
        avg_edge_realised=float(e_re / w_in) if w_in else None,
        volume=volume, turnover=float(volume / starting_cash) if starting_cash else 0.0,
        exposure_avg=ex_avg, exposure_max=ex_max, time_in_market=tin,
        brier_model=brier([forecasts[t][0] for t in traded], ys),
        brier_market=brier([forecasts[t][1] for t in traded], ys),
        unsettled=sum(1 for m in per.values() if not m.settled),
        by_series=by_series,
    )


def money(x: Decimal | Money) -> str:
    """Dollars to the cent for tables (the CLI's one format, ``cli.render.dollars``); the
    exact amounts are in --json and the exports."""
    from kalshibot.cli.render import dollars

    return dollars(x)

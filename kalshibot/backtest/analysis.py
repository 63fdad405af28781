"""From a ``StrategyRun`` to statistics and honesty checks.

- ``run_stats``: links fills to the decisions that sent them (edge at entry, model p, market
  mid) and calls ``stats.compute``.
- ``unfilled_summary``: orders that did not (fully) fill, by reason.
- ``book_warnings``: orders sent while the recorded book was missing, stale (older than the
  run's book-age limit) or had no recorded sizes at the decision time.
- ``check_lookahead``: re-runs the backtest on a copy of the data truncated at each entry time
  (later snapshots/trades/spot deleted, results of markets not yet settled erased) and reports
  every decision up to that time that differs from the full run.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from kalshibot.backtest.config import BacktestConfig
from kalshibot.backtest.runner import StrategyRun, run_strategy
from kalshibot.backtest.stats import Stats, compute
from kalshibot.domain.orders import Action, OrderStatus, TimeInForce
from kalshibot.store.books import book_at
from kalshibot.store.decisions import Decision, Verdict
from kalshibot.store.units import ts_ms


def _entry_decisions(run: StrategyRun) -> dict[str, Decision]:
    """client_order_id -> the approved decision that sent it (same ticker and time)."""
    by_key: dict[tuple[str, datetime], Decision] = {}
    for d in run.decisions:
        if d.verdict is Verdict.APPROVED:
            by_key[(d.ticker, d.ts)] = d
    out: dict[str, Decision] = {}
    for o in run.orders:
        found = by_key.get((o.ticker, o.created))
        if found is not None:
            out[o.client_order_id] = found
    return out


def equity_points(run: StrategyRun) -> list[tuple[datetime, Decimal, Decimal]]:
    """(ts, cash, equity) over the whole simulated span: the start (all cash) and the end
    (final equity) bound the curve, so skipped cycles weigh exactly as run ones."""
    pts = [(p.ts, p.cash.amount, p.equity.amount) for p in run.equity]
    if run.span is not None:
        start = run.starting_cash.amount
        if not pts or pts[0][0] > run.span[0]:
            pts.insert(0, (run.span[0], start, start))
        if pts[-1][0] < run.span[1]:
            pts.append((run.span[1], pts[-1][1], pts[-1][2]))
    return pts


def run_stats(run: StrategyRun, data: sqlite3.Connection) -> Stats:
    dec = _entry_decisions(run)
    coid_of = {o.order_id: o.client_order_id for o in run.orders if o.order_id}
    edges: dict[str, Decimal] = {}
    forecasts: dict[str, tuple[float, float]] = {}
    for f in sorted(run.fills, key=lambda f: (f.ts, f.fill_id)):
        d = dec.get(f.client_order_id or coid_of.get(f.order_id, ""))
        if d is None or f.action is not Action.BUY:
            continue
        if d.edge is not None:
            edges[f.fill_id] = d.edge
        if f.ticker not in forecasts and d.model_p is not None:
            b = book_at(data, f.ticker, d.ts)
            mid = b.mid() if b is not None else None
            if mid is not None:
                forecasts[f.ticker] = (float(d.model_p), mid.to_float())
    marks = {u.ticker: u.mark for u in run.unsettled}
    return compute(
        starting_cash=run.starting_cash.amount, final_equity=run.final_equity.amount,
        fills=run.fills, results={t: m.result for t, m in run.markets.items()}, marks=marks,
        equity_points=equity_points(run),
        entry_edges=edges, series_of={t: m.series for t, m in run.markets.items()},
        forecasts=forecasts)


def unfilled_summary(run: StrategyRun) -> dict[str, int]:
    """Reason -> number of orders that did not fill completely."""
    c: Counter[str] = Counter()
    for o in run.orders:
        if o.filled == o.count:
            continue
        if o.status is OrderStatus.REJECTED:
            c[f"rejected: {(o.last_error or 'no reason').split(':')[0][:60]}"] += 1
        elif o.time_in_force is TimeInForce.IOC:
            c["IOC: no liquidity at the limit when it arrived (after latency)"
              if not o.filled.value else "IOC: partly filled, rest cancelled"] += 1
        elif o.status.is_open:
            c["still resting at the end"] += 1
        else:
            c["resting order never crossed: cancelled (re-price, stale or close)"
              if not o.filled.value else "resting order partly filled, then cancelled"] += 1
    return dict(c)


def book_warnings(run: StrategyRun, data: sqlite3.Connection) -> list[str]:
    out = []
    for o in run.orders:
        if o.action is not Action.BUY:
            continue
        row = data.execute("SELECT ts, yes_bid_size, yes_ask_size, depth FROM book_snapshots "
                           "WHERE ticker = ? AND ts <= ? ORDER BY ts DESC LIMIT 1",
                           (o.ticker, ts_ms(o.created))).fetchone()
        if row is None:
            out.append(f"{o.ticker} traded at {o.created:%Y-%m-%d %H:%M:%S}Z with no recorded "
                       "book")
        elif ts_ms(o.created) - row[0] > run.max_book_age.total_seconds() * 1000:
            out.append(f"{o.ticker} traded at {o.created:%Y-%m-%d %H:%M:%S}Z on a book older "
                       f"than {run.max_book_age.total_seconds():g} s")
        elif row[3] is None and (row[1] is None or row[2] is None):
            out.append(f"{o.ticker} traded at {o.created:%Y-%m-%d %H:%M:%S}Z on a book without "
                       "recorded sizes (size assumed by --unknown-size)")
    return out


# --- lookahead ------------------------------------------------------------------------------
@dataclass
class LookaheadReport:
    checked: int  # truncation points re-run
    entries: int  # entries in the full run
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def truncated_copy(data: sqlite3.Connection, at: datetime, settle_delay: timedelta
                   ) -> sqlite3.Connection:
    """An in-memory copy of the market data as it was known at ``at``."""
    mem = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    data.backup(mem)
    cut = ts_ms(at)
    for table in ("book_snapshots", "trades", "spot_prices", "price_points"):
        mem.execute(f"DELETE FROM {table} WHERE ts > ?", (cut,))
    mem.execute("UPDATE markets SET result = '', settlement_value = NULL, status = 'active' "
                "WHERE close_time + ? > ?", (int(settle_delay.total_seconds() * 1000), cut))
    return mem


def _key(d: Decision) -> tuple[object, ...]:
    return (d.ts, d.ticker, d.verdict.value, d.side, d.edge, d.proposed_size,
            None if d.model_p is None else round(d.model_p, 9))


def check_lookahead(cfg: BacktestConfig, name: str, data: sqlite3.Connection,
                    full: StrategyRun, *, max_points: int = 25) -> LookaheadReport:
    """Re-run truncated at each entry (at most ``max_points``, evenly spread) and compare."""
    entries = sorted({d.ts for d in full.decisions if d.verdict is Verdict.APPROVED})
    pts = entries
    if len(pts) > max_points:
        step = len(pts) / max_points
        pts = [pts[int(i * step)] for i in range(max_points)]
    diffs: list[str] = []
    settle = timedelta(seconds=cfg.settle_delay_s)
    for at in pts:
        mem = truncated_copy(data, at, settle)
        try:
            cut = run_strategy(replace(cfg, fast=cfg.fast), name, mem, end_at=at)
        finally:
            mem.close()
        a = [_key(d) for d in full.decisions if d.ts <= at]
        b = [_key(d) for d in cut.decisions if d.ts <= at]
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                         min(len(a), len(b)))
            x = a[first] if first < len(a) else None
            y = b[first] if first < len(b) else None
            diffs.append(f"truncated at {at:%Y-%m-%d %H:%M:%S}Z: decision differs: "
                         f"full run {x} vs truncated {y}")
    return LookaheadReport(len(pts), len(entries), diffs)

"""Equity curve: ``equity(run_id, ts, cash, equity, realized, unrealized, fees)``, exact decimal
dollars, one row per (run_id, ts)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from kalshibot.domain.money import Money
from kalshibot.store.units import ms_ts, ts_ms


@dataclass(frozen=True, slots=True)
class EquityPoint:
    ts: datetime
    cash: Money
    equity: Money
    realized: Money
    unrealized: Money
    fees: Money
    run_id: str = ""


def record_equity(conn: sqlite3.Connection, p: EquityPoint) -> None:
    conn.execute(
        "INSERT INTO equity (ts, run_id, cash, equity, realized, unrealized, fees) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id, ts) DO UPDATE SET cash = excluded.cash, "
        "equity = excluded.equity, realized = excluded.realized, "
        "unrealized = excluded.unrealized, fees = excluded.fees",
        (ts_ms(p.ts), p.run_id, *(format(m.amount, "f") for m in
                                  (p.cash, p.equity, p.realized, p.unrealized, p.fees))))


def equity_curve(conn: sqlite3.Connection, *, run_id: str | None = None,
                 since: datetime | None = None) -> list[EquityPoint]:
    sql = "SELECT ts, cash, equity, realized, unrealized, fees, run_id FROM equity WHERE 1=1"
    args: list[object] = []
    if run_id is not None:
        sql += " AND run_id = ?"
        args.append(run_id)
    if since is not None:
        sql += " AND ts >= ?"
        args.append(ts_ms(since))
    return [_point(r) for r in conn.execute(sql + " ORDER BY ts", args)]


def _point(r: Sequence[Any]) -> EquityPoint:
    return EquityPoint(ms_ts(r[0]), Money(Decimal(r[1])), Money(Decimal(r[2])),
                       Money(Decimal(r[3])), Money(Decimal(r[4])), Money(Decimal(r[5])),
                       run_id=r[6])


def iter_equity(conn: sqlite3.Connection, run_id: str) -> Iterator[EquityPoint]:
    """``run_id``'s equity curve oldest first, streamed row by row."""
    sql = ("SELECT ts, cash, equity, realized, unrealized, fees, run_id FROM equity "
           "WHERE run_id = ? ORDER BY ts")
    return (_point(r) for r in conn.execute(sql, (run_id,)))

"""Positions: ``positions(ticker PK, qty, cost, realized_pnl, fees, updated_ts)``, exact decimal
text (qty in contracts, + YES / - NO; the rest in dollars)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from kalshibot.domain.money import Count, Money
from kalshibot.domain.portfolio import Position
from kalshibot.store.units import ts_ms

UPSERT_SQL = (
    "INSERT INTO positions (ticker, qty, cost, realized_pnl, fees, updated_ts) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(ticker) DO UPDATE SET qty = excluded.qty, "
    "cost = excluded.cost, realized_pnl = excluded.realized_pnl, fees = excluded.fees, "
    "updated_ts = excluded.updated_ts WHERE positions.qty IS NOT excluded.qty OR "
    "positions.cost IS NOT excluded.cost OR positions.realized_pnl IS NOT excluded.realized_pnl "
    "OR positions.fees IS NOT excluded.fees"
)


def save_positions(conn: sqlite3.Connection, positions: Iterable[Position], *, now: datetime
                   ) -> int:
    """Upsert positions (closed ones are kept with qty 0 for their realized P&L)."""
    rows = [(p.ticker, format(p.qty.value, "f"), format(p.cost.amount, "f"),
             format(p.realized_pnl.amount, "f"), format(p.fees.amount, "f"), ts_ms(now))
            for p in positions]
    before = conn.total_changes
    conn.executemany(UPSERT_SQL, rows)
    return conn.total_changes - before


def load_positions(conn: sqlite3.Connection, *, open_only: bool = False) -> dict[str, Position]:
    out: dict[str, Position] = {}
    for r in conn.execute("SELECT ticker, qty, cost, realized_pnl, fees FROM positions "
                          "ORDER BY ticker"):
        p = Position(r[0], Count(Decimal(r[1])), Money(Decimal(r[2])), Money(Decimal(r[3])),
                     Money(Decimal(r[4])))
        if not open_only or p.qty:
            out[p.ticker] = p
    return out

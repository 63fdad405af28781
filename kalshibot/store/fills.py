"""Our fills: ``fills(fill_id PK, order_id, client_order_id, ticker, side, action, price, count,
fee, is_taker, ts, strategy)``. Price/fee exact decimal dollars; count exact contracts; ts epoch
ms UTC. Insert ignores a fill already stored (``fill_id`` is unique): re-reading the exchange's
fills is safe.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from kalshibot.domain.money import Count, Money, Price
from kalshibot.domain.orders import Action, Fill, Side
from kalshibot.store.units import ms_ts, ts_ms

COLS = ("fill_id", "order_id", "client_order_id", "ticker", "side", "action", "price", "count",
        "fee", "is_taker", "ts", "strategy")
INSERT_SQL = (f"INSERT INTO fills ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))}) "
              "ON CONFLICT(fill_id) DO NOTHING")


def insert_fills(conn: sqlite3.Connection, fills: Iterable[Fill], *, strategy: str = "") -> int:
    """Store fills; returns how many were new. A missing ``client_order_id`` is looked up from
    the local order with the same exchange ``order_id``."""
    rows = []
    for f in fills:
        coid = f.client_order_id
        if coid is None:
            r = conn.execute("SELECT client_order_id, strategy FROM orders WHERE order_id = ?",
                             (f.order_id,)).fetchone()
            coid = None if r is None else r[0]
            strat = strategy or ("" if r is None else r[1])
        else:
            strat = strategy
        rows.append((f.fill_id, f.order_id, coid, f.ticker, f.side.value, f.action.value,
                     f.price.to_str(), format(f.count.value, "f"), format(f.fee.amount, "f"),
                     int(f.is_taker), ts_ms(f.ts), strat))
    before = conn.total_changes
    conn.executemany(INSERT_SQL, rows)
    return conn.total_changes - before


def list_fills(conn: sqlite3.Connection, *, since: datetime | None = None,
               ticker: str | None = None) -> list[Fill]:
    sql = f"SELECT {', '.join(COLS)} FROM fills WHERE 1=1"
    args: list[object] = []
    if since is not None:
        sql += " AND ts >= ?"
        args.append(ts_ms(since))
    if ticker:
        sql += " AND ticker = ?"
        args.append(ticker)
    return [Fill(r[0], r[1], r[3], Side(r[4]), Action(r[5]), Price(Decimal(r[6])),
                 Count(Decimal(r[7])), Money(Decimal(r[8])), bool(r[9]), ms_ts(r[10]), r[2])
            for r in conn.execute(sql + " ORDER BY ts, fill_id", args)]


def last_fill_time(conn: sqlite3.Connection) -> datetime | None:
    row = conn.execute("SELECT max(ts) FROM fills").fetchone()
    return None if row[0] is None else ms_ts(row[0])

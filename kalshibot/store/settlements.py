"""Our account's settlements: ``settlements(ticker PK, result, revenue, settled_ts, ...)``.

``revenue`` is exact decimal dollars received (>= 0); ``value`` the YES payout per contract
(decimal dollars) when known. A market's public outcome lives on the ``markets`` row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from kalshibot.domain.market import Result, Settlement
from kalshibot.domain.money import Money, Price
from kalshibot.store.units import ms_ts, ts_ms

COLS = ("ticker", "result", "revenue", "settled_ts", "yes_count", "no_count", "value")
UPSERT_SQL = (
    f"INSERT INTO settlements ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))}) "
    "ON CONFLICT(ticker) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLS[1:])
    + " WHERE " + " OR ".join(f"settlements.{c} IS NOT excluded.{c}" for c in COLS[1:])
)


def upsert_settlements(conn: sqlite3.Connection, items: Iterable[Settlement]) -> int:
    rows = [(s.ticker, s.result.value, format(s.revenue.amount, "f"), ts_ms(s.settled_time),
             format(s.yes_count, "f"), format(s.no_count, "f"),
             None if s.value is None else s.value.to_str()) for s in items]
    before = conn.total_changes
    conn.executemany(UPSERT_SQL, rows)
    return conn.total_changes - before


def list_settlements(conn: sqlite3.Connection, since: datetime | None = None) -> list[Settlement]:
    sql = f"SELECT {', '.join(COLS)} FROM settlements"
    args: list[object] = []
    if since is not None:
        sql += " WHERE settled_ts >= ?"
        args.append(ts_ms(since))
    return [Settlement(r[0], Result(r[1]), Money(Decimal(r[2])), ms_ts(r[3]), Decimal(r[4]),
                       Decimal(r[5]), None if r[6] is None else Price(Decimal(r[6])))
            for r in conn.execute(sql + " ORDER BY settled_ts, ticker", args)]

"""Reference (spot) prices: ``spot_prices(source, symbol, ts, price, open, high, low, volume)``.

``price`` is exact decimal text in the quote currency (USD for BTC...), observed at ``ts`` (epoch
ms UTC). For bars, ``ts`` is the bar's **end** (when its close is known) and ``price`` its close;
``open``/``high``/``low``/``volume`` are optional decimal text. Primary key (symbol, source, ts);
insert ignores a row already stored (idempotent).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from kalshibot.store.connection import insert_chunked
from kalshibot.store.units import ms_ts, text_decimal, ts_ms


@dataclass(frozen=True, slots=True)
class SpotPrice:
    """One reference-price observation (``price`` exact, quote currency)."""

    source: str
    symbol: str
    ts: datetime
    price: Decimal
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    volume: Decimal | None = None


#: (source, symbol, ts_ms, price, open, high, low, volume) with decimal text values
SpotRow = tuple[str, str, int, str, str | None, str | None, str | None, str | None]
INSERT_SQL = ("INSERT INTO spot_prices (source, symbol, ts, price, open, high, low, volume) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(symbol, source, ts) DO NOTHING")


def _t(v: Decimal | None) -> str | None:
    return None if v is None else format(v, "f")


def spot_row(s: SpotPrice) -> SpotRow:
    return (s.source, s.symbol, ts_ms(s.ts), format(s.price, "f"), _t(s.open), _t(s.high),
            _t(s.low), _t(s.volume))


def insert_spot_rows(conn: sqlite3.Connection, rows: Iterable[SpotRow]) -> int:
    """Insert raw rows in chunks (one transaction each unless inside ``atomic()``)."""
    return insert_chunked(conn, INSERT_SQL, rows)


def upsert_spot(conn: sqlite3.Connection, prices: Iterable[SpotPrice]) -> int:
    """Store domain spot prices; returns how many were new."""
    return insert_spot_rows(conn, (spot_row(s) for s in prices))


def latest_spot(conn: sqlite3.Connection, symbol: str, source: str | None = None,
                at: datetime | None = None) -> SpotPrice | None:
    """Newest observation of ``symbol`` (optionally from ``source``, at or before ``at``)."""
    sql = ("SELECT source, symbol, ts, price, open, high, low, volume FROM spot_prices "
           "WHERE symbol = ?")
    args: list[object] = [symbol]
    if source:
        sql += " AND source = ?"
        args.append(source)
    if at is not None:
        sql += " AND ts <= ?"
        args.append(ts_ms(at))
    r = conn.execute(sql + " ORDER BY ts DESC LIMIT 1", args).fetchone()
    if r is None:
        return None
    return SpotPrice(r[0], r[1], ms_ts(r[2]), Decimal(r[3]), text_decimal(r[4]),
                     text_decimal(r[5]), text_decimal(r[6]), text_decimal(r[7]))

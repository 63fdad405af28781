"""Public trade tape: ``trades(trade_id PK, ticker, ts, yes_price, count, taker_side)``.

``yes_price`` in INTEGER units of $0.0001, ``count`` in units of 0.01 contract, ``ts`` epoch ms
UTC. Insert is ``ON CONFLICT(trade_id) DO NOTHING`` (a trade never changes), so re-ingesting is
a no-op. Sources without trade ids use ``synthetic_trade_id`` (deterministic).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from kalshibot.domain.money import Count
from kalshibot.domain.orders import Side, Trade
from kalshibot.store.connection import insert_chunked
from kalshibot.store.units import (
    count_to_units,
    ms_ts,
    price_to_units,
    ts_ms,
    units_to_count,
    units_to_price,
)

#: (trade_id, ticker, ts_ms, yes_price_units, count_units, taker_side)
TradeRow = tuple[str, str, int, int, int, str]
INSERT_SQL = ("INSERT INTO trades (trade_id, ticker, ts, yes_price, count, taker_side) "
              "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(trade_id) DO NOTHING")


def synthetic_trade_id(ticker: str, ts: int, yes_price: int, count: int, taker: str,
                       occurrence: int) -> str:
    """Deterministic id for a tape row without one: hash of its fields and its occurrence
    number among identical rows (so two identical prints stay two trades)."""
    h = hashlib.blake2b(f"{ticker}|{ts}|{yes_price}|{count}|{taker}|{occurrence}".encode(),
                        digest_size=10).hexdigest()
    return f"x-{h}"


def trade_row(t: Trade) -> TradeRow:
    return (t.trade_id, t.ticker, ts_ms(t.ts), price_to_units(t.yes_price),
            count_to_units(t.count), t.taker_side.value)


def insert_trade_rows(conn: sqlite3.Connection, rows: Iterable[TradeRow]) -> int:
    """Insert raw rows in chunks; returns how many were new."""
    return insert_chunked(conn, INSERT_SQL, rows)


def upsert_trades(conn: sqlite3.Connection, trades: Iterable[Trade]) -> int:
    """Store domain trades; returns how many were new."""
    return insert_trade_rows(conn, (trade_row(t) for t in trades))


def list_trades(conn: sqlite3.Connection, ticker: str, *, since: datetime | None = None,
                until: datetime | None = None) -> list[Trade]:
    sql = "SELECT trade_id, ticker, ts, yes_price, count, taker_side FROM trades WHERE ticker = ?"
    args: list[object] = [ticker]
    if since is not None:
        sql += " AND ts >= ?"
        args.append(ts_ms(since))
    if until is not None:
        sql += " AND ts < ?"
        args.append(ts_ms(until))
    return [Trade(r[0], r[1], units_to_price(r[3]), units_to_count(r[4]), Side(r[5]), ms_ts(r[2]))
            for r in conn.execute(sql + " ORDER BY ts, trade_id", args)]


def last_trade_ts(conn: sqlite3.Connection, ticker: str) -> datetime | None:
    """Newest stored trade time of ``ticker`` (for resumable syncs)."""
    row = conn.execute("SELECT max(ts) FROM trades WHERE ticker = ?", (ticker,)).fetchone()
    return None if row[0] is None else ms_ts(row[0])


def volume(conn: sqlite3.Connection, ticker: str) -> Count:
    row = conn.execute("SELECT coalesce(sum(count), 0) FROM trades WHERE ticker = ?",
                       (ticker,)).fetchone()
    return units_to_count(int(row[0]))

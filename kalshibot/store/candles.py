"""Candlesticks: ``candles(ticker, period_min, end_ts, ...)``, primary key the first three.

Prices (``price_*`` = traded YES price OHLC, ``yes_bid_close``, ``yes_ask_close``) in INTEGER
units of $0.0001 (NULL when there was none); ``volume`` and ``open_interest`` in units of 0.01
contract; ``end_ts`` = epoch ms UTC of the period's end (Kalshi's ``end_period_ts``).
Upsert replaces a candle (the last candle of a live period can still change).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from kalshibot.domain.money import Count, Price
from kalshibot.store.units import (
    count_to_units,
    ms_ts,
    price_to_units,
    ts_ms,
    units_to_count,
    units_to_price,
)


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle of one market. Prices are YES dollars; counts are contracts."""

    ticker: str
    period_min: int  # 1, 60 or 1440
    end_time: datetime
    price_open: Price | None = None
    price_high: Price | None = None
    price_low: Price | None = None
    price_close: Price | None = None
    yes_bid_close: Price | None = None
    yes_ask_close: Price | None = None
    volume: Count = Count(0)
    open_interest: Count = Count(0)


COLS = ("ticker", "period_min", "end_ts", "price_open", "price_high", "price_low", "price_close",
        "yes_bid_close", "yes_ask_close", "volume", "open_interest")
UPSERT_SQL = (
    f"INSERT INTO candles ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))}) "
    "ON CONFLICT(ticker, period_min, end_ts) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLS[3:])
    + " WHERE " + " OR ".join(f"candles.{c} IS NOT excluded.{c}" for c in COLS[3:])
)


def _pu(p: Price | None) -> int | None:
    return None if p is None else price_to_units(p)


def _up(u: int | None) -> Price | None:
    return None if u is None else units_to_price(u)


def upsert_candles(conn: sqlite3.Connection, candles: Iterable[Candle]) -> int:
    """Insert or replace candles; returns rows written (new or changed)."""
    rows = [(c.ticker, c.period_min, ts_ms(c.end_time), _pu(c.price_open), _pu(c.price_high),
             _pu(c.price_low), _pu(c.price_close), _pu(c.yes_bid_close), _pu(c.yes_ask_close),
             count_to_units(c.volume), count_to_units(c.open_interest)) for c in candles]
    before = conn.total_changes
    conn.executemany(UPSERT_SQL, rows)
    return conn.total_changes - before


def list_candles(conn: sqlite3.Connection, ticker: str, period_min: int = 1) -> list[Candle]:
    out = []
    for r in conn.execute(f"SELECT {', '.join(COLS)} FROM candles WHERE ticker = ? AND "
                          "period_min = ? ORDER BY end_ts", (ticker, period_min)):
        out.append(Candle(r[0], r[1], ms_ts(r[2]), _up(r[3]), _up(r[4]), _up(r[5]), _up(r[6]),
                          _up(r[7]), _up(r[8]), units_to_count(r[9]), units_to_count(r[10])))
    return out


def last_candle_time(conn: sqlite3.Connection, ticker: str, period_min: int = 1
                     ) -> datetime | None:
    """End of the newest stored candle (for resumable syncs)."""
    row = conn.execute("SELECT max(end_ts) FROM candles WHERE ticker = ? AND period_min = ?",
                       (ticker, period_min)).fetchone()
    return None if row[0] is None else ms_ts(row[0])

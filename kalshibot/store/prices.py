"""Last-traded-price history: ``price_points(ticker, ts, last_price, volume, source)``.

For sources that only give a market's last traded price over time (no bid/ask), e.g. a poller
of ``GET /markets``. ``last_price`` in INTEGER units of $0.0001; ``volume`` (market volume at
that time, when known) in units of 0.01 contract; ``ts`` epoch ms UTC. Primary key
(ticker, ts); re-inserting the same point is a no-op.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from kalshibot.store.connection import insert_chunked

#: (ticker, ts_ms, last_price_units, volume_units or None, source)
PricePointRow = tuple[str, int, int, int | None, str]
INSERT_SQL = ("INSERT INTO price_points (ticker, ts, last_price, volume, source) "
              "VALUES (?, ?, ?, ?, ?) ON CONFLICT(ticker, ts) DO NOTHING")


def insert_price_points(conn: sqlite3.Connection, rows: Iterable[PricePointRow]) -> int:
    return insert_chunked(conn, INSERT_SQL, rows)

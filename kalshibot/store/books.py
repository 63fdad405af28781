"""Order-book snapshots: the high-volume table, stored in integer units for speed.

Row layout (``book_snapshots``): ``ticker``, ``ts`` (epoch ms UTC), ``yes_bid``, ``yes_ask``
(INTEGER units of $0.0001, NULL when that side is empty), ``yes_bid_size``, ``yes_ask_size``
(INTEGER units of 0.01 contract; NULL when unknown or empty), ``depth`` (optional compact JSON
``{"yes":[[price_units,size_units],...],"no":[...]}``: each side's **bids**, best first).
``UNIQUE(ticker, ts)``: a second snapshot of the same ticker at the same millisecond is ignored,
so re-ingesting changes nothing. ``source`` is ``book`` for rows stored here; a recorded book
replaces (and, by trigger, removes) the market's candle-derived rows (``store.quotes``).

``insert_snapshot_rows`` is the fast path (plain tuples in that column order, any iterable,
consumed in chunks so memory stays flat). ``save_books`` takes domain ``OrderBook`` objects.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from kalshibot.domain.book import Level, OrderBook
from kalshibot.domain.orders import Side
from kalshibot.store.connection import CHUNK, insert_chunked
from kalshibot.store.units import (
    count_to_units,
    ms_ts,
    price_to_units,
    ts_ms,
    units_to_count,
    units_to_price,
)

#: (ticker, ts_ms, yes_bid, yes_bid_size, yes_ask, yes_ask_size, depth_json)
SnapshotRow = tuple[str, int, int | None, int | None, int | None, int | None, str | None]

INSERT_SQL = ("INSERT INTO book_snapshots (ticker, ts, yes_bid, yes_bid_size, yes_ask, "
              "yes_ask_size, depth) VALUES (?, ?, ?, ?, ?, ?, ?) "
              "ON CONFLICT(ticker, ts) DO UPDATE SET yes_bid = excluded.yes_bid, "
              "yes_bid_size = excluded.yes_bid_size, yes_ask = excluded.yes_ask, "
              "yes_ask_size = excluded.yes_ask_size, depth = excluded.depth, source = 'book' "
              "WHERE book_snapshots.source <> 'book'")
def insert_snapshot_rows(conn: sqlite3.Connection, rows: Iterable[SnapshotRow],
                         *, chunk: int = CHUNK) -> int:
    """Insert snapshot tuples; returns how many were new. Call inside ``atomic()`` for one
    transaction, or outside to commit chunk by chunk (each chunk its own transaction)."""
    return insert_chunked(conn, INSERT_SQL, rows, chunk=chunk)


def book_to_row(book: OrderBook, ts: datetime | None = None, *, depth: bool = False
                ) -> SnapshotRow:
    """One snapshot tuple from a domain book (``ts`` defaults to ``book.ts``)."""
    when = ts or book.ts
    if when is None:
        raise ValueError(f"book for {book.ticker} has no timestamp")
    bid = book.best_bid(Side.YES)
    ask = book.best_ask(Side.YES)
    depth_json = None
    if depth:
        depth_json = json.dumps(
            {"yes": [[price_to_units(lv.price), count_to_units(lv.size)] for lv in book.yes_bids],
             "no": [[price_to_units(lv.price), count_to_units(lv.size)] for lv in book.no_bids]},
            separators=(",", ":"))
    return (book.ticker, ts_ms(when),
            None if bid is None else price_to_units(bid.price),
            None if bid is None else count_to_units(bid.size),
            None if ask is None else price_to_units(ask.price),
            None if ask is None else count_to_units(ask.size),
            depth_json)


def save_books(conn: sqlite3.Connection, books: Iterable[OrderBook], *, depth: bool = True,
               ts: datetime | None = None) -> int:
    """Store domain books (with full depth by default); returns new rows."""
    return insert_snapshot_rows(conn, (book_to_row(b, ts, depth=depth) for b in books))


def row_to_book(row: SnapshotRow) -> OrderBook:
    """Rebuild an ``OrderBook``: from depth when present, else from the top of book.

    Without depth the YES ask becomes a NO bid at ``1 - ask``. A side with unknown size is
    given size 0 and therefore dropped; use the raw columns for such snapshots.
    """
    ticker, ts, bid, bid_size, ask, ask_size, depth = row
    if depth:
        yes, no = _levels(depth, None, None, None, None)
    else:
        yes, no = _levels(None, bid, bid_size, ask, ask_size)
    return OrderBook(ticker, yes, no, ms_ts(ts))


@functools.lru_cache(maxsize=1 << 12)
def _levels(depth: str | None, bid: int | None, bid_size: int | None, ask: int | None,
            ask_size: int | None) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
    """The (YES bids, NO bids) levels of a stored row's book columns. Levels are immutable,
    so consecutive snapshots with the same book share them (a replay rebuilds a book for
    every snapshot, and most differ from the previous one only in time)."""
    if depth:
        d = json.loads(depth)
        book = OrderBook.from_levels(
            "",
            [(units_to_price(p), units_to_count(s)) for p, s in d.get("yes", [])],
            [(units_to_price(p), units_to_count(s)) for p, s in d.get("no", [])])
    else:
        yes = [] if bid is None else [(units_to_price(bid), units_to_count(bid_size or 0))]
        no = ([] if ask is None
              else [(units_to_price(ask).complement(), units_to_count(ask_size or 0))])
        book = OrderBook.from_levels("", yes, no)
    return book.yes_bids, book.no_bids


def book_at(conn: sqlite3.Connection, ticker: str, at: datetime) -> OrderBook | None:
    """The latest stored book of ``ticker`` at or before ``at`` (None if none)."""
    row = conn.execute(
        "SELECT ticker, ts, yes_bid, yes_bid_size, yes_ask, yes_ask_size, depth "
        "FROM book_snapshots WHERE ticker = ? AND ts <= ? ORDER BY ts DESC LIMIT 1",
        (ticker, ts_ms(at))).fetchone()
    return None if row is None else row_to_book(row)


def latest_books(conn: sqlite3.Connection, tickers: Iterable[str]) -> dict[str, OrderBook]:
    """The newest stored book per ticker (tickers without snapshots are absent)."""
    out: dict[str, OrderBook] = {}
    for t in tickers:
        row = conn.execute(
            "SELECT ticker, ts, yes_bid, yes_bid_size, yes_ask, yes_ask_size, depth "
            "FROM book_snapshots WHERE ticker = ? ORDER BY ts DESC LIMIT 1", (t,)).fetchone()
        if row is not None:
            out[t] = row_to_book(row)
    return out

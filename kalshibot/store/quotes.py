"""Quote history: recorded order books, else books derived from 1-minute candles.

Every reader of quotes (features, ``train``, the backtest venue, ``status``) reads
``book_snapshots``. Its ``source`` column says where a row came from:

- ``book``: a recorded or imported order book (``data record``/``import``/``sample``);
- ``candle``: derived from a stored 1-minute candle (``data sync``): ``ts`` = the candle's
  end (``end_period_ts``), YES bid/ask = the candle's ``yes_bid.close``/``yes_ask.close``.
  Such a book is never fresher than its minute. Sizes are not in a candle: a side's size is
  the volume that traded against it during that minute (taker NO sells hit the YES bid, taker
  YES buys lift the YES ask, from stored ``trades``), else NULL = unknown, which a backtest
  only trades with ``--unknown-size``. Pessimistic: it is what demonstrably traded there.

Per market, recorded books win: a market with any ``book`` row gets no candle rows, and
storing a ``book`` row deletes that market's candle rows (triggers of migration 4).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from kalshibot.store.markets import find_tickers

SOURCES = {"book": "snapshots", "candle": "candles"}

_SIZE = ("(SELECT sum(t.count) FROM trades t WHERE t.ticker = c.ticker AND t.taker_side = '{}' "
         "AND t.ts > c.end_ts - 60000 AND t.ts <= c.end_ts)")

_DERIVE = (
    "INSERT INTO book_snapshots (ticker, ts, yes_bid, yes_bid_size, yes_ask, yes_ask_size, "
    "depth, source) "
    f"SELECT c.ticker, c.end_ts, c.yes_bid_close, {_SIZE.format('no')}, c.yes_ask_close, "
    f"{_SIZE.format('yes')}, NULL, 'candle' FROM candles c "
    "WHERE c.period_min = 1 AND (c.yes_bid_close IS NOT NULL OR c.yes_ask_close IS NOT NULL) "
    "AND c.ticker NOT IN (SELECT ticker FROM book_snapshots WHERE source = 'book') {where} "
    "ON CONFLICT(ticker, ts) DO UPDATE SET yes_bid = excluded.yes_bid, "
    "yes_bid_size = excluded.yes_bid_size, yes_ask = excluded.yes_ask, "
    "yes_ask_size = excluded.yes_ask_size "
    "WHERE book_snapshots.source = 'candle' AND (book_snapshots.yes_bid IS NOT excluded.yes_bid "
    "OR book_snapshots.yes_bid_size IS NOT excluded.yes_bid_size "
    "OR book_snapshots.yes_ask IS NOT excluded.yes_ask "
    "OR book_snapshots.yes_ask_size IS NOT excluded.yes_ask_size)"
)

#: Derive candle quotes for every stored candle (run by migration 4 on upgrade).
DERIVE_ALL_SQL = _DERIVE.format(where="")
_DERIVE_ONE = _DERIVE.format(where="AND c.ticker = ?")


def derive_candle_quotes(conn: sqlite3.Connection, tickers: Iterable[str] | None = None) -> int:
    """(Re)build the candle-derived quotes of ``tickers`` (all stored candles when None);
    markets with recorded books are skipped. Returns rows written or changed. Idempotent."""
    before = conn.total_changes
    if tickers is None:
        conn.execute(DERIVE_ALL_SQL)
    else:
        conn.executemany(_DERIVE_ONE, ((t,) for t in tickers))
    return conn.total_changes - before


def quote_sources(conn: sqlite3.Connection, tickers: Sequence[str]) -> dict[str, str]:
    """Which history drove each market's quotes: ``snapshots``, ``candles`` or ``none``."""
    out: dict[str, str] = {}
    for t in tickers:
        row = conn.execute("SELECT source FROM book_snapshots WHERE ticker = ? LIMIT 1",
                           (t,)).fetchone()
        out[t] = "none" if row is None else SOURCES.get(row[0], row[0])
    return out


def history_summary(conn: sqlite3.Connection, tickers: Sequence[str]) -> dict[str, object]:
    """What history the given markets have, for reports: ``source`` (``snapshots``,
    ``candles``, ``snapshots+candles``, ``trades`` when only trades, or ``none``), markets per
    quote source, markets with trades, ``per_market`` (ticker -> source) and the fidelity
    note for candle quotes."""
    per = quote_sources(conn, tickers)
    counts = {k: sum(1 for v in per.values() if v == k) for k in ("snapshots", "candles", "none")}
    with_trades = sum(1 for t in tickers if conn.execute(
        "SELECT 1 FROM trades WHERE ticker = ? LIMIT 1", (t,)).fetchone() is not None)
    used = [k for k in ("snapshots", "candles") if counts[k]]
    source = "+".join(used) if used else ("trades" if with_trades else "none")
    out: dict[str, object] = {"source": source, "markets": counts, "markets_with_trades":
                              with_trades, "per_market": per}
    if counts["candles"]:
        out["fidelity"] = ("candle quotes: YES bid/ask at each minute's end, never fresher "
                           "than their minute; sizes = volume traded at that side in the "
                           "minute, else unknown")
    return out


def summary_line(summary: dict[str, object]) -> str:
    """One line for text reports, e.g. ``history: candles (96 market(s) quoted from candles;
    96 with trades); candle quotes: ...``."""
    counts = summary["markets"]
    assert isinstance(counts, dict)
    parts = [f"{n} market(s) quoted from {k}" for k, n in counts.items() if n and k != "none"]
    if counts.get("none"):
        parts.append(f"{counts['none']} without quotes")
    line = (f"history: {summary['source']} ({', '.join(parts) or 'no markets'}; "
            f"{summary['markets_with_trades']} with trades)")
    if "fidelity" in summary:
        line += f"; {summary['fidelity']}"
    return line


def history_of(database: str | Path, series: Sequence[str] = (), tickers: Sequence[str] = (),
               since: datetime | None = None, until: datetime | None = None
               ) -> dict[str, object]:
    """``history_summary`` of the selected markets of the store at ``database`` (read-only)."""
    from kalshibot.store.connection import connect

    conn = connect(database, read_only=True)
    try:
        return history_summary(conn, find_tickers(conn, series=series, tickers=tickers,
                                                 close_after=since, close_before=until))
    finally:
        conn.close()

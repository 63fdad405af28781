"""History loaders: pandas DataFrames for features, training and backtests.

Floats here are fine (these frames feed features and models, not money). Times are
``datetime64[ns, UTC]``; prices float dollars; sizes float contracts. ``since``/``until`` are aware
datetimes (or anything ``pd.Timestamp`` accepts, read as UTC): ``since <= ts < until``.

- ``load_markets``: ticker, event_ticker, series_ticker, title, status, open_time, close_time,
  strike_type, floor_strike, cap_strike, result ('yes'/'no'/''), settlement_value (NaN if none),
  mutually_exclusive (bool, from the market's event; False if the event is unknown).
  ``since``/``until`` filter on close_time.
- ``load_snapshots`` / ``iter_snapshots``: ts, ticker, yes_bid, yes_ask (NaN if absent),
  yes_bid_size, yes_ask_size (NaN if absent), sorted by ticker, ts.
- ``load_trades``: ts, ticker, yes_price, count, taker_side.
- ``load_spot``: ts, source, symbol, price.
- ``load_price_points``: ts, ticker, last_price, volume.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypeAlias

import pandas as pd

from kalshibot.store.units import COUNT_SCALE, PRICE_SCALE

TimeLike: TypeAlias = datetime | pd.Timestamp | str | None

MARKET_COLUMNS = ["ticker", "event_ticker", "series_ticker", "title", "status", "open_time",
                  "close_time", "strike_type", "floor_strike", "cap_strike", "result",
                  "settlement_value", "mutually_exclusive"]
SNAPSHOT_COLUMNS = ["ts", "ticker", "yes_bid", "yes_ask", "yes_bid_size", "yes_ask_size"]
TRADE_COLUMNS = ["ts", "ticker", "yes_price", "count", "taker_side"]
SPOT_COLUMNS = ["ts", "source", "symbol", "price"]
PRICE_POINT_COLUMNS = ["ts", "ticker", "last_price", "volume"]


def _ms(t: TimeLike) -> int | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1_000_000)


def _to_time(ms: pd.Series) -> pd.Series:
    return pd.to_datetime(ms.astype("Int64"), unit="ms", utc=True).astype("datetime64[ns, UTC]")


def _where(clauses: list[str], args: list[Any], col: str, values: Sequence[str] | None) -> None:
    if values:
        values = [values] if isinstance(values, str) else list(values)
        clauses.append(f"{col} IN ({','.join('?' * len(values))})")
        args.extend(values)


def _range(clauses: list[str], args: list[Any], col: str, since: TimeLike, until: TimeLike
           ) -> None:
    lo, hi = _ms(since), _ms(until)
    if lo is not None:
        clauses.append(f"{col} >= ?")
        args.append(lo)
    if hi is not None:
        clauses.append(f"{col} < ?")
        args.append(hi)


def _sql_where(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def load_markets(conn: sqlite3.Connection, series: Sequence[str] | None = None,
                 tickers: Sequence[str] | None = None, since: TimeLike = None,
                 until: TimeLike = None) -> pd.DataFrame:
    """Markets (one row each) sorted by close_time, ticker; see the module docstring."""
    clauses: list[str] = []
    args: list[Any] = []
    _where(clauses, args, "m.series_ticker", series)
    _where(clauses, args, "m.ticker", tickers)
    _range(clauses, args, "m.close_time", since, until)
    sql = ("SELECT m.ticker, m.event_ticker, m.series_ticker, m.title, m.status, m.open_time, "
           "m.close_time, m.strike_type, m.floor_strike, m.cap_strike, m.result, "
           "m.settlement_value, coalesce(e.mutually_exclusive, 0) AS mutually_exclusive "
           "FROM markets m LEFT JOIN events e ON e.event_ticker = m.event_ticker"
           f"{_sql_where(clauses)} ORDER BY m.close_time, m.ticker")
    df = pd.read_sql_query(sql, conn, params=args)
    if df.empty:
        return _empty_markets()
    df["open_time"] = _to_time(df["open_time"])
    df["close_time"] = _to_time(df["close_time"])
    for c in ("floor_strike", "cap_strike", "settlement_value"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    df["strike_type"] = df["strike_type"].fillna("")
    df["result"] = df["result"].fillna("")
    df["mutually_exclusive"] = df["mutually_exclusive"].astype(bool)
    return df[MARKET_COLUMNS].reset_index(drop=True)


def _empty_markets() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object") for c in MARKET_COLUMNS})
    for c in ("open_time", "close_time"):
        df[c] = pd.Series(dtype="datetime64[ns, UTC]")
    for c in ("floor_strike", "cap_strike", "settlement_value"):
        df[c] = pd.Series(dtype="float64")
    df["mutually_exclusive"] = pd.Series(dtype="bool")
    return df


def _snapshot_frame(raw: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({
        "ts": _to_time(raw["ts"]) if len(raw) else pd.Series(dtype="datetime64[ns, UTC]"),
        "ticker": raw["ticker"].astype(object),
    })
    for c, scale in (("yes_bid", PRICE_SCALE), ("yes_ask", PRICE_SCALE),
                     ("yes_bid_size", COUNT_SCALE), ("yes_ask_size", COUNT_SCALE)):
        out[c] = pd.to_numeric(raw[c], errors="coerce").astype("float64") / scale
    return out[SNAPSHOT_COLUMNS]


_SNAP_SQL = "SELECT ts, ticker, yes_bid, yes_ask, yes_bid_size, yes_ask_size FROM book_snapshots"


def load_snapshots(conn: sqlite3.Connection, tickers: Sequence[str] | None = None,
                   since: TimeLike = None, until: TimeLike = None) -> pd.DataFrame:
    """Top-of-book snapshots sorted by ticker, ts (whole result in memory; see
    ``iter_snapshots`` for bounded memory)."""
    clauses: list[str] = []
    args: list[Any] = []
    _where(clauses, args, "ticker", tickers)
    _range(clauses, args, "ts", since, until)
    raw = pd.read_sql_query(f"{_SNAP_SQL}{_sql_where(clauses)} ORDER BY ticker, ts", conn,
                            params=args)
    return _snapshot_frame(raw).reset_index(drop=True)


def iter_snapshots(conn: sqlite3.Connection, tickers: Sequence[str] | None = None,
                   since: TimeLike = None, until: TimeLike = None,
                   by: Literal["ticker", "day"] = "ticker") -> Iterator[pd.DataFrame]:
    """Stream snapshots one ticker (``by="ticker"``, sorted by ts) or one UTC day
    (``by="day"``, sorted by ticker, ts) at a time; memory is bounded by the largest piece."""
    if by not in ("ticker", "day"):
        raise ValueError(f"by must be 'ticker' or 'day', not {by!r}")
    clauses: list[str] = []
    args: list[Any] = []
    _where(clauses, args, "ticker", tickers)
    _range(clauses, args, "ts", since, until)
    if by == "ticker":
        names = [r[0] for r in conn.execute(
            f"SELECT DISTINCT ticker FROM book_snapshots{_sql_where(clauses)} ORDER BY ticker",
            args)]
        for name in names:
            frame = load_snapshots(conn, [name], since, until)
            if len(frame):
                yield frame
        return
    day_ms = 86_400_000
    bounds = conn.execute(f"SELECT min(ts), max(ts) FROM book_snapshots{_sql_where(clauses)}",
                          args).fetchone()
    if bounds[0] is None:
        return
    start = (bounds[0] // day_ms) * day_ms
    for d0 in range(start, bounds[1] + 1, day_ms):
        lo = max(d0, _ms(since) or d0)
        hi = min(d0 + day_ms, _ms(until) or d0 + day_ms)
        frame = load_snapshots(conn, tickers, pd.Timestamp(lo, unit="ms", tz="UTC"),
                               pd.Timestamp(hi, unit="ms", tz="UTC"))
        if len(frame):
            yield frame


def load_trades(conn: sqlite3.Connection, tickers: Sequence[str] | None = None,
                since: TimeLike = None, until: TimeLike = None) -> pd.DataFrame:
    """Public trades sorted by ticker, ts: yes_price float dollars, count float contracts."""
    clauses: list[str] = []
    args: list[Any] = []
    _where(clauses, args, "ticker", tickers)
    _range(clauses, args, "ts", since, until)
    raw = pd.read_sql_query(
        "SELECT ts, ticker, yes_price, count, taker_side, trade_id FROM trades"
        f"{_sql_where(clauses)} ORDER BY ticker, ts, trade_id", conn, params=args)
    out = pd.DataFrame({
        "ts": _to_time(raw["ts"]) if len(raw) else pd.Series(dtype="datetime64[ns, UTC]"),
        "ticker": raw["ticker"].astype(object),
        "yes_price": raw["yes_price"].astype("float64") / PRICE_SCALE,
        "count": raw["count"].astype("float64") / COUNT_SCALE,
        "taker_side": raw["taker_side"].astype(object),
    })
    return out[TRADE_COLUMNS].reset_index(drop=True)


def load_spot(conn: sqlite3.Connection, symbol: str | Sequence[str] | None = None,
              source: str | Sequence[str] | None = None, since: TimeLike = None,
              until: TimeLike = None) -> pd.DataFrame:
    """Reference prices sorted by symbol, source, ts; ``price`` float in quote currency."""
    clauses: list[str] = []
    args: list[Any] = []
    _where(clauses, args, "symbol", [symbol] if isinstance(symbol, str) else symbol)
    _where(clauses, args, "source", [source] if isinstance(source, str) else source)
    _range(clauses, args, "ts", since, until)
    raw = pd.read_sql_query(f"SELECT ts, source, symbol, price FROM spot_prices"
                            f"{_sql_where(clauses)} ORDER BY symbol, source, ts", conn,
                            params=args)
    out = pd.DataFrame({
        "ts": _to_time(raw["ts"]) if len(raw) else pd.Series(dtype="datetime64[ns, UTC]"),
        "source": raw["source"].astype(object),
        "symbol": raw["symbol"].astype(object),
        "price": pd.to_numeric(raw["price"]).astype("float64"),
    })
    return out[SPOT_COLUMNS].reset_index(drop=True)


def load_price_points(conn: sqlite3.Connection, tickers: Sequence[str] | None = None,
                      since: TimeLike = None, until: TimeLike = None) -> pd.DataFrame:
    """Last-traded-price history sorted by ticker, ts (float dollars; volume float contracts)."""
    clauses: list[str] = []
    args: list[Any] = []
    _where(clauses, args, "ticker", tickers)
    _range(clauses, args, "ts", since, until)
    raw = pd.read_sql_query(f"SELECT ts, ticker, last_price, volume FROM price_points"
                            f"{_sql_where(clauses)} ORDER BY ticker, ts", conn, params=args)
    out = pd.DataFrame({
        "ts": _to_time(raw["ts"]) if len(raw) else pd.Series(dtype="datetime64[ns, UTC]"),
        "ticker": raw["ticker"].astype(object),
        "last_price": raw["last_price"].astype("float64") / PRICE_SCALE,
        "volume": pd.to_numeric(raw["volume"], errors="coerce").astype("float64") / COUNT_SCALE,
    })
    return out[PRICE_POINT_COLUMNS].reset_index(drop=True)


__all__ = ["load_markets", "load_snapshots", "iter_snapshots", "load_trades", "load_spot",
           "load_price_points", "MARKET_COLUMNS", "SNAPSHOT_COLUMNS", "TRADE_COLUMNS",
           "SPOT_COLUMNS"]

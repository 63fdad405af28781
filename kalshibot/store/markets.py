"""Series, events and markets: idempotent upserts from domain objects and queries back.

Strikes are stored as exact decimal text; settlement value as decimal dollars; times as epoch
ms UTC. Upserts replace every column with the newest values (``ON CONFLICT DO UPDATE``) and
leave a row untouched when nothing changed, so re-ingesting the same data changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from kalshibot.domain.fees import FeeType
from kalshibot.domain.market import Event, Market, MarketStatus, Result, Series
from kalshibot.domain.money import Price
from kalshibot.domain.ticks import TickGrid
from kalshibot.store.units import (
    ms_ts,
    opt_ms_ts,
    opt_ts_ms,
    text_decimal,
    ts_ms,
    units_to_count,
    units_to_price,
)

T = TypeVar("T")

#: Request vocabulary of ``GET /markets?status=`` mapped to stored statuses.
STATUS_GROUPS: dict[str, tuple[str, ...]] = {
    "open": (MarketStatus.ACTIVE.value,),
    "unopened": (MarketStatus.INITIALIZED.value, MarketStatus.INACTIVE.value),
    "closed": (MarketStatus.CLOSED.value,),
    "settled": (MarketStatus.DETERMINED.value, MarketStatus.FINALIZED.value,
                MarketStatus.SETTLED.value, MarketStatus.AMENDED.value,
                MarketStatus.DISPUTED.value),
}


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _changed(cols: Sequence[str], key: str, table: str) -> str:
    """WHERE clause for DO UPDATE: only touch the row if some column differs."""
    return " OR ".join(f"{table}.{c} IS NOT excluded.{c}" for c in cols if c != key)


def _upsert_sql(table: str, cols: Sequence[str], key: str, *, skip_change: Sequence[str] = ()
                ) -> str:
    placeholders = ", ".join("?" for _ in cols)
    sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != key)
    watch = [c for c in cols if c not in skip_change]
    return (f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders}) "
            f"ON CONFLICT({key}) DO UPDATE SET {sets} WHERE {_changed(watch, key, table)}")


SERIES_COLS = ("ticker", "title", "category", "frequency", "fee_type", "fee_multiplier",
               "updated_ts")
EVENT_COLS = ("event_ticker", "series_ticker", "title", "mutually_exclusive", "updated_ts")
MARKET_COLS = ("ticker", "event_ticker", "series_ticker", "title", "status", "open_time",
               "close_time", "strike_type", "floor_strike", "cap_strike", "result",
               "settlement_value", "tick_structure", "price_ranges", "fractional_trading",
               "volume", "open_interest", "fee_type", "fee_multiplier", "source", "updated_ts",
               "fee_waiver_until", "exchange_index", "untradeable")


def upsert_series(conn: sqlite3.Connection, series: Iterable[Series], *, now: datetime,
                  category: str = "") -> int:
    """Insert or update series; returns rows written (changed or new). ``category`` (when
    given) overrides each series' own category."""
    sql = _upsert_sql("series", SERIES_COLS, "ticker", skip_change=("updated_ts",))
    rows = [(s.ticker, s.title, category or s.category, s.frequency, s.fee_type.value,
             format(s.fee_multiplier, "f"), ts_ms(now)) for s in series]
    return _run(conn, sql, rows)


def upsert_events(conn: sqlite3.Connection, events: Iterable[Event], *, now: datetime) -> int:
    sql = _upsert_sql("events", EVENT_COLS, "event_ticker", skip_change=("updated_ts",))
    rows = [(e.event_ticker, e.series_ticker, e.title, int(e.mutually_exclusive), ts_ms(now))
            for e in events]
    return _run(conn, sql, rows)


def market_row(m: Market, *, now: datetime, source: str = "") -> tuple[object, ...]:
    grid = m.tick_grid
    ranges = None
    if not grid.is_named:
        ranges = json.dumps([{"start": str(b.start), "end": str(b.end), "step": str(b.step)}
                             for b in grid.bands])
    return (m.ticker, m.event_ticker, m.series_ticker, m.title, m.status.value,
            opt_ts_ms(m.open_time), ts_ms(m.close_time), m.strike_type, _dec(m.floor_strike),
            _dec(m.cap_strike), m.result.value,
            None if m.settlement_value is None else m.settlement_value.to_str(),
            grid.name, ranges, int(m.fractional_trading), format(m.volume, "f"),
            format(m.open_interest, "f"), m.fee_type.value, format(m.fee_multiplier, "f"),
            source, ts_ms(now), opt_ts_ms(m.fee_waiver_until), m.exchange_index, m.untradeable)


def upsert_markets(conn: sqlite3.Connection, markets: Iterable[Market], *, now: datetime,
                   source: str = "") -> int:
    """Insert or update markets (every field from the domain object); returns rows written."""
    sql = _upsert_sql("markets", MARKET_COLS, "ticker", skip_change=("updated_ts",))
    return _run(conn, sql, [market_row(m, now=now, source=source) for m in markets])


def _run(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple[object, ...]]) -> int:
    if not rows:
        return 0
    before = conn.total_changes
    conn.executemany(sql, rows)
    return conn.total_changes - before


def _market(r: sqlite3.Row, shared: dict[object, object] | None = None) -> Market:
    """A stored row as a ``Market``. ``shared``: equal values of the rows read together
    (series, titles, grids, fee fields, zero volumes...) become one object each, so a long
    selection of markets holds each repeated value once."""
    one: Callable[[T], T] = _sharer({} if shared is None else shared)
    ranges_text = r["price_ranges"]
    grid = one(TickGrid.from_structure(r["tick_structure"],
                                       json.loads(ranges_text) if ranges_text else None))
    return Market(
        ticker=r["ticker"], event_ticker=r["event_ticker"],
        series_ticker=one(r["series_ticker"]), title=one(r["title"]),
        status=MarketStatus(r["status"]), open_time=opt_ms_ts(r["open_time"]),
        close_time=ms_ts(r["close_time"]), tick_grid=grid, strike_type=one(r["strike_type"]),
        floor_strike=one(text_decimal(r["floor_strike"])),
        cap_strike=one(text_decimal(r["cap_strike"])),
        result=Result(r["result"]),
        settlement_value=None if r["settlement_value"] is None
        else one(Price(Decimal(r["settlement_value"]))),
        fractional_trading=bool(r["fractional_trading"]), volume=one(Decimal(r["volume"])),
        open_interest=one(Decimal(r["open_interest"])), fee_type=FeeType(r["fee_type"]),
        fee_multiplier=one(Decimal(r["fee_multiplier"])),
        fee_waiver_until=opt_ms_ts(r["fee_waiver_until"]), exchange_index=r["exchange_index"],
        untradeable=r["untradeable"] or "",
    )


def _sharer(shared: dict[object, object]) -> Callable[[T], T]:
    """``value`` or the identical value seen first (same type and repr, so ``Decimal("1")``
    and ``Decimal("1.0")`` stay apart): immutable values only."""

    def one(value: T) -> T:
        if value is None:
            return value
        key = (type(value), value if isinstance(value, str) else repr(value))
        return shared.setdefault(key, value)  # type: ignore[return-value]

    return one


def _rows(conn: sqlite3.Connection, sql: str, args: Sequence[object]) -> list[sqlite3.Row]:
    return list(_iter_rows(conn, sql, args))


def _iter_rows(conn: sqlite3.Connection, sql: str, args: Sequence[object]
               ) -> Iterator[sqlite3.Row]:
    """Rows by name, one at a time (a long selection is never held twice)."""
    cur = conn.execute(sql, tuple(args))
    names = [d[0] for d in cur.description]
    for r in cur:
        yield _Row(names, r)  # type: ignore[misc]


class _Row(dict):  # tiny row-by-name without touching conn.row_factory
    def __init__(self, names: list[str], values: tuple[object, ...]) -> None:
        super().__init__(zip(names, values, strict=True))


def get_market(conn: sqlite3.Connection, ticker: str) -> Market | None:
    rows = _rows(conn, "SELECT * FROM markets WHERE ticker = ?", (ticker,))
    return _market(rows[0]) if rows else None


def get_series(conn: sqlite3.Connection, ticker: str) -> Series | None:
    rows = _rows(conn, "SELECT * FROM series WHERE ticker = ?", (ticker,))
    if not rows:
        return None
    r = rows[0]
    return Series(r["ticker"], r["title"], FeeType(r["fee_type"]), Decimal(r["fee_multiplier"]),
                  r["frequency"])


def get_event(conn: sqlite3.Connection, event_ticker: str) -> Event | None:
    rows = _rows(conn, "SELECT * FROM events WHERE event_ticker = ?", (event_ticker,))
    if not rows:
        return None
    r = rows[0]
    return Event(r["event_ticker"], r["series_ticker"], r["title"], bool(r["mutually_exclusive"]))


def find_markets(
    conn: sqlite3.Connection,
    *,
    series: Sequence[str] = (),
    tickers: Sequence[str] = (),
    event: str | None = None,
    status: str | None = None,
    text: str | None = None,
    close_after: datetime | None = None,
    close_before: datetime | None = None,
    limit: int | None = None,
    newest_first: bool = False,
) -> list[Market]:
    """Markets matching every given filter. ``status``: a stored status (``active``...) or a
    request word (open | unopened | closed | settled) or None/``all`` for any."""
    where, args = _filters(series, tickers, event, status, text, close_after, close_before)
    order = "DESC" if newest_first else ""
    sql = f"SELECT * FROM markets m {where} ORDER BY close_time {order}, ticker"
    if limit:
        sql += f" LIMIT {int(limit)}"
    shared: dict[object, object] = {}
    return [_market(r, shared) for r in _iter_rows(conn, sql, args)]


def find_tickers(conn: sqlite3.Connection, *, series: Sequence[str] = (),
                 tickers: Sequence[str] = (), close_after: datetime | None = None,
                 close_before: datetime | None = None) -> list[str]:
    """Tickers of the markets ``find_markets`` would return for these filters, same order."""
    where, args = _filters(series, tickers, None, None, None, close_after, close_before)
    sql = f"SELECT m.ticker FROM markets m {where} ORDER BY close_time, ticker"
    return [r[0] for r in conn.execute(sql, args)]


def _filters(series: Sequence[str], tickers: Sequence[str], event: str | None,
             status: str | None, text: str | None, close_after: datetime | None,
             close_before: datetime | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    args: list[object] = []
    if series:
        clauses.append(f"m.series_ticker IN ({','.join('?' * len(series))})")
        args += list(series)
    if tickers:
        clauses.append(f"m.ticker IN ({','.join('?' * len(tickers))})")
        args += list(tickers)
    if event:
        clauses.append("m.event_ticker = ?")
        args.append(event)
    if status and status != "all":
        group = STATUS_GROUPS.get(status, (status,))
        clauses.append(f"m.status IN ({','.join('?' * len(group))})")
        args += list(group)
    if text:
        clauses.append("(m.ticker LIKE ? OR m.title LIKE ? OR m.event_ticker LIKE ?)")
        like = f"%{text}%"
        args += [like, like, like]
    if close_after is not None:
        clauses.append("m.close_time >= ?")
        args.append(ts_ms(close_after))
    if close_before is not None:
        clauses.append("m.close_time < ?")
        args.append(ts_ms(close_before))
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """A market with its latest stored top of book (``None`` where unknown). Dollars exact."""

    market: Market
    yes_bid: Price | None
    yes_ask: Price | None
    quote_time: datetime | None
    trade_volume: Decimal  # contracts in the stored trade tape

    @property
    def spread(self) -> Decimal | None:
        if self.yes_bid is None or self.yes_ask is None:
            return None
        return self.yes_ask - self.yes_bid

    @property
    def volume(self) -> Decimal:
        """Market's reported volume, or the stored tape's if that is larger."""
        return max(self.market.volume, self.trade_volume)


def market_quotes(
    conn: sqlite3.Connection,
    *,
    series: Sequence[str] = (),
    tickers: Sequence[str] = (),
    event: str | None = None,
    status: str | None = None,
    text: str | None = None,
    limit: int | None = 200,
    now: datetime | None = None,
) -> list[MarketQuote]:
    """Markets (soonest close first) with their latest stored book snapshot and tape volume.

    With ``now``, ``status='open'`` excludes stored-active markets whose close time has passed
    and ``status='closed'`` includes them (see :func:`shown_status`).
    """
    where, args = _filters(series, tickers, event, None if now and status in ("open", "closed")
                           else status, text, None, None)
    if now is not None and status in ("open", "closed"):
        active, op = MarketStatus.ACTIVE.value, ">" if status == "open" else "<="
        clause = (f"(m.status = ? AND m.close_time {op} ?)" if status == "open" else
                  f"(m.status = ? OR (m.status = ? AND m.close_time {op} ?))")
        extra: list[object] = ([active, ts_ms(now)] if status == "open"
                               else [MarketStatus.CLOSED.value, active, ts_ms(now)])
        where = (where + " AND " if where else "WHERE ") + clause
        args += extra
    sql = (
        "SELECT m.*, b.ts AS q_ts, b.yes_bid AS q_bid, b.yes_ask AS q_ask, "
        "(SELECT coalesce(sum(t.count), 0) FROM trades t WHERE t.ticker = m.ticker) AS t_vol "
        "FROM markets m LEFT JOIN book_snapshots b ON b.ticker = m.ticker AND b.ts = "
        "(SELECT max(ts) FROM book_snapshots b2 WHERE b2.ticker = m.ticker) "
        f"{where} ORDER BY m.close_time, m.ticker"
    )
    if limit:
        sql += f" LIMIT {int(limit)}"
    out = []
    for r in _rows(conn, sql, args):
        out.append(MarketQuote(
            _market(r),
            None if r["q_bid"] is None else units_to_price(r["q_bid"]),
            None if r["q_ask"] is None else units_to_price(r["q_ask"]),
            opt_ms_ts(r["q_ts"]),
            units_to_count(int(r["t_vol"])).value,
        ))
    return out


def shown_status(market: Market, now: datetime) -> str:
    """The status to display: a stored ``active`` market whose close time is at or before
    ``now`` is shown as ``closed`` (stored data ages; the exchange would have closed it)."""
    if market.status is MarketStatus.ACTIVE and market.close_time <= now:
        return MarketStatus.CLOSED.value
    return market.status.value


def count_rows(conn: sqlite3.Connection, table: str) -> int:
    """Row count of a store table (name checked against the schema)."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if table not in names:
        raise KeyError(table)
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

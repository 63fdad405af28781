"""Import one file in a generic layout (see ``layouts``) into the store, in chunks.

Every row either lands in the store or is reported as an ``Issue`` (file, line, reason);
with ``strict=True`` the first bad row aborts the file with ``UserInputError`` and nothing
from that file is kept (the whole file is one transaction). Re-importing a file changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from kalshibot.domain.market import Event, Market
from kalshibot.errors import DataError, UserInputError
from kalshibot.importers.layouts import (
    LAYOUTS,
    REQUIRED,
    ImportReport,
    Issue,
    Row,
    count_units,
    detect_layout,
    ident,
    loose_decimal,
    market_from_row,
    parse_time,
    price_units,
    quote_row,
    read_rows,
    series_rows,
    trade_fields,
)
from kalshibot.store.books import insert_snapshot_rows
from kalshibot.store.connection import atomic
from kalshibot.store.markets import upsert_events, upsert_markets, upsert_series
from kalshibot.store.prices import insert_price_points
from kalshibot.store.spot import SpotRow, insert_spot_rows
from kalshibot.store.trades import insert_trade_rows, synthetic_trade_id
from kalshibot.store.units import ts_ms

Tick = Callable[[int], None]


T = TypeVar("T")


def _good_rows(rows: Iterator[tuple[int, Row]], report: ImportReport, file: str,
               convert: Callable[[Row], T], strict: bool, tick: Tick | None
               ) -> Iterator[tuple[int, T]]:
    for line, row in rows:
        report.rows_read += 1
        if tick is not None and report.rows_read % 10_000 == 0:
            tick(10_000)
        err = row.get("__error__")
        try:
            if err:
                raise DataError(err)
            yield line, convert(row)
        except (DataError, KeyError, ValueError, ArithmeticError) as exc:
            msg = exc.message if isinstance(exc, DataError) else f"{type(exc).__name__}: {exc}"
            issue = Issue(file, line, msg)
            if strict:
                raise UserInputError(str(issue), hint="fix the row or drop --strict") from exc
            report.issues.append(issue)


def import_file(conn: sqlite3.Connection, path: Path, *, layout: str | None = None,
                source: str | None = None, symbol: str | None = None,
                bar_seconds: int = 0, strict: bool = False, now: datetime,
                tick: Tick | None = None) -> ImportReport:
    """Import ``path`` in ``layout`` (detected from the header when None)."""
    header, rows = read_rows(path)
    if layout is None:
        layout = detect_layout(_with_defaults(header, source, symbol))
        if layout is None:
            raise UserInputError(
                f"{path}: cannot tell the layout from columns {', '.join(header)}",
                hint=f"pass --layout ({' | '.join(LAYOUTS)}); see README 'kalshibot data import'")
    if layout not in REQUIRED:
        raise UserInputError(f"unknown layout {layout!r} (use one of {', '.join(LAYOUTS)})")
    cols = set(_with_defaults(header, source, symbol))
    if layout == "spot" and "ts" not in header and bar_seconds <= 0:
        raise UserInputError(f"{path}: bars with open_time need --bar-seconds (the bar length)",
                             hint="spot prices are stored at the bar's end, when its close "
                                  "is known")
    missing = [c for c in REQUIRED[layout] if c not in cols]
    if missing:
        raise UserInputError(f"{path}: layout {layout!r} needs column(s) {', '.join(missing)}",
                             hint=f"found: {', '.join(header)}")
    report = ImportReport(path.name, layout)
    file = str(path)
    with atomic(conn):
        if layout == "markets":
            _markets(conn, rows, report, file, strict, now, tick)
        elif layout == "quotes":
            report.add("book_snapshots", insert_snapshot_rows(
                conn, (r for _, r in _good_rows(rows, report, file, quote_row, strict, tick))))
        elif layout == "trades":
            report.add("trades", insert_trade_rows(conn, _trades(rows, report, file, strict,
                                                                  tick)))
        elif layout == "spot":
            conv = _spot_converter(source or "import", symbol, bar_seconds)
            report.add("spot_prices", insert_spot_rows(
                conn, (r for _, r in _good_rows(rows, report, file, conv, strict, tick))))
        else:
            src = source or "import"

            def conv_price(row: Row) -> tuple[str, int, int, int | None, str]:
                lp = price_units(row["last_price"], "last_price")
                if lp is None:
                    raise DataError("last_price is empty")
                return (ident(row["ticker"]), ts_ms(parse_time(row["ts"], "ts")), lp,
                        count_units(row.get("volume", ""), "volume"), src)

            report.add("price_points", insert_price_points(
                conn, (r for _, r in _good_rows(rows, report, file, conv_price, strict, tick))))
    return report


def _with_defaults(header: list[str], source: str | None, symbol: str | None) -> list[str]:
    extra = (["source"] if source else []) + (["symbol"] if symbol else [])
    if "close" in header and "open_time" in header:  # bars: close is the price at the end
        extra += ["price", "ts"]
    return header + [c for c in extra if c not in header]


def _markets(conn: sqlite3.Connection, rows: Iterator[tuple[int, Row]], report: ImportReport,
             file: str, strict: bool, now: datetime, tick: Tick | None) -> None:
    markets: list[Market] = []
    events: dict[str, Event] = {}
    for _, (m, e) in _good_rows(rows, report, file, lambda r: market_from_row(r, now=now),
                                strict, tick):
        markets.append(m)
        if e.event_ticker not in events or e.mutually_exclusive:
            events[e.event_ticker] = e
    report.add("series", upsert_series(conn, series_rows(markets), now=now))
    report.add("events", upsert_events(conn, events.values(), now=now))
    report.add("markets", upsert_markets(conn, markets, now=now, source=f"import:{report.name}"))


def _trades(rows: Iterator[tuple[int, Row]], report: ImportReport, file: str, strict: bool,
            tick: Tick | None) -> Iterator[tuple[str, str, int, int, int, str]]:
    seen: dict[tuple[str, int, int, int, str], int] = {}
    for _, item in _good_rows(rows, report, file, lambda r: (r.get("trade_id", ""),
                                                             trade_fields(r)), strict, tick):
        tid, fields = item
        ticker, ts, price, count, side = fields
        if not tid:
            n = seen.get(fields, 0)
            seen[fields] = n + 1
            tid = synthetic_trade_id(ticker, ts, price, count, side, n)
        yield (tid, ticker, ts, price, count, side)


def _spot_converter(source: str, symbol: str | None, bar_seconds: int
                    ) -> Callable[[Row], SpotRow]:
    def conv(row: Row) -> SpotRow:
        if row.get("ts"):
            when = parse_time(row["ts"], "ts")
        else:
            when = parse_time(row["open_time"], "open_time") + timedelta(seconds=bar_seconds)
        price = loose_decimal(row.get("price") or row.get("close", ""), "price")
        if price <= 0:
            raise DataError(f"price {price} is not positive")

        def opt(c: str) -> str | None:
            v = row.get(c, "")
            return None if v == "" else format(loose_decimal(v, c), "f")

        sym = row.get("symbol") or symbol
        if not sym:
            raise DataError("symbol is empty (give the column or --symbol)")
        ident(sym, "symbol")
        return (row.get("source") or source, sym, ts_ms(when),
                format(price, "f"), opt("open"), opt("high"), opt("low"), opt("volume"))

    return conv

"""Adapters for the known public datasets (the layout of ``../shared/data/kalshi/``).

Nothing here needs those files at runtime: each adapter is given a path by the user.
``import_dataset(conn, path)`` recognises a folder or file by its name and contents:

- **watkast 15-minute crypto settlements** (``settlements_15m_crypto.csv``, ``outcomes.csv``:
  ticker, series, result, close_time) -> ``markets`` (finalized, result, settlement value $1/$0),
  ``events``, ``series``. ``*15M`` markets open 15 minutes before close (``greater_or_equal``,
  strike unknown); hourly ``*D`` markets (``-T83599.99``) open 1 hour before close with
  ``strike_type='greater'`` and the strike from the ticker. ``close_time`` is kept as logged.
- **watkast aligned window** (folder with ``outcomes.csv``): outcomes as above;
  ``spot_index_and_model.csv`` -> ``spot_prices`` (source ``watkast_idx``, symbol = the asset,
  e.g. ``BTC``; the model columns are not stored); ``quotes_2s.csv`` -> ``book_snapshots``
  (a NO-side quote is converted: YES bid = 1 - NO ask, YES ask = 1 - NO bid; sizes unknown ->
  NULL; a zero bid means that side is empty); ``trades_near.csv`` -> ``trades`` (ids derived).
- **StephenForte macro history** (folder with ``contract_prices.csv.gz``): ``contract_series.csv``
  -> ``events`` (``mutually_exclusive`` from ``strike_structure``); ``contracts.csv`` ->
  ``markets`` (synthetic ``F-...-HISTORICAL`` rows skipped, counted); cumulative strikes are
  ``strike_type='greater'`` with ``floor_strike``; the dataset has no close times or outcomes,
  so ``close_time`` = the market's last observation and ``status`` = ``active`` when it was
  still observed at the final snapshot, else ``closed``; ``result`` blank.
  ``contract_prices.csv.gz`` -> ``price_points``: ``last_price`` = ``yes_price`` when given,
  else ``implied_probability`` (mutually exclusive events) or, for cumulative events, the sum
  of ``implied_probability`` over this and every higher strike at the same timestamp (exact
  decimal arithmetic). Exact duplicate rows and synthetic rows are skipped and counted; a derived
  price outside [0, 1] is reported as a bad row.
- **Binance.US 1-minute bars** (``binanceus_<PAIR>_1m_*.csv.gz``: open_time, open, high, low,
  close, volume) -> ``spot_prices`` (source ``binanceus``, symbol = the pair, ``ts`` = bar end =
  open_time + 60 s, price = close).
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from kalshibot.domain.fees import FeeType
from kalshibot.domain.market import Event, Market, MarketStatus, Result, Series, series_of
from kalshibot.domain.money import Price
from kalshibot.domain.ticks import TickGrid
from kalshibot.errors import DataError, UserInputError
from kalshibot.importers.engine import Tick, _good_rows, _trades
from kalshibot.importers.layouts import (
    ImportReport,
    Issue,
    Row,
    exact_decimal,
    ident,
    loose_decimal,
    parse_time,
    read_rows,
)
from kalshibot.store.books import insert_snapshot_rows
from kalshibot.store.connection import atomic
from kalshibot.store.markets import upsert_events, upsert_markets, upsert_series
from kalshibot.store.prices import insert_price_points
from kalshibot.store.spot import insert_spot_rows
from kalshibot.store.trades import insert_trade_rows
from kalshibot.store.units import price_to_units, ts_ms

ONE = Decimal(1)


def import_dataset(conn: sqlite3.Connection, path: Path, *, now: datetime, strict: bool = False,
                   tick: Tick | None = None) -> list[ImportReport]:
    """Import a known dataset folder or file; ``UserInputError`` if it is not one."""
    if not path.exists():
        raise UserInputError(f"{path}: no such file or folder")
    if path.is_dir():
        reports: list[ImportReport] = []
        found = False
        if (path / "contract_prices.csv.gz").exists():
            reports += import_forte(conn, path, now=now, strict=strict, tick=tick)
            found = True
        if (path / "settlements_15m_crypto.csv").exists():
            reports.append(import_settlements(conn, path / "settlements_15m_crypto.csv",
                                              now=now, strict=strict, tick=tick))
            found = True
        if (path / "outcomes.csv").exists():
            reports += import_window(conn, path, now=now, strict=strict, tick=tick)
            found = True
        for bars in sorted(path.glob("binanceus_*_1m_*.csv*")):
            reports.append(import_binance_bars(conn, bars, strict=strict, tick=tick))
            found = True
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            try:
                reports += import_dataset(conn, sub, now=now, strict=strict, tick=tick)
                found = True
            except UserInputError:
                pass
        if not found:
            raise UserInputError(f"{path}: no known dataset in this folder",
                                 hint="import single files with --layout "
                                      "(README: 'kalshibot data import')")
        return reports
    name = path.name
    if name in ("settlements_15m_crypto.csv", "outcomes.csv"):
        return [import_settlements(conn, path, now=now, strict=strict, tick=tick)]
    if name.startswith("binanceus_"):
        return [import_binance_bars(conn, path, strict=strict, tick=tick)]
    if name == "spot_index_and_model.csv":
        return [import_watkast_spot(conn, path, strict=strict, tick=tick)]
    if name == "quotes_2s.csv":
        return [import_watkast_quotes(conn, path, strict=strict, tick=tick)]
    if name.startswith("trades_") and name.endswith(".csv"):
        return [_watkast_trades(conn, path, now=now, strict=strict, tick=tick)]
    raise UserInputError(f"{path}: not a known dataset file",
                         hint="pass --layout to import it in a generic layout")


def is_dataset(path: Path) -> bool:
    """Whether ``import_dataset`` recognises ``path`` (used for automatic routing)."""
    if path.is_dir():
        return True
    return path.name in ("settlements_15m_crypto.csv", "outcomes.csv", "spot_index_and_model.csv",
                         "quotes_2s.csv") or path.name.startswith("binanceus_") or (
        path.name.startswith("trades_") and path.name.endswith(".csv")
        and path.parent.name.startswith("window_"))


def _run(conn: sqlite3.Connection, path: Path, layout: str, convert: Callable[[Row], object],
         insert: Callable[[sqlite3.Connection, object], int], table: str, strict: bool,
         tick: Tick | None) -> ImportReport:
    _, rows = read_rows(path)
    report = ImportReport(path.name, layout)
    with atomic(conn):
        good = (r for _, r in _good_rows(rows, report, str(path), convert, strict, tick))
        report.add(table, insert(conn, good))
    return report


# --- watkast ------------------------------------------------------------------------------
_HOURLY_STRIKE = re.compile(r"-T(\d+(?:\.\d+)?)$")


def settlement_market(row: Row) -> Market:
    ticker = ident(row["ticker"])
    series = ident(row.get("series") or series_of(ticker), "series")
    result = Result(row["result"].lower()) if row["result"].lower() in ("yes", "no") else None
    if result is None:
        raise DataError(f"result {row['result']!r} is not yes or no")
    close = parse_time(row["close_time"], "close_time")
    asset = series.removeprefix("KX").removesuffix("15M")
    strike = _HOURLY_STRIKE.search(ticker)
    if series.endswith("15M"):
        open_time, stype, floor_ = close - timedelta(minutes=15), "greater_or_equal", None
        title = f"{asset} price up in next 15 mins?"
    elif strike:
        asset = series.removeprefix("KX").removesuffix("D")
        open_time, stype = close - timedelta(hours=1), "greater"
        floor_ = Decimal(strike.group(1))
        title = f"{asset} price above {strike.group(1)} at close?"
    else:
        raise DataError(f"cannot tell the market type of {ticker}")
    return Market(ticker=ticker, event_ticker=ticker.rsplit("-", 1)[0], series_ticker=series,
                  title=title, status=MarketStatus.FINALIZED, open_time=open_time,
                  close_time=close, tick_grid=TickGrid.linear_cent(), strike_type=stype,
                  floor_strike=floor_, result=result,
                  settlement_value=Price(1) if result is Result.YES else Price(0))


def import_settlements(conn: sqlite3.Connection, path: Path, *, now: datetime,
                       strict: bool = False, tick: Tick | None = None) -> ImportReport:
    _, rows = read_rows(path)
    report = ImportReport(path.name, "watkast-settlements")
    markets = [m for _, m in _good_rows(rows, report, str(path), settlement_market, strict, tick)]
    with atomic(conn):
        series = {m.series_ticker: Series(m.series_ticker, "", FeeType.QUADRATIC,
                                          frequency="fifteen_min" if m.series_ticker.endswith(
                                              "15M") else "hourly") for m in markets}
        report.add("series", upsert_series(conn, series.values(), now=now, category="Crypto"))
        events = {m.event_ticker: Event(m.event_ticker, m.series_ticker, m.title)
                  for m in markets}
        report.add("events", upsert_events(conn, events.values(), now=now))
        report.add("markets", upsert_markets(conn, markets, now=now, source="watkast"))
    return report


def _asset_of(ticker: str) -> str:
    return series_of(ticker).removeprefix("KX").removesuffix("15M")


def import_watkast_spot(conn: sqlite3.Connection, path: Path, *, strict: bool = False,
                        tick: Tick | None = None) -> ImportReport:
    def conv(row: Row) -> object:
        price = exact_decimal(row["idx_spot"], "idx_spot")
        if price <= 0:
            raise DataError(f"idx_spot {price} is not positive")
        return ("watkast_idx", _asset_of(ident(row["ticker"])), ts_ms(parse_time(row["time"])),
                format(price, "f"), None, None, None, None)

    return _run(conn, path, "watkast-spot", conv, insert_spot_rows, "spot_prices",  # type: ignore[arg-type]
                strict, tick)


def watkast_quote(row: Row) -> object:
    """A one-side top-of-book row -> a YES-terms snapshot (a 0 bid or $1 ask = empty side)."""
    bid = exact_decimal(row["bid"], "bid")
    ask = exact_decimal(row["ask"], "ask")
    if not (0 <= bid <= 1 and 0 <= ask <= 1) or (bid > ask > 0):
        raise DataError(f"bid {bid} / ask {ask} not ordered within [0, 1]")
    side = row["side"].lower()
    if side not in ("yes", "no"):
        raise DataError(f"side {row['side']!r} is not yes or no")
    bid_q = bid if bid > 0 else None
    ask_q = ask if 0 < ask < 1 else None
    if side == "yes":
        y_bid, y_ask = bid_q, ask_q
    else:
        y_bid = None if ask_q is None else ONE - ask_q
        y_ask = None if bid_q is None else ONE - bid_q
    return (ident(row["ticker"]), ts_ms(parse_time(row["time"])),
            None if y_bid is None else price_to_units(y_bid), None,
            None if y_ask is None else price_to_units(y_ask), None, None)


def import_watkast_quotes(conn: sqlite3.Connection, path: Path, *, strict: bool = False,
                          tick: Tick | None = None) -> ImportReport:
    return _run(conn, path, "watkast-quotes", watkast_quote, insert_snapshot_rows,  # type: ignore[arg-type]
                "book_snapshots", strict, tick)


def _watkast_trades(conn: sqlite3.Connection, path: Path, *, now: datetime, strict: bool,
                    tick: Tick | None) -> ImportReport:
    """``time,ticker,yes_price,contracts,taker`` rows through the generic trades converter."""
    _, rows = read_rows(path)
    renamed = ((line, r if "__error__" in r else
                {"ts": r.get("time", ""), "ticker": r.get("ticker", ""),
                 "yes_price": r.get("yes_price", ""), "count": r.get("contracts", ""),
                 "taker_side": r.get("taker", "")}) for line, r in rows)
    report = ImportReport(path.name, "watkast-trades")
    with atomic(conn):
        report.add("trades", insert_trade_rows(conn, _trades(renamed, report, str(path),
                                                             strict, tick)))
    return report


def import_window(conn: sqlite3.Connection, folder: Path, *, now: datetime,
                  strict: bool = False, tick: Tick | None = None) -> list[ImportReport]:
    out = [import_settlements(conn, folder / "outcomes.csv", now=now, strict=strict, tick=tick)]
    if (folder / "spot_index_and_model.csv").exists():
        out.append(import_watkast_spot(conn, folder / "spot_index_and_model.csv", strict=strict,
                                       tick=tick))
    if (folder / "quotes_2s.csv").exists():
        out.append(import_watkast_quotes(conn, folder / "quotes_2s.csv", strict=strict,
                                         tick=tick))
    for trades in sorted(folder.glob("trades_*.csv")):
        out.append(_watkast_trades(conn, trades, now=now, strict=strict, tick=tick))
    return out


# --- Binance.US bars ---------------------------------------------------------------------
def import_binance_bars(conn: sqlite3.Connection, path: Path, *, strict: bool = False,
                        tick: Tick | None = None) -> ImportReport:
    m = re.match(r"binanceus_([A-Z0-9]+)_(\d+)m_", path.name)
    if not m:
        raise UserInputError(f"{path}: expected binanceus_<PAIR>_<N>m_... file name")
    symbol, minutes = m.group(1), int(m.group(2))

    def conv(row: Row) -> object:
        start = parse_time(row["open_time"], "open_time")
        close = loose_decimal(row["close"], "close")
        if close <= 0:
            raise DataError(f"close {close} is not positive")
        vals = [format(loose_decimal(row[c], c), "f") for c in ("open", "high", "low", "volume")]
        return ("binanceus", symbol, ts_ms(start + timedelta(minutes=minutes)),
                format(close, "f"), *vals)

    return _run(conn, path, "binance-bars", conv, insert_spot_rows, "spot_prices",  # type: ignore[arg-type]
                strict, tick)


# --- StephenForte macro --------------------------------------------------------------------
def import_forte(conn: sqlite3.Connection, folder: Path, *, now: datetime, strict: bool = False,
                 tick: Tick | None = None) -> list[ImportReport]:
    fam_titles: dict[str, str] = {}
    if (folder / "markets.csv").exists():
        _, rows = read_rows(folder / "markets.csv")
        fam_titles = {r["code"]: r.get("label", "") for _, r in rows if "code" in r}
    # events
    _, rows = read_rows(folder / "contract_series.csv")
    ev_report = ImportReport("contract_series.csv", "forte-events")
    structure: dict[str, str] = {}
    events: list[Event] = []

    def conv_event(row: Row) -> object:
        code, kind = ident(row["code"], "code"), row["strike_structure"]
        if kind not in ("cumulative", "mutually_exclusive"):
            raise DataError(f"unknown strike_structure {kind!r}")
        return Event(code, series_of(code), fam_titles.get(row.get("market_code", ""), ""),
                     kind == "mutually_exclusive")

    for _, e in _good_rows(rows, ev_report, str(folder / "contract_series.csv"), conv_event,
                           strict, tick):
        events.append(e)  # type: ignore[arg-type]
        structure[e.event_ticker] = "me" if e.mutually_exclusive else "cum"  # type: ignore[attr-defined]
    # prices first (close times derive from them)
    pr_report, points, last_seen, final_ts = _forte_prices(folder / "contract_prices.csv.gz",
                                                           structure, strict, tick)
    # markets
    _, rows = read_rows(folder / "contracts.csv")
    mk_report = ImportReport("contracts.csv", "forte-contracts")
    markets: list[Market] = []

    def conv_market(row: Row) -> object:
        if row.get("is_synthetic") == "1":
            return None
        code, ev = ident(row["code"], "code"), row["contract_series_code"]
        if ev not in structure:
            raise DataError(f"event {ev} is not in contract_series.csv")
        seen = last_seen.get(code)
        if seen is None:
            raise DataError(f"{code} has no price observations (close time unknown)")
        strike = exact_decimal(row["strike"], "strike") if row.get("strike") else None
        cum = structure[ev] == "cum"
        return Market(
            ticker=code, event_ticker=ev, series_ticker=series_of(code),
            title=(f"{ev}: above {row['strike']}" if cum and strike is not None
                   else f"{ev}: {row.get('label') or code.rsplit('-', 1)[-1]}"),
            status=MarketStatus.ACTIVE if seen == final_ts else MarketStatus.CLOSED,
            open_time=None, close_time=seen, tick_grid=TickGrid.linear_cent(),
            strike_type="greater" if cum else None, floor_strike=strike)

    for _, m in _good_rows(rows, mk_report, str(folder / "contracts.csv"), conv_market, strict,
                           tick):
        if m is None:
            mk_report.skip("synthetic aggregate row")
        else:
            markets.append(m)  # type: ignore[arg-type]
    with atomic(conn):
        ser = {e.series_ticker: Series(e.series_ticker, "", FeeType.QUADRATIC) for e in events}
        ev_report.add("series", upsert_series(conn, ser.values(), now=now, category="Economics"))
        ev_report.add("events", upsert_events(conn, events, now=now))
        mk_report.add("markets", upsert_markets(conn, markets, now=now, source="stephenforte"))
        pr_report.add("price_points", insert_price_points(conn, points))
    return [ev_report, mk_report, pr_report]


def _forte_prices(path: Path, structure: dict[str, str], strict: bool, tick: Tick | None
                  ) -> tuple[ImportReport, list[tuple[str, int, int, int | None, str]],
                             dict[str, datetime], datetime | None]:
    _, rows = read_rows(path)
    report = ImportReport(path.name, "forte-prices")
    file = str(path)
    # (event, ts) -> [(strike, ticker, line, yes_price, implied, volume)]
    groups: dict[tuple[str, str], list[tuple[Decimal, str, int, Decimal | None, Decimal,
                                             int | None]]] = defaultdict(list)
    seen_keys: dict[tuple[str, str], int] = {}

    def conv(row: Row) -> str | tuple[tuple[str, str], str, Decimal, Decimal | None, Decimal,
                                      int | None]:
        if row.get("is_synthetic") == "1":
            return "synthetic"
        key = (ident(row["contract_ticker"], "contract_ticker"), row["timestamp"])
        if key in seen_keys:
            return "duplicate"
        ev = row["contract_series_code"]
        if ev not in structure:
            raise DataError(f"event {ev} is not in contract_series.csv")
        parse_time(row["timestamp"], "timestamp")
        yp = exact_decimal(row["yes_price"], "yes_price") if row.get("yes_price") else None
        ip = exact_decimal(row["implied_probability"], "implied_probability")
        vol = int(exact_decimal(row["volume"], "volume") * 100) if row.get("volume") else None
        strike = exact_decimal(row["strike"], "strike") if row.get("strike") else Decimal(0)
        return key, ev, strike, yp, ip, vol

    for line, item in _good_rows(rows, report, file, conv, strict, tick):
        if isinstance(item, str):  # "synthetic" or "duplicate"
            report.skip("synthetic aggregate row" if item == "synthetic"
                        else "exact duplicate (same ticker and timestamp)")
            continue
        key, ev, strike, yp, ip, vol = item
        seen_keys[key] = line
        groups[(ev, key[1])].append((strike, key[0], line, yp, ip, vol))
    points: list[tuple[str, int, int, int | None, str]] = []
    last_seen: dict[str, datetime] = {}
    final_ts: datetime | None = None
    for (ev, ts_text), items in groups.items():
        when = parse_time(ts_text)
        final_ts = when if final_ts is None or when > final_ts else final_ts
        items.sort(key=lambda x: x[0], reverse=True)
        running = Decimal(0)
        for _strike, ticker, line, yp, ip, vol in items:
            running += ip
            value = yp if yp is not None else (running if structure[ev] == "cum" else ip)
            if not (0 <= value <= 1):
                issue = Issue(file, line, f"derived last price {value} for {ticker} is outside "
                                          "[0, 1]")
                if strict:
                    raise UserInputError(str(issue))
                report.issues.append(issue)
                continue
            points.append((ticker, ts_ms(when), price_to_units(value), vol, "stephenforte"))
            if ticker not in last_seen or when > last_seen[ticker]:
                last_seen[ticker] = when
    return report, points, last_seen, final_ts

"""Generic file layouts for ``kalshibot data import`` (CSV, CSV.gz or parquet).

Column names are matched case-insensitively; extra columns are ignored; blank cells are empty.
Times are ISO-8601 (``2026-10-01T00:15:00Z``, an offset, or naive = UTC) or epoch seconds /
milliseconds (numbers above 10^11 are read as ms). Prices are dollars per YES contract as
decimals (``0.49``; at most 4 places); counts are contracts (at most 2 places); spot prices
are decimals in the quote currency.

``markets``  ticker*, close_time*, event_ticker, series_ticker, title, status, open_time,
             strike_type, floor_strike, cap_strike, result (yes|no|scalar|blank),
             settlement_value (dollars), mutually_exclusive (0/1, on the event), fee_type.
             Missing event/series tickers are derived from the ticker; status defaults to
             ``finalized`` when a result is given, else ``active``.
``quotes``   ts*, ticker*, yes_bid, yes_ask, yes_bid_size, yes_ask_size (blank = side empty or
             size unknown) -> ``book_snapshots``.
``trades``   ts*, ticker*, yes_price*, count*, taker_side* (yes|no), trade_id (derived
             deterministically when absent) -> ``trades``.
``spot``     ts*, symbol*, price*, source, open, high, low, volume -> ``spot_prices``
             (``--source``/``--symbol`` fill missing columns). For bars give ``ts`` = the
             bar's **end**, or ``open_time`` (the bar start) plus ``--bar-seconds``.
``prices``   ts*, ticker*, last_price*, volume -> ``price_points`` (last-traded-price history).

(* = required.) A layout is detected from the header when ``--layout`` is not given.

Sane ranges (a cell outside them makes its row a bad row, reported with its line): times in
[2000-01-01, 2100-01-01) UTC; numbers at most 40 characters (checked before they become
``Decimal``: ``1e999999999`` would otherwise take gigabytes when written out), spot prices,
volumes and strikes below 10^15 in magnitude, counts below 10^12 contracts; tickers, symbols
and other identifiers 1-128 printable ASCII characters (no spaces, control bytes or NUL); NaN
or infinite numbers (also parquet floats) are bad rows, never an empty cell. A file that cannot
be read to its end (invalid UTF-8, a truncated ``.gz``, a damaged parquet page) aborts with one
line naming the file and how far it got (exit 2); a CSV cell over 131,072 characters is a bad
row.
"""

from __future__ import annotations

import csv
import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from kalshibot.domain.fees import FeeType
from kalshibot.domain.market import Event, Market, MarketStatus, Result, Series, series_of
from kalshibot.domain.money import Price, parse_decimal
from kalshibot.domain.ticks import TickGrid
from kalshibot.errors import DataError, UserInputError
from kalshibot.store.units import count_to_units, price_to_units, ts_ms

Row = dict[str, str]

REQUIRED: dict[str, tuple[str, ...]] = {
    "markets": ("ticker", "close_time"),
    "quotes": ("ts", "ticker"),
    "trades": ("ts", "ticker", "yes_price", "count", "taker_side"),
    "spot": ("ts", "symbol", "price"),
    "prices": ("ts", "ticker", "last_price"),
}
LAYOUTS = tuple(REQUIRED)


@dataclass(frozen=True)
class Issue:
    """One bad input row: where it is and why it was not stored."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass
class ImportReport:
    """What one file (or dataset part) did: rows read, rows new per table, skips and issues."""

    name: str
    layout: str
    rows_read: int = 0
    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def add(self, table: str, n: int) -> None:
        self.written[table] = self.written.get(table, 0) + n

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


# --- reading -----------------------------------------------------------------------------
def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    """Header (lower-cased) and an iterator of (line number, row) with cell text as read.

    CSV line numbers count the header as line 1; parquet rows are numbered from 1.
    """
    if not path.exists():
        raise UserInputError(f"{path}: no such file")
    if not path.is_file():
        raise UserInputError(f"{path}: not a file")
    name = path.name.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        return _parquet(path)
    opener: Callable[..., Any] = gzip.open if name.endswith(".gz") else open
    try:
        fh = opener(path, "rt", newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise UserInputError(f"{path}: cannot open ({_why(exc)})") from exc
    reader = csv.reader(fh)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except _READ_ERRORS as exc:
        fh.close()
        raise UserInputError(f"{path}: cannot read as CSV ({_why(exc)})") from exc
    if not header:
        fh.close()
        raise UserInputError(f"{path}: empty file (no header line)")

    def gen() -> Iterator[tuple[int, Row]]:
        line = 1
        with fh:
            while True:
                line += 1
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:  # e.g. a field over the 131,072-character limit
                    yield line, {"__error__": f"unreadable CSV row ({exc})"}
                    continue
                except _READ_ERRORS as exc:  # cannot go on: bad encoding, truncated .gz
                    raise UserInputError(f"{path}: cannot read past line {line - 1} "
                                         f"({_why(exc)})") from exc
                if not cells or all(not c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    yield line, {"__error__": f"expected {len(header)} cells, got {len(cells)}"}
                    continue
                yield line, {h: c.strip() for h, c in zip(header, cells, strict=True)}

    return header, gen()


#: What reading a file to its end may raise when the file (not the code) is bad.
_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error)


def _why(exc: BaseException) -> str:
    """A short reason for an unreadable file."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text: {exc.reason}"
    if isinstance(exc, EOFError | zlib.error):
        return f"compressed data is truncated or damaged: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _parquet(path: Path) -> tuple[list[str], Iterator[tuple[int, Row]]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        header = [n.lower() for n in pf.schema_arrow.names]
    except Exception as exc:  # pyarrow raises its own types (ArrowInvalid, OSError, ...)
        raise UserInputError(f"{path}: cannot read as parquet ({exc})") from exc

    def gen() -> Iterator[tuple[int, Row]]:
        line = 0
        batches = pf.iter_batches(batch_size=50_000)
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            except Exception as exc:  # a damaged page or an unconvertible value
                raise UserInputError(f"{path}: cannot read parquet past row {line} "
                                     f"({type(exc).__name__}: {exc})") from exc
            for values in zip(*cols, strict=True):
                line += 1
                yield line, {h: _cell(v) for h, v in zip(header, values, strict=True)}

    return header, gen()


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=UTC)).isoformat()
    if isinstance(v, float):
        return repr(v)  # nan / inf stay visible: the row is then a bad row, not an empty cell
    return str(v)


def detect_layout(header: list[str]) -> str | None:
    cols = set(header)
    for layout in ("trades", "quotes", "prices", "markets", "spot"):
        if all(c in cols for c in REQUIRED[layout]):
            if layout == "quotes" and not ({"yes_bid", "yes_ask"} & cols):
                continue
            return layout
    return None


# --- cell parsers (raise DataError with a readable message) --------------------------------
MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)
MAX_NUMBER_CHARS = 40
MAX_MAGNITUDE = Decimal(10) ** 15  # spot prices, volumes, strikes
MAX_COUNT = Decimal(10) ** 12  # contracts
MAX_IDENT_CHARS = 128
_LOOSE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?")
_EPOCH_NUMBER = re.compile(r"\d{1,15}(?:\.\d{1,9})?")
_IDENT = re.compile(rf"[!-~]{{1,{MAX_IDENT_CHARS}}}")  # printable ASCII, no space
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ident(text: str, what: str = "ticker") -> str:
    """A ticker, symbol or code: 1-128 printable ASCII characters (no space, control or NUL)."""
    if not text:
        raise DataError(f"{what} is empty")
    if not _IDENT.fullmatch(text):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise DataError(f"{what} {shown!r} is not 1-{MAX_IDENT_CHARS} printable ASCII "
                        "characters")
    return text


def _short(text: str, what: str) -> str:
    """``text`` stripped, if short enough to be a number (checked before any parsing)."""
    t = text.strip()
    if len(t) > MAX_NUMBER_CHARS:
        raise DataError(f"{what}: a number of {len(t):,} characters (at most "
                        f"{MAX_NUMBER_CHARS})")
    return t


def _in_time_range(d: datetime, text: str, what: str) -> datetime:
    if not MIN_TIME <= d < MAX_TIME:
        raise DataError(f"{what} {text!r} is outside {MIN_TIME:%Y-%m-%d} .. "
                        f"{MAX_TIME:%Y-%m-%d}")
    return d


def parse_time(text: str, what: str = "time") -> datetime:
    """ISO-8601 (naive = UTC) or epoch seconds / milliseconds, within the sane range."""
    if not text:
        raise DataError(f"{what} is empty")
    t = text.strip()
    if len(t) > MAX_NUMBER_CHARS:
        raise DataError(f"{what}: cannot read a {len(t):,}-character value as a time")
    if _EPOCH_NUMBER.fullmatch(t):
        x = Decimal(t)
        secs = x / 1000 if x > 10**11 else x
        if secs >= int((MAX_TIME - _EPOCH).total_seconds()):
            raise DataError(f"{what} {text!r} is outside {MIN_TIME:%Y-%m-%d} .. "
                            f"{MAX_TIME:%Y-%m-%d}")
        return _in_time_range(_EPOCH + timedelta(seconds=float(secs)), text, what)
    try:
        d = datetime.fromisoformat(t.replace("Z", "+00:00").replace(" ", "T", 1))
        d = d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)
    except (ValueError, OverflowError):
        raise DataError(f"{what}: cannot read {text!r} as a time") from None
    return _in_time_range(d, text, what)


def loose_decimal(text: str, what: str) -> Decimal:
    """A decimal that may use exponent notation (``5.4e-05``): for spot prices and volumes,
    never for Kalshi money. At most 40 characters and below 10^15 in magnitude."""
    t = _short(text, what)
    if not _LOOSE.fullmatch(t):
        raise DataError(f"{what}: malformed number {text!r}")
    v = Decimal(t)  # the exponent has at most 3 digits: cheap, and bounded below
    if abs(v) >= MAX_MAGNITUDE:
        raise DataError(f"{what}: {text!r} is out of range (at most 10^15)")
    return v


def exact_decimal(text: str, what: str) -> Decimal:
    """An exact decimal (no exponent) of at most 40 characters, below 10^15 in magnitude."""
    v = parse_decimal(_short(text, what), what)
    if abs(v) >= MAX_MAGNITUDE:
        raise DataError(f"{what}: {text!r} is out of range (at most 10^15)")
    return v


def opt_dec(row: Row, col: str) -> Decimal | None:
    v = row.get(col, "")
    return None if v == "" else exact_decimal(v, col)


def price_units(text: str, what: str) -> int | None:
    if text == "":
        return None
    p = Price.from_dollars(_short(text, what), what)
    return price_to_units(p)


def count_units(text: str, what: str) -> int | None:
    if text == "":
        return None
    v = parse_decimal(_short(text, what), what)
    if v < 0:
        raise DataError(f"{what} {text} is negative")
    if v >= MAX_COUNT:
        raise DataError(f"{what} {text} is out of range (at most 10^12 contracts)")
    return count_to_units(v)


# --- row converters ------------------------------------------------------------------------
def market_from_row(row: Row, *, now: datetime) -> tuple[Market, Event]:
    ticker = ident(row["ticker"])
    event = ident(row.get("event_ticker") or ticker.rsplit("-", 1)[0], "event_ticker")
    series = ident(row.get("series_ticker") or series_of(ticker), "series_ticker")
    result_text = row.get("result", "").lower()
    try:
        result = Result(result_text)
    except ValueError:
        raise DataError(f"result {result_text!r} is not yes, no, scalar or blank") from None
    status_text = row.get("status", "") or ("finalized" if result_text else "active")
    try:
        status = MarketStatus(status_text)
    except ValueError:
        raise DataError(f"unknown status {status_text!r}") from None
    sv = row.get("settlement_value", "")
    settlement = Price.from_dollars(sv, "settlement_value") if sv else (
        Price(1) if result is Result.YES else Price(0) if result is Result.NO else None)
    fee = FeeType.parse(row["fee_type"]) if row.get("fee_type") else FeeType.QUADRATIC
    m = Market(
        ticker=ticker, event_ticker=event, series_ticker=series, title=row.get("title", ""),
        status=status,
        open_time=parse_time(row["open_time"], "open_time") if row.get("open_time") else None,
        close_time=parse_time(row["close_time"], "close_time"),
        tick_grid=TickGrid.linear_cent(), strike_type=row.get("strike_type") or None,
        floor_strike=opt_dec(row, "floor_strike"), cap_strike=opt_dec(row, "cap_strike"),
        result=result, settlement_value=settlement, fee_type=fee)
    me = row.get("mutually_exclusive", "").lower() in ("1", "true", "yes")
    return m, Event(event, series, "", me)


def quote_row(row: Row) -> tuple[str, int, int | None, int | None, int | None, int | None, None]:
    bid = price_units(row.get("yes_bid", ""), "yes_bid")
    ask = price_units(row.get("yes_ask", ""), "yes_ask")
    if bid is not None and ask is not None and bid > ask:
        raise DataError(f"yes_bid {row['yes_bid']} is above yes_ask {row['yes_ask']}")
    return (ident(row["ticker"]), ts_ms(parse_time(row["ts"], "ts")), bid,
            count_units(row.get("yes_bid_size", ""), "yes_bid_size"), ask,
            count_units(row.get("yes_ask_size", ""), "yes_ask_size"), None)


def trade_fields(row: Row) -> tuple[str, int, int, int, str]:
    side = row["taker_side"].lower()
    if side not in ("yes", "no"):
        raise DataError(f"taker_side {row['taker_side']!r} is not yes or no")
    price = price_units(row["yes_price"], "yes_price")
    count = count_units(row["count"], "count")
    if price is None or count is None:
        raise DataError("yes_price and count are required")
    return ident(row["ticker"]), ts_ms(parse_time(row["ts"], "ts")), price, count, side


def series_rows(markets: list[Market]) -> list[Series]:
    seen: dict[str, Series] = {}
    for m in markets:
        seen.setdefault(m.series_ticker, Series(m.series_ticker, "", m.fee_type))
    return list(seen.values())

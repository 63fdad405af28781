"""``data sync --spot``: reference (spot) history for the crypto series, into ``spot_prices``.

Per coin, the first source that answers is used and recorded in the row's ``source``:

1. ``cfbenchmarks``: the coin's CF Benchmarks index (what settles ``KX<COIN>15M``) through
   Kalshi's REST passthrough ``GET /cfbenchmarks/values?id=BRTI&startTime=&endTime=`` (epoch
   ms), which needs signed requests and an entitled account; the body is CF Benchmarks'
   ``{"payload": [{"value": "<decimal>", "time": <ms>}, ...]}`` in Kalshi's ``data`` envelope.
   Each value is stored at its own ``time``.
2. exchange 1-minute candles, in the order given (Coinbase, then Kraken, which only serves its
   last 720 minutes): close price stored at the bar's **end** (when it is known), with
   open/high/low/volume.

Resumable: each coin restarts after the newest row already stored for it from the source
used, in windows of ``WINDOW`` committed one at a time; a re-run of a finished sync sends
nothing for the stored span.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from kalshibot.clock import Clock, ensure_utc
from kalshibot.errors import DataError, KalshibotError
from kalshibot.feeds.index import index_for_symbol
from kalshibot.feeds.types import SpotCandle
from kalshibot.kalshi.http import HttpClient
from kalshibot.store.connection import atomic
from kalshibot.store.spot import SpotPrice, upsert_spot
from kalshibot.store.units import ms_ts, ts_ms

CF_SOURCE = "cfbenchmarks"
WINDOW = timedelta(days=1)


@dataclass
class SpotSyncReport:
    """Rows added and the source used per coin; ``notes``: sources that did not answer."""

    added: dict[str, int] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    windows: int = 0  # day windows fetched (each one or more HTTP requests)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"added": self.added, "source": self.source, "windows": self.windows,
                "notes": self.notes}


def parse_cf_values(symbol: str, body: Any) -> list[SpotPrice]:
    """CF Benchmarks ``values`` in Kalshi's ``data`` envelope -> spot rows (exact decimals)."""
    data = body.get("data") if isinstance(body, dict) else None
    payload = data.get("payload") if isinstance(data, dict) else None
    if not isinstance(payload, list):
        raise DataError(f"{CF_SOURCE}: {symbol} values: expected data.payload to be a list")
    out = []
    for i, row in enumerate(payload):
        if not isinstance(row, dict) or "value" not in row or "time" not in row:
            raise DataError(f"{CF_SOURCE}: {symbol} values[{i}]: needs value and time")
        t = row["time"]
        if isinstance(t, bool) or not isinstance(t, int):
            raise DataError(f"{CF_SOURCE}: {symbol} values[{i}]: bad time {t!r}")
        try:
            price = Decimal(str(row["value"]))
        except InvalidOperation as exc:
            raise DataError(f"{CF_SOURCE}: {symbol} values[{i}]: bad value") from exc
        if not price.is_finite() or price <= 0:
            raise DataError(f"{CF_SOURCE}: {symbol} values[{i}]: value must be positive")
        out.append(SpotPrice(CF_SOURCE, symbol, ms_ts(t), price))
    return out


def candle_rows(candles: Sequence[SpotCandle]) -> list[SpotPrice]:
    """Exchange candles -> spot rows stamped at each bar's end (close price)."""
    return [SpotPrice(c.source, c.symbol, c.start + timedelta(seconds=c.interval_s), c.close,
                      c.open, c.high, c.low, c.volume) for c in candles]


class _Cf:
    """The CF Benchmarks passthrough as a source with ``fetch`` over ``[start, end)``."""

    name = CF_SOURCE
    step = timedelta(seconds=1)  # the index ticks about once a second

    def __init__(self, http: HttpClient) -> None:
        self.http = http

    def fetch(self, symbol: str, start: datetime, end: datetime) -> list[SpotPrice]:
        body = self.http.get("/cfbenchmarks/values", {
            "id": index_for_symbol(symbol), "startTime": ts_ms(start),
            "endTime": ts_ms(end) - 1}, auth=True)
        return [r for r in parse_cf_values(symbol, body) if start <= r.ts < end]


class _Exchange:
    """An exchange spot source (``fetch_candles``) as bar-end spot rows."""

    step = timedelta(minutes=1)

    def __init__(self, source: Any) -> None:
        self.source = source
        self.name = str(source.name)

    def fetch(self, symbol: str, start: datetime, end: datetime) -> list[SpotPrice]:
        # rows are stamped at the bar's end: bars starting in [start - 1 min, end - 1 min)
        return candle_rows(self.source.fetch_candles(symbol, start - timedelta(minutes=1),
                                                     end - timedelta(minutes=1)))


def _last(conn: sqlite3.Connection, symbol: str, source: str) -> datetime | None:
    row = conn.execute("SELECT max(ts) FROM spot_prices WHERE symbol = ? AND source = ?",
                       (symbol, source)).fetchone()
    return None if row[0] is None else ms_ts(row[0])


def sync_spot(conn: sqlite3.Connection, symbols: Sequence[str], since: datetime,
              until: datetime, *, clock: Clock, kalshi: HttpClient | None = None,
              exchanges: Sequence[Any] = (), report: SpotSyncReport | None = None
              ) -> SpotSyncReport:
    """Store spot history of ``symbols`` over ``[since, until)`` (capped at the clock's now):
    CF Benchmarks through ``kalshi`` when it signs requests, else ``exchanges`` in order."""
    report = report if report is not None else SpotSyncReport()
    since, until = ensure_utc(since), min(ensure_utc(until), ensure_utc(clock.now()))
    sources: list[Any] = []
    if kalshi is not None and kalshi.authenticated:
        sources.append(_Cf(kalshi))
    sources += [_Exchange(s) for s in exchanges]
    for symbol in symbols:
        report.added.setdefault(symbol, 0)
        for src in sources:
            try:
                report.added[symbol] += _sync_one(conn, src, symbol, since, until, report)
            except KalshibotError as exc:
                report.notes.append(f"{symbol}: {src.name} unavailable ({exc}); trying the next "
                                    "source")
                continue
            report.source[symbol] = src.name
            break
        else:
            report.notes.append(f"{symbol}: no spot source answered")
    return report


def _sync_one(conn: sqlite3.Connection, src: Any, symbol: str, since: datetime,
              until: datetime, report: SpotSyncReport) -> int:
    last = _last(conn, symbol, src.name)
    start = since if last is None or last < since else last + timedelta(milliseconds=1)
    if last is not None and last + src.step >= until:
        return 0  # the next row would not fall in the window yet: nothing to ask
    added = 0
    while start < until:
        end = min(until, start + WINDOW)
        rows = src.fetch(symbol, start, end)
        report.windows += 1
        with atomic(conn):
            added += upsert_spot(conn, rows)
        start = end
    return added

"""``kalshibot data record --ws``: record the WebSocket stream into the store.

Every ``flush_interval_s`` seconds, in **one** ``atomic()`` transaction: the books that changed
since the last flush (exact state at that moment, stamped with the clock time of their last
change, full depth by default; ``store.books.save_books``), the public trades seen
(``store.trades``, de-duplicated by ``trade_id``) and the CF Benchmarks index ticks
(``store.spot`` rows with source ``cfbenchmarks``, symbol ``BTC``/``ETH``/... and the exact
index value). Every ``refresh_markets_s`` seconds the open markets of ``series`` (and the
explicit ``tickers``) are listed over REST, upserted, and added to the stream.

Durations are seconds. The clock is injected; ``stop`` (``ingest.record.StopFlag``) ends the
loop after the current flush.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from kalshibot.clock import Clock
from kalshibot.domain.orders import Trade
from kalshibot.errors import KalshibotError, UserInputError
from kalshibot.exchange import MarketData
from kalshibot.store.books import save_books
from kalshibot.store.connection import atomic
from kalshibot.store.markets import upsert_markets
from kalshibot.store.spot import SpotPrice, upsert_spot
from kalshibot.store.trades import upsert_trades
from kalshibot.ws.channels import INDEX_FOR_SYMBOL, CfValue
from kalshibot.ws.feed import WsFeed

log = logging.getLogger(__name__)
SYMBOL_FOR_INDEX = {v: k for k, v in INDEX_FOR_SYMBOL.items()}
SOURCE = "cfbenchmarks"


class StopLike(Protocol):
    @property
    def is_set(self) -> bool: ...

    @property
    def reason(self) -> str | None: ...


@dataclass(frozen=True)
class WsRecordOptions:
    series: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()
    flush_interval_s: float = 1.0
    duration_s: float | None = None
    max_flushes: int | None = None
    refresh_markets_s: float = 60.0
    depth: bool = True
    trades: bool = True
    indices: tuple[str, ...] = ()  # index ids or coin symbols

    def validate(self) -> None:
        if not (self.series or self.tickers):
            raise UserInputError("nothing to record: give --series or --tickers")
        if self.flush_interval_s <= 0:
            raise UserInputError("--interval must be > 0 seconds")
        if self.duration_s is not None and self.duration_s <= 0:
            raise UserInputError("--duration must be > 0 seconds")


@dataclass
class WsRecordReport:
    started: datetime | None = None
    ended: datetime | None = None
    flushes: int = 0
    book_rows: int = 0
    trade_rows: int = 0
    spot_rows: int = 0
    market_rows: int = 0
    tickers: int = 0
    reconnects: int = 0
    gaps: int = 0
    stopped: str = ""
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"started": self.started.isoformat() if self.started else None,
                "ended": self.ended.isoformat() if self.ended else None,
                "flushes": self.flushes, "book_rows": self.book_rows,
                "trade_rows": self.trade_rows, "spot_rows": self.spot_rows,
                "market_rows": self.market_rows, "tickers": self.tickers,
                "reconnects": self.reconnects, "gaps": self.gaps, "stopped": self.stopped,
                "errors": self.errors[-20:]}


class _Buffer:
    """Collects changes from the socket thread between flushes."""

    def __init__(self, feed: WsFeed, trades: bool) -> None:
        self.lock = threading.Lock()
        self.changed: set[str] = set()
        self.trades: list[Trade] = []
        self.cf: list[CfValue] = []
        feed.on_book_change.append(self._book)
        if trades:
            feed.on_trade.append(self._trade)
        feed.on_cf.append(self._cf)

    def _book(self, ticker: str) -> None:
        with self.lock:
            self.changed.add(ticker)

    def _trade(self, t: Trade) -> None:
        with self.lock:
            self.trades.append(t)

    def _cf(self, v: CfValue) -> None:
        with self.lock:
            self.cf.append(v)

    def take(self) -> tuple[set[str], list[Trade], list[CfValue]]:
        with self.lock:
            out = (self.changed, self.trades, self.cf)
            self.changed, self.trades, self.cf = set(), [], []
        return out


def cf_rows(values: list[CfValue]) -> list[SpotPrice]:
    return [SpotPrice(SOURCE, SYMBOL_FOR_INDEX.get(v.index_id, v.index_id), v.ts, v.value)
            for v in values if v.value is not None and v.ts is not None]


def run_ws_record(feed: WsFeed, rest: MarketData | None, conn: sqlite3.Connection,
                  opts: WsRecordOptions, *, clock: Clock, stop: StopLike | None = None,
                  report: WsRecordReport | None = None) -> WsRecordReport:
    """Stream and flush until ``duration_s`` / ``max_flushes`` / ``stop``; see module doc."""
    opts.validate()
    report = report if report is not None else WsRecordReport()
    buf = _Buffer(feed, opts.trades)
    if opts.indices:
        feed.watch_indices(INDEX_FOR_SYMBOL.get(i.upper(), i) for i in opts.indices)
    feed.watch(opts.tickers)
    report.started = clock.now()
    deadline = (report.started + timedelta(seconds=opts.duration_s)
                if opts.duration_s is not None else None)
    next_refresh: datetime | None = None
    feed.start()
    try:
        while True:
            now = clock.now()
            if rest is not None and (next_refresh is None or now >= next_refresh):
                next_refresh = now + timedelta(seconds=opts.refresh_markets_s)
                try:
                    found = rest.get_markets(series=opts.series, tickers=opts.tickers,
                                             status="open")
                    with atomic(conn):
                        report.market_rows += upsert_markets(conn, found, now=now,
                                                             source="kalshi-ws")
                    feed.watch(m.ticker for m in found if m.close_time > now)
                except KalshibotError as exc:
                    report.errors.append(f"market refresh: {exc}")
            clock.sleep(opts.flush_interval_s)
            _flush(feed, buf, conn, opts, report)
            if stop is not None and stop.is_set:
                report.stopped = stop.reason or "stopped"
                break
            if opts.max_flushes is not None and report.flushes >= opts.max_flushes:
                report.stopped = f"max flushes ({opts.max_flushes}) reached"
                break
            if deadline is not None and clock.now() >= deadline:
                report.stopped = "duration reached"
                break
    finally:
        feed.stop()
        report.ended = clock.now()
        report.reconnects = feed.client.reconnects
        report.gaps = feed.books.gaps
    return report


def _flush(feed: WsFeed, buf: _Buffer, conn: sqlite3.Connection, opts: WsRecordOptions,
           report: WsRecordReport) -> None:
    changed, trades, cf = buf.take()
    books = [b for t in sorted(changed) if (b := feed.books.book(t)) is not None
             and b.ts is not None]
    try:
        with atomic(conn):
            report.book_rows += save_books(conn, books, depth=opts.depth)
            report.trade_rows += upsert_trades(conn, trades)
            report.spot_rows += upsert_spot(conn, cf_rows(cf))
    except KalshibotError as exc:
        report.errors.append(f"flush: {exc}")
        log.warning("ws record flush failed: %s", exc)
    report.flushes += 1
    report.tickers = len(feed.watched())


def record_ws_command(settings: Any, clock: Clock, db_path: Any, *, series: tuple[str, ...],
                      tickers: tuple[str, ...], interval_s: float, duration_s: float | None,
                      max_flushes: int | None, refresh_s: float, depth: bool,
                      symbols: tuple[str, ...], as_json: bool) -> WsRecordReport:
    """The ``data record --ws`` command body: settings -> signer, REST (market lists) and the
    socket; SIGINT/SIGTERM stop after the current flush; prints the summary."""
    from kalshibot.cli.render import print_json, print_table
    from kalshibot.errors import ConfigError
    from kalshibot.ingest.record import StopFlag, install_signal_handlers
    from kalshibot.kalshi.auth import Signer
    from kalshibot.kalshi.exchange import KalshiExchange
    from kalshibot.store.connection import connect
    from kalshibot.ws.marketdata import ws_url

    opts = WsRecordOptions(series=series, tickers=tickers, flush_interval_s=interval_s,
                           duration_s=duration_s, max_flushes=max_flushes,
                           refresh_markets_s=refresh_s, depth=depth, indices=symbols)
    opts.validate()
    signer = Signer.from_settings(settings, clock)
    if signer is None:
        raise ConfigError("--ws needs API keys (the WebSocket handshake is signed)",
                          hint="set KALSHIBOT_API_KEY_ID and KALSHIBOT_PRIVATE_KEY_PATH, or "
                               "record by polling without --ws")
    rest = KalshiExchange.from_settings(settings, clock, public_only=True)
    feed = WsFeed(ws_url(settings), signer, clock, trades=True)
    conn = connect(db_path)
    stop = StopFlag()
    restore = install_signal_handlers(stop)
    report = WsRecordReport()
    try:
        run_ws_record(feed, rest, conn, opts, clock=clock, stop=stop, report=report)
    except KeyboardInterrupt:
        report.stopped = "interrupted twice (Ctrl-C); the last flush was not stored"
    finally:
        restore()
        feed.stop()
        conn.close()
    if as_json:
        print_json(report.to_json())
    else:
        print_table(f"websocket record summary: {report.flushes:,} flush(es)", ["what", "count"],
                    [("book snapshots", f"{report.book_rows:,}"),
                     ("trades", f"{report.trade_rows:,}"),
                     ("CF Benchmarks ticks", f"{report.spot_rows:,}"),
                     ("market rows written", f"{report.market_rows:,}"),
                     ("markets streamed", f"{report.tickers:,}"),
                     ("reconnects", f"{report.reconnects:,}"),
                     ("seq gaps resynced", f"{report.gaps:,}"),
                     ("stopped", report.stopped)])
    return report
